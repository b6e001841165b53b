"""`<data>/logs/routing.log`, in the original's line shape, and its rendering for getRoutingLog.php.

Lines are `YYYY-MM-DD HH:MM:SS,mmm <message>` (Python logging's time format, as the original).
getRoutingLog.php shows the `CALLED routing with` lines (timestamp + what follows the marker)
and the `ROUTE:` lines (timestamp + what follows the first `--`), newest first; we also write
`DELIVERY:` lines for outcomes of sends, rendered the same way as ROUTE lines.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Final

CALLED = "CALLED routing with"
ROUTE = "ROUTE:"
DELIVERY = "DELIVERY:"
MAX_LINES = 10_000  # getRoutingLog.php renders at most this many (newest) lines
MAX_BYTES = 20 << 20  # then routing.log becomes routing.log.1 (one old file kept)

_lock = threading.Lock()


def _stamp(now: float | None = None) -> str:
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"


def _clean(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def write(path: Path, message: str) -> None:
    """Append one line. A single O_APPEND write, so lines from several processes never interleave."""
    line = f"{_stamp()} {_clean(message)}\n".encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        _rotate(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _rotate(path: Path) -> None:
    """Keep one previous file: the original never rotated and its log grew without bound."""
    try:
        if path.stat().st_size > MAX_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass


def render(path: Path) -> list[str]:
    """The getRoutingLog.php view: newest first, one string per CALLED / ROUTE / DELIVERY line."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            lines = deque(handle, maxlen=MAX_LINES * 4)
    except FileNotFoundError:
        return []
    shown: list[str] = []
    for line in reversed(lines):
        line = line.rstrip("\n")
        stamp = line.split(",", 1)[0]
        if CALLED in line:
            shown.append(stamp + line.split(CALLED, 1)[1])
        elif ROUTE in line or DELIVERY in line:
            shown.append(stamp + (line.split("--", 1)[1] if "--" in line else ""))
        if len(shown) >= MAX_LINES:
            break
    return shown


class RoutingLog:
    """The box's routing.log (`Store.routelog`): where the router and the API write and read it."""

    # The markers getRoutingLog.php looks for, for writers outside the store (the router).
    CALLED: Final = CALLED
    ROUTE: Final = ROUTE
    DELIVERY: Final = DELIVERY

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, message: str) -> None:
        """Append one line (see `write`)."""
        write(self.path, message)

    def render(self) -> list[str]:
        """The getRoutingLog.php view (see `render`)."""
        return render(self.path)
