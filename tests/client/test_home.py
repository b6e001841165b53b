"""The config files and Go durations, in process (the CLI side is in test_commands.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magickbox.client.errors import UsageError
from magickbox.client.home import Home, Machine, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "ns"),
    [("2s", 2_000_000_000), ("500ms", 500_000_000), ("1m30s", 90_000_000_000), ("1.5h", 5_400_000_000_000),
     ("0", 0), ("250us", 250_000), ("3µs", 3_000), ("10ns", 10), ("-1s", -1_000_000_000)],
)  # fmt: skip
def test_parse_duration_reads_go_durations(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "2", "s", "2 s", "2sec", "1s2", "abc"])
def test_parse_duration_refuses_other_text(text: str) -> None:
    with pytest.raises(UsageError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("ns", "text"),
    [(1_000_000_000, "1s"), (500_000_000, "500ms"), (120_000_000_000, "2m0s"), (3_600_000_000_000, "1h0m0s"),
     (90_500_000_000, "1m30.5s"), (1_500, "1.5µs"), (0, "0s"), (7, "7ns")],
)  # fmt: skip
def test_format_duration_prints_as_go(ns: int, text: str) -> None:
    assert format_duration(ns) == text


def test_missing_files_are_created_with_the_defaults(tmp_path: Path) -> None:
    home = Home(tmp_path)
    settings = home.load_settings()
    assert (settings.sender, settings.timeout_s) == ("unknown", 1.0)
    assert home.load_machines() == []
    assert json.loads((tmp_path / ".mb").read_text()) == {"Sender": "unknown", "Timeout": 1_000_000_000}
    assert json.loads((tmp_path / ".magickbox").read_text()) == []


def test_a_zero_timeout_falls_back_to_one_second(tmp_path: Path) -> None:
    (tmp_path / ".mb").write_text('{"Sender": "x", "Timeout": 0}')
    assert Home(tmp_path).load_settings().timeout_s == 1.0


def test_many_machines_are_read_whole(tmp_path: Path) -> None:
    """The original read 1024 bytes of ~/.magickbox: about ten machines broke it."""
    entries = [{"Machine": f"10.0.0.{i}", "Port": "2813", "Sender": "", "Status": None} for i in range(60)]
    (tmp_path / ".magickbox").write_text(json.dumps(entries, indent=2))
    assert len(Home(tmp_path).load_machines()) == 60


def test_unknown_keys_are_kept_when_rewritten(tmp_path: Path) -> None:
    (tmp_path / ".magickbox").write_text('[{"Machine": "h", "Port": 2813, "Note": "lab 3"}]')
    home = Home(tmp_path)
    machines = home.load_machines()
    machines.append(Machine("g", "1", {}))
    home.save_machines(machines)
    saved = json.loads((tmp_path / ".magickbox").read_text())
    assert saved[0] == {"Machine": "h", "Port": "2813", "Sender": "", "Status": None, "Note": "lab 3"}
    assert list(saved[1]) == ["Machine", "Port", "Sender", "Status"]


@pytest.mark.parametrize(
    "content",
    ['{"Machine": "h"}', '[{"Port": "1"}]', '[{"Machine": "h", "Port": "x"}]', "[1]"],
)
def test_bad_machine_files_are_named(tmp_path: Path, content: str) -> None:
    (tmp_path / ".magickbox").write_text(content)
    with pytest.raises(UsageError, match=r"\.magickbox"):
        Home(tmp_path).load_machines()


def test_ipv6_machines_get_brackets() -> None:
    assert Machine("::1", "2813").base_url == "http://[::1]:2813"
