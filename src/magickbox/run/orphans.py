"""After a crash: find and stop bucket processes a dead box left running.

A bucket runs in its own session, so a `kill -9` of the box leaves it alive, still writing into
the session's OUTPUT. Before the job runs again, every process whose environment carries that
session's MB_SCRATCHDIR is killed (Linux /proc; elsewhere this finds nothing).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path

PROC = Path("/proc")


def owner_id(token: str) -> str:
    """A lease owner: host, pid and a random token (two schedulers never share one)."""
    return f"{socket.gethostname()}:{os.getpid()}:{token}"


def owner_is_gone(owner: str) -> bool:
    """True when the owner ran on this host in a process that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's lease: only its expiry tells
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def processes_of_session(scratchdir: Path) -> list[int]:
    marker = f"MB_SCRATCHDIR={scratchdir.resolve()}".encode()
    found = []
    for entry in PROC.iterdir() if PROC.is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_session_processes(scratchdir: Path) -> list[int]:
    """SIGKILL every process (and its group) left running for this session. Returns the pids."""
    pids = processes_of_session(scratchdir)
    for pid in pids:
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)
    return pids
