"""The notifier: plans each new outbox event into sends to the webhooks that want it, and posts them.

One thread does both; a receiver that does not answer holds it for at most `notify_timeout_s`.
State lives in the store, so a restarted box sends what was not yet acknowledged (at least once;
receivers de-duplicate on `event_id`).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import httpx

from magickbox import __version__
from magickbox.config import TEST_EVENT, Settings, Webhook
from magickbox.loop import Backoff, Loop
from magickbox.models.notifications import NotificationsInvalid, all_webhooks
from magickbox.models.webhooks import TargetRefused, Unresolved, masked_url, resolve
from magickbox.notify.needs import NotifierStore
from magickbox.notify.signing import HEADER, signature
from magickbox.store import Event, NewEvent, Send, iso, public_fields

log = logging.getLogger(__name__)


def wants(hook: Webhook, event: Event) -> bool:
    """Whether `hook` is sent `event`: a test goes to its target (or all); others by name and filters."""
    if event.event == TEST_EVENT:
        return event.only_url is None or event.only_url == hook.url
    if event.event not in hook.events:
        return False
    if hook.buckets and event.bucket not in hook.buckets:
        return False
    return not hook.callers or event.caller in hook.callers


class Notifier:
    """The work of the stage, callable without threads (tests and the stage loop use it)."""

    def __init__(self, settings: Settings, store: NotifierStore) -> None:
        self.settings = settings
        self.outbox = store.notifications
        self.client = httpx.Client(
            timeout=settings.notify_timeout_s,
            headers={"User-Agent": f"MagickBox/{__version__}"},
            follow_redirects=False,
        )
        self._hooks: list[Webhook] = list(settings.notifications)
        self.backoff = Backoff(settings.notify_retry_initial_s, settings.notify_retry_max_s)
        self._last_invalid = ""

    def hooks(self) -> list[Webhook]:
        """The configured webhooks that may be sent to (an invalid entry is skipped, its reason
        logged once); while notifications.json is not a JSON list, the last good list."""
        try:
            self._hooks, problems = all_webhooks(self.settings)
        except NotificationsInvalid as exc:
            problems = [f"notifications.json is invalid, the last good webhooks are used: {exc}"]
        if "; ".join(problems) != self._last_invalid:
            self._last_invalid = "; ".join(problems)
            for problem in problems:
                log.error("webhook skipped: %s", problem)
        return self._hooks

    def body(self, event: Event) -> dict[str, Any]:
        body: dict[str, Any] = {"event": event.event, "event_id": event.event_id, "time": iso(event.at)}
        session = self.outbox.session(event.session_id) if event.session_id is not None else None
        if session is not None:
            body.update(public_fields(session))
        elif event.scratchdir is not None:
            body.update(scratchdir=event.scratchdir, bucket=event.bucket, caller=event.caller)
        if event.event.startswith("session."):
            body["status"] = event.event.removeprefix("session.")  # the state that caused it
        if event.session_id is None and event.caller is not None:
            body["caller"] = event.caller
        if event.session_id is None and event.bucket is not None:
            body["bucket"] = event.bucket
        body.update(event.detail)
        body["box"] = self.settings.ae_title
        return body

    def implied(self, event: Event) -> list[NewEvent]:
        """bucket.failing when this failure makes `notify_failing_after` in a row; batch.finished."""
        found: list[NewEvent] = []
        if event.event == "session.failed" and event.bucket:
            streak = self.outbox.failing_streak(event.bucket, event.at)
            if streak == self.settings.notify_failing_after:
                found.append(NewEvent("bucket.failing", event.bucket, None, {"failures_in_a_row": streak}))
        if event.event.startswith("session.") and event.caller is not None:
            summary = self.outbox.batch_summary(event)
            if summary is not None:
                found.append(NewEvent("batch.finished", None, event.caller, summary))
        return found

    def plan_new(self) -> int:
        """Plan every unplanned event. Returns how many."""
        events = self.outbox.unplanned()
        hooks = self.hooks() if events else []
        for event in events:
            try:
                targets = [hook for hook in hooks if wants(hook, event)]
                text = json.dumps(self.body(event), separators=(",", ":")) if targets else ""
                sends = list(dict.fromkeys((hook.url, text) for hook in targets))
                implied = self.implied(event)
            except Exception:  # a poison pill is planned to nobody; the events after it go on
                log.exception("notification event %s (%s) cannot be planned", event.event_id, event.event)
                sends, implied = [], []
            self.outbox.plan(event, sends, implied, give_up_s=self.settings.notify_give_up_s)
        return len(events)

    def send_due(self) -> int:
        """Post every due send once. Returns how many were tried."""
        sends = self.outbox.claim_due(lease_s=self.settings.notify_timeout_s * 3 + 30)
        if not sends:
            return 0
        by_url = {hook.url: hook for hook in reversed(self.hooks())}  # the first entry of a URL wins
        for send in sends:
            hook = by_url.get(send.url)
            if hook is None:
                self.outbox.drop(send, "the webhook was removed from the configuration (or is invalid)")
                continue
            try:
                self._post(hook, send)
            except Exception as exc:  # a poison pill fails alone; the other sends go on
                log.exception("notification to %s failed for good", masked_url(send.url))
                self.outbox.finish(send, None, f"{type(exc).__name__}: {exc}"[:500], retry_in=math.inf)
        return len(sends)

    def _post(self, hook: Webhook, send: Send) -> None:
        data = send.body.encode()
        head = json.loads(send.body)
        headers = {
            "Content-Type": "application/json",
            "X-MagickBox-Event": head["event"],
            "X-MagickBox-Event-Id": head["event_id"],
        }
        if hook.secret:
            headers[HEADER] = signature(hook.secret, data)
        status: int | None = None
        error = ""
        delay = self.backoff.delay(send.attempts + 1)  # `attempts` counts the tries before this one
        try:
            # Connect to the address checked now, not to what the name resolves to next (rebinding).
            target = resolve(hook.url, self.settings.webhook_allow_networks)
            headers["Host"] = target.host_header
            answer = self.client.post(
                target.url, content=data, headers=headers, extensions=target.extensions()
            )
            status = answer.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except TargetRefused as exc:
            error, delay = f"refused: {exc}", math.inf  # the rule will not change by itself: no retry
        except (httpx.HTTPError, Unresolved) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        state = self.outbox.finish(send, status, error, retry_in=delay)
        shown = masked_url(hook.url)  # never log a URL's password or api_key
        if state == "failed":
            log.error("notification %s to %s given up: %s", head["event"], shown, error)
        elif error:
            log.warning(
                "notification %s to %s failed (%s), next try in %.0f s", head["event"], shown, error, delay
            )

    def step(self) -> int:
        return self.plan_new() + self.send_due()


class NotifyStage:
    """`notify`: one thread running Notifier.step until stopped."""

    name = "notify"

    def __init__(self, settings: Settings, store: NotifierStore) -> None:
        self.settings = settings
        self.notifier = Notifier(settings, store)
        self.outbox = store.notifications
        self._loop = Loop("notify", self._step, interval_s=settings.notify_poll_s, scope=store.connection)

    def start(self) -> None:
        released = self.outbox.release_claims()
        if released:
            log.info("%d notification(s) interrupted by the last stop are due again", released)
        self._loop.start()

    def _step(self) -> float | None:
        """One round of Notifier.step; while it finds work, the next round follows at once."""
        return 0.0 if self.notifier.step() else None

    def stop(self) -> None:
        # A post still running when the join gives up stays claimed: the next start sends it again.
        self._loop.stop()
        self.notifier.client.close()


def create_stage(settings: Settings, store: NotifierStore) -> NotifyStage:
    """The STAGES factory of `magickbox serve`."""
    return NotifyStage(settings, store)
