"""What every command needs: the config files, one client per active box, and the session listing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from magickbox.client.boxes import Answer, BoxClient, fan_out
from magickbox.client.errors import EXIT_OK, EXIT_UNREACHABLE, UsageError
from magickbox.client.home import ClientSettings, Home, Machine
from magickbox.client.match import matches
from magickbox.client.output import warn

# The first command that works on a fresh machine: queryMachines itself needs an active box.
NO_MACHINES = (
    "no active machines defined: add a box with 'mb activeMachines add HOST PORT'"
    " (its HTTP port, e.g. 'mb activeMachines add 127.0.0.1 2813'); then 'mb queryMachines'"
    " lists the other boxes it knows"
)


@dataclass
class Found:
    """A session found on a box: the getScratch entry with Machine/Port added, and that box."""

    entry: dict[str, Any]
    client: BoxClient

    @property
    def scratchdir(self) -> str:
        value = self.entry.get("scratchdir")
        return value if isinstance(value, str) else ""

    @property
    def pid(self) -> str:
        value = self.entry.get("pid")
        return value if isinstance(value, str) else ""

    def matches(self, regex: re.Pattern[str]) -> bool:
        # Machine/Port were added after matching in the original; they are not searched.
        return matches(_without_machine(self.entry), regex)


@dataclass
class Context:
    home: Home
    settings: ClientSettings
    machines: list[Machine]
    unreachable: list[str] = field(default_factory=list)
    find: str | None = None  # `--find TEXT`: only sessions the boxes' study index finds

    @classmethod
    def load(cls, home: Home | None = None) -> Context:
        home = home or Home()
        return cls(home, home.load_settings(), home.load_machines())

    @property
    def timeout_s(self) -> float:
        return self.settings.timeout_s

    def clients(self) -> list[BoxClient]:
        if not self.machines:
            raise UsageError(NO_MACHINES)
        return [BoxClient(machine, self.timeout_s) for machine in self.machines]

    def note_failures(self, answers: list[Answer[Any]]) -> None:
        """Name every box that failed on stderr; the exit code will say that some did."""
        for answer in answers:
            if answer.error is not None:
                warn(str(answer.error))
                self.unreachable.append(answer.client.label)

    @property
    def exit_code(self) -> int:
        return EXIT_UNREACHABLE if self.unreachable else EXIT_OK

    def list_sessions(self, clients: list[BoxClient], deadline_factor: float = 11) -> list[Found]:
        """getScratch on every box at once, in the order of `~/.magickbox`; failures are named."""
        answers = fan_out(clients, lambda client: client.scratch(), self.timeout_s * deadline_factor)
        self.note_failures(answers)
        found: list[Found] = []
        for answer in answers:
            for entry in answer.value or []:
                found.append(Found(with_machine(entry, answer.client.machine), answer.client))
        return found

    def select(self, clients: list[BoxClient], regex: re.Pattern[str]) -> list[Found]:
        """Sessions whose fields match `regex` and, with `--find`, that the box's search finds."""
        chosen = [item for item in self.list_sessions(clients) if item.matches(regex)]
        if self.find is None:
            return chosen
        found = self._search(clients, self.find)
        return [
            item for item in chosen if item.entry.get("scratchdir") in found.get(item.client.label, set())
        ]

    def _search(self, clients: list[BoxClient], text: str) -> dict[str, set[str]]:
        answers = fan_out(clients, lambda client: client.search(text), self.timeout_s * 11)
        self.note_failures(answers)
        return {answer.client.label: answer.value or set() for answer in answers}


def with_machine(entry: dict[str, Any], machine: Machine) -> dict[str, Any]:
    return {**entry, "Machine": machine.host, "Port": machine.port}


def _without_machine(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key not in ("Machine", "Port")}
