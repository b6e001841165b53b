"""The order of P-DATA fragments (PS3.7 6.3.1, PS3.8 9.3.5): checked for every message.

A message is its command fragments (command bit set, the last one flagged), then, when the
command says so, its data set fragments (command bit clear, the last one flagged), all on one
presentation context. Anything else (data before a command, a command inside a data set, a
context switch, a missing last-fragment flag seen as one of those) is a protocol violation and
the association is aborted, so a cut data set can never pass for a whole one.
"""

from __future__ import annotations

from magickbox.dicom import command

MAX_COMMAND = 64 << 10  # a command set is a few hundred bytes

IDLE, COMMAND, DATA = "idle", "command", "data"


class FragmentOrder:
    """Feed each fragment's context id and bytes (with its header byte); `check` says what is wrong."""

    def __init__(self) -> None:
        self.phase = IDLE
        self.context_id = 0
        self._command = bytearray()
        self.command_values: dict[int, bytes] = {}  # the last complete command set, parsed

    def check(self, context_id: int, data: bytes | memoryview) -> str | None:
        """None when the fragment fits the message order, else the violation in words."""
        if not data:
            return "an empty presentation data value"
        is_command, last = bool(data[0] & 1), bool(data[0] & 2)
        if self.phase == DATA:
            return self._data(context_id, is_command=is_command, last=last)
        if not is_command:
            if self.phase == IDLE:
                return "a data set fragment before any command"
            return "a data set fragment while the command was incomplete"
        if self.phase == COMMAND and context_id != self.context_id:
            return f"command fragments on presentation contexts {self.context_id} and {context_id}"
        self.phase, self.context_id = COMMAND, context_id
        self._command += memoryview(data)[1:]
        if len(self._command) > MAX_COMMAND:
            return f"a command set of more than {MAX_COMMAND} bytes"
        if last:
            values = self.command_values = command.parse_command(self._command)
            self._command = bytearray()
            no_data = command.us_value(values, command.COMMAND_DATA_SET_TYPE) == command.NO_DATA_SET
            self.phase = IDLE if no_data else DATA
        return None

    def data_set_ended(self) -> None:
        """The last data set fragment arrived, checked by the caller: same as check() with it."""
        self.phase = IDLE

    def _data(self, context_id: int, *, is_command: bool, last: bool) -> str | None:
        if is_command:
            return "a command fragment inside a data set (its last fragment was never flagged)"
        if context_id != self.context_id:
            return (
                f"a data set fragment on presentation context {context_id}, its command on {self.context_id}"
            )
        if last:
            self.phase = IDLE
        return None
