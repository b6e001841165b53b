"""`mb remove`: delete matching sessions, after a confirmation when more than one matches.

The original deleted whatever matched, so `mb remove .` wiped every session on every box. Here,
more than one match needs a "yes" typed on a terminal, or `--yes`; without a terminal to ask,
nothing is deleted.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

from magickbox.client.context import Context, Found
from magickbox.client.counting import counted
from magickbox.client.errors import EXIT_FAILED, BoxError, UsageError
from magickbox.client.output import print_json, warn


def _confirm(found: list[Found], everything: bool, pattern: str) -> bool:
    per_box = Counter(item.client.label for item in found)
    boxes = ", ".join(f"{count} on {label}" for label, count in per_box.items())
    scope = " That is EVERY session on every active box." if everything else ""
    sys.stderr.write(f"{len(found)} sessions match {pattern!r} ({boxes}).{scope}\nRemove them? Type yes: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() == "yes"


def remove(context: Context, regex: re.Pattern[str], assume_yes: bool) -> int:
    clients = context.clients()
    listed = context.list_sessions(clients)
    found = [item for item in listed if item.scratchdir and item.matches(regex)]
    if context.unreachable and not assume_yes and len(found) > 1:
        warn("some boxes did not answer; only the sessions of the others are removed")
    if len(found) > 1 and not assume_yes:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise UsageError(
                f"{len(found)} sessions match {regex.pattern!r}; removing more than one needs --yes"
                " (there is no terminal to ask). See them first with 'mb list'."
            )
        if not _confirm(found, len(found) == len(listed), regex.pattern):
            warn("nothing removed")
            return EXIT_FAILED
    removed, failures = [], 0
    with counted("remove", len(found)) as progress:
        for item in found:
            try:
                item.client.delete(item.scratchdir)
                removed.append(item.entry)
            except BoxError as exc:
                failures += 1
                warn(str(exc))
            progress.step()
    print_json(removed or None)
    if failures:
        return EXIT_FAILED
    return context.exit_code
