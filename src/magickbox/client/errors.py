"""Errors of the `mb` client; `cli/mb.py` turns each into a message on stderr and an exit code."""

from __future__ import annotations

# Exit codes, documented in docs/mb.md.
EXIT_OK = 0
EXIT_FAILED = 1  # the operation ran and something in it failed (a session failed, a download broke)
EXIT_USAGE = 2  # bad arguments or config files; nothing was done
EXIT_UNREACHABLE = 3  # some box did not answer; the answers of the others were printed


class MbError(Exception):
    """A failure the user must read: printed as `mb: error: <message>`."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class UsageError(MbError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


class BoxError(MbError):
    """One box failed to answer a request; names the box."""

    def __init__(self, machine: str, message: str) -> None:
        super().__init__(f"{machine}: {message}")
        self.machine = machine
        self.reason = message


class Unreachable(BoxError):
    """The box could not be connected to: nothing was sent, another box may take the work."""
