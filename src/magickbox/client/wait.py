"""`mb wait <regex>`: block until every matching session has ended; non-zero if any did not finish.

The missing piece of the original for batch scripts: push, `mb wait`, pull. Sessions that start
to match while waiting (a later push) are waited for too. A box that stops answering is named once
and asked again at the next round; `--timeout` bounds the whole wait.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from rich.console import Console

from magickbox.client.boxes import BoxClient, fan_out
from magickbox.client.context import Context, Found, with_machine
from magickbox.client.errors import EXIT_FAILED, EXIT_OK, MbError
from magickbox.client.output import info, print_json, warn

SUCCESS = "finished"
UNSUCCESSFUL = ("failed", "cancelled", "incomplete", "gone")
ENDED = (SUCCESS, *UNSUCCESSFUL)
QUIET_S = 30  # an original box has no status: its log unchanged this long means "done"


def state_of(entry: dict[str, Any]) -> str:
    """The session's state: our boxes say it (`status`); for an original box it is inferred."""
    status = entry.get("status")
    if isinstance(status, str) and status:
        return status
    spent = entry.get("processingTime")
    if isinstance(spent, str):  # our contract: "0" until processing has ended
        return SUCCESS if spent != "0" else "queued"
    last = entry.get("processingLast")
    if isinstance(spent, int | float) and isinstance(last, int | float):
        return SUCCESS if last >= QUIET_S else "running"
    return "queued"


class Waiter:
    def __init__(self, context: Context, regex: re.Pattern[str]) -> None:
        self.context = context
        self.regex = regex
        self.clients = context.clients()
        self.sessions: dict[tuple[str, str], dict[str, Any]] = {}
        self.silent: set[str] = set()

    def poll(self) -> None:
        deadline = self.context.timeout_s * 11
        answers = fan_out(self.clients, lambda client: client.scratch(), deadline)
        for answer in answers:
            label = answer.client.label
            if answer.error is not None:
                if label not in self.silent:
                    warn(f"{answer.error} (asking again)")
                self.silent.add(label)
                continue
            if label in self.silent:
                info(f"{label} answers again")
                self.silent.discard(label)
            self._update(answer.client, answer.value or [])

    def _update(self, client: BoxClient, entries: list[dict[str, Any]]) -> None:
        present = set()
        for entry in entries:
            item = Found(with_machine(entry, client.machine), client)
            key = (client.label, item.scratchdir)
            if key in self.sessions or item.matches(self.regex):
                self.sessions[key] = item.entry
                present.add(key)
        for key, entry in self.sessions.items():
            if key[0] == client.label and key not in present and state_of(entry) not in ENDED:
                entry["status"] = "gone"  # deleted while we waited: its result will not come

    def counts(self) -> Counter[str]:
        return Counter(state_of(entry) for entry in self.sessions.values())

    def done(self) -> bool:
        return bool(self.sessions) and all(state_of(e) in ENDED for e in self.sessions.values())


def _summary(counts: Counter[str]) -> str:
    ended = sum(counts[s] for s in ENDED)
    parts = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    return f"{ended} of {sum(counts.values())} sessions ended ({parts})"


def wait(context: Context, regex: re.Pattern[str], interval: float, timeout: float | None) -> int:
    waiter = Waiter(context, regex)
    waiter.poll()
    if not waiter.sessions:
        raise MbError(f"no session matches {regex.pattern!r}; nothing to wait for")
    end = None if timeout is None else time.monotonic() + timeout
    terminal = sys.stderr.isatty()
    status: AbstractContextManager[Any] = (
        Console(stderr=True).status(_summary(waiter.counts())) if terminal else nullcontext()
    )
    shown = ""
    with status as spinner:
        while True:
            line = _summary(waiter.counts())
            if spinner is not None:
                spinner.update(line)
            elif line != shown:
                info(line)
            shown = line
            if waiter.done():
                break
            if end is not None and time.monotonic() >= end:
                raise MbError(f"gave up after {timeout:g}s: {line}")
            time.sleep(interval)
            waiter.poll()
    if terminal:
        info(shown)
    entries = list(waiter.sessions.values())
    print_json(entries)
    bad = [e for e in entries if state_of(e) in UNSUCCESSFUL]
    for entry in bad:
        warn(f"{entry.get('scratchdir')} on {entry['Machine']}:{entry['Port']} is {state_of(entry)}")
    return EXIT_FAILED if bad else EXIT_OK
