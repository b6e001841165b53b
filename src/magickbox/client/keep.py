"""`mb keep <regex>` / `mb unkeep <regex>`: keep or release every matching session on every box.

Sessions are selected as `mb remove` selects them (the regex against every string field). Keeping
is harmless and undoable, so no confirmation is asked; the kept (or released) sessions are printed.
"""

from __future__ import annotations

import re

from magickbox.client.context import Context
from magickbox.client.errors import EXIT_FAILED, BoxError
from magickbox.client.output import print_json, warn


def keep(context: Context, regex: re.Pattern[str], kept: bool) -> int:
    clients = context.clients()
    found = [item for item in context.list_sessions(clients) if item.scratchdir and item.matches(regex)]
    done, failures = [], 0
    for item in found:
        try:
            item.client.keep(item.scratchdir, kept)
        except BoxError as exc:
            failures += 1
            warn(str(exc))
            continue
        done.append({**item.entry, "kept": kept})
    print_json(done or None)
    return EXIT_FAILED if failures else context.exit_code
