"""list, log, computeModules, queryMachines, activeMachines, setSender, setSetting: real `mb`, real boxes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.client.conftest import (
    AET,
    Fleet,
    dead_port,
    make_home,
    mb_json,
    run_mb,
    start_box,
    stop_box,
    unique,
)


def test_list_across_boxes_adds_machine_and_port_sorted_keys(fleet: Fleet, sender: str) -> None:
    box_a, box_b = fleet.boxes
    caller = unique("lst")
    on_a = box_a.make_session(caller)
    on_b = box_b.make_session(caller)
    result = run_mb(fleet.home, "list", caller)
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert {(e["Machine"], e["Port"], e["scratchdir"]) for e in entries} == {
        ("127.0.0.1", box_a.port, on_a.scratchdir),
        ("127.0.0.1", box_b.port, on_b.scratchdir),
    }
    for entry in entries:
        assert entry["AETitleCaller"] == caller
        assert list(entry) == sorted(entry)  # keys sorted, as the Go client printed them
    assert result.stdout.startswith("[\n  {\n    ")  # pretty, 2 spaces
    by_alias = json.loads(run_mb(fleet.home, "l", caller).stdout)  # the short alias
    assert sorted(e["scratchdir"] for e in by_alias) == sorted(e["scratchdir"] for e in entries)


def test_list_prints_null_when_nothing_matches(fleet: Fleet, sender: str) -> None:
    result = run_mb(fleet.home, "list", "no-session-has-this-" + unique())
    assert result.returncode == 0
    assert result.stdout == "null\n"


def test_list_regex_searches_string_fields_only(fleet: Fleet, sender: str) -> None:
    caller = unique("rx")
    session = fleet.boxes[0].make_session(caller)
    # Any string field: the scratchdir, or the caller by a pattern; Machine/Port are not searched.
    assert [e["scratchdir"] for e in mb_json(fleet.home, "list", f"^{session.scratchdir}$")] == [
        session.scratchdir
    ]
    assert caller in {e["AETitleCaller"] for e in mb_json(fleet.home, "list", "^rx[0-9a-f]{8}$")}
    assert mb_json(fleet.home, "list", f"^{fleet.boxes[0].port}$") is None


def test_invalid_regex_is_a_usage_error(fleet: Fleet, sender: str) -> None:
    result = run_mb(fleet.home, "list", "([")
    assert result.returncode == 2
    assert "invalid regular expression" in result.stderr
    assert result.stdout == ""


def test_an_unreachable_box_is_named_and_the_others_answer(fleet: Fleet, sender: str) -> None:
    caller = unique("down")
    session = fleet.boxes[1].make_session(caller)
    dead = str(dead_port())
    fleet.write_machines(
        [
            {"Machine": "127.0.0.1", "Port": dead, "Sender": "", "Status": None},
            *[b.machine() for b in fleet.boxes],
        ]
    )
    result = run_mb(fleet.home, "list", caller)
    assert result.returncode == 3
    assert f"127.0.0.1:{dead}" in result.stderr and "connection refused" in result.stderr
    assert [e["scratchdir"] for e in json.loads(result.stdout)] == [session.scratchdir]


def test_a_box_that_never_answers_is_given_up_within_the_timeout(
    fleet: Fleet, sender: str, tmp_path: Path
) -> None:
    """A listening socket that never accepts HTTP: the others answer; the silent one is named."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = str(silent.getsockname()[1])
        fleet.write_machines([*[b.machine() for b in fleet.boxes], {"Machine": "127.0.0.1", "Port": port}])
        make_home(fleet.home, sender=sender, timeout_ns=200_000_000)  # 0.2 s
        result = run_mb(fleet.home, "list", "^nothing$", timeout=30)
    assert result.returncode == 3
    assert f"127.0.0.1:{port}" in result.stderr
    assert "within" in result.stderr
    assert result.stdout == "null\n"


def test_log_includes_the_processing_log_and_searches_it(fleet: Fleet, sender: str) -> None:
    box = fleet.boxes[0]
    caller = unique("log")
    session = box.make_session(caller)
    box.wait_state(session.scratchdir, "finished")
    entries = mb_json(fleet.home, "log", caller)
    assert [e["scratchdir"] for e in entries] == [session.scratchdir]
    assert "ProcX done" in entries[0]["log"]
    # The regex also matches the log text (the scratchdir appears in the log only via $MB_SCRATCHDIR).
    by_log = mb_json(fleet.home, "log", f"processing .*{session.scratchdir} for {caller}")
    assert [e["scratchdir"] for e in by_log] == [session.scratchdir]
    assert run_mb(fleet.home, "l", caller).stdout.count('"log"') == 0  # `l` is list, not log


def test_compute_modules_lists_every_matching_bucket(fleet: Fleet, sender: str) -> None:
    box_a, box_b = fleet.boxes
    modules = mb_json(fleet.home, "computeModules")
    ours = {(m["Port"], m["AETitle"]) for m in modules}
    assert {(box_a.port, AET), (box_b.port, AET), (box_b.port, "ProcY")} <= ours
    for module in modules:
        assert set(module) == {"AETitle", "Description", "License", "Machine", "Name", "Port", "Version"}
    # With a regex: every bucket that matches (the original kept only the first per box).
    on_b = mb_json(fleet.home, "c", "^Proc[XY]$")
    assert sorted(m["AETitle"] for m in on_b if m["Port"] == box_b.port) == [AET, "ProcY"]
    assert mb_json(fleet.home, "c", "^ProcY$")[0]["Description"] == "ProcY test"


def test_active_machines_edits_the_file_in_the_original_format(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    added = mb_json(home, "activeMachines", "add", "192.0.2.10", "2813")
    assert added == [{"Machine": "192.0.2.10", "Port": "2813", "Sender": "", "Status": None}]
    again = run_mb(home, "a", "add", "192.0.2.10", "2813")
    assert "already part of the active list" in again.stderr
    mb_json(home, "a", "add", "192.0.2.11", "2814")
    on_disk = json.loads((home / ".magickbox").read_text())
    assert [(m["Machine"], m["Port"]) for m in on_disk] == [("192.0.2.10", "2813"), ("192.0.2.11", "2814")]
    assert mb_json(home, "a", "rm", "192.0.2.10", "2813") == [
        {"Machine": "192.0.2.11", "Port": "2814", "Sender": "", "Status": None}
    ]
    missing = run_mb(home, "a", "rm", "192.0.2.99", "1")
    assert missing.returncode == 2 and "not part of activeMachines" in missing.stderr


def test_tokens_are_stored_privately_and_masked(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    shown = mb_json(home, "a", "add", "192.0.2.10", "2813", "--token", "s3cret-token")
    assert shown[0]["Token"] == "****"
    on_disk = json.loads((home / ".magickbox").read_text())
    assert on_disk[0]["Token"] == "s3cret-token"
    assert (home / ".magickbox").stat().st_mode & 0o077 == 0


def test_set_sender_and_set_setting_write_dot_mb(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    home.mkdir()
    first = run_mb(home, "setSender")
    assert first.stdout == '{"sender": "unknown"}\n'  # created with the defaults, used at once
    assert json.loads((home / ".mb").read_text()) == {"Sender": "unknown", "Timeout": 1_000_000_000}
    assert run_mb(home, "w", "hauke:p1").returncode == 0
    assert run_mb(home, "setSender").stdout == '{"sender": "hauke:p1"}\n'
    assert run_mb(home, "setSetting", "Timeout", "2s").stdout == '{"Timeout": "2s"}\n'
    assert json.loads((home / ".mb").read_text()) == {"Sender": "hauke:p1", "Timeout": 2_000_000_000}
    assert run_mb(home, "setSetting", "Timeout", "1m30s").stdout == '{"Timeout": "1m30s"}\n'
    bad = run_mb(home, "setSetting", "Timeout", "soon")
    assert bad.returncode == 2 and "invalid duration" in bad.stderr
    assert json.loads((home / ".mb").read_text())["Timeout"] == 90_000_000_000  # unchanged
    assert json.loads(run_mb(home, "setSetting").stdout) == {"Sender": "hauke:p1", "Timeout": 90_000_000_000}
    assert run_mb(home, "--config-sender", "other").stdout == '{"sender": "other"}\n'


def test_hand_written_config_files_from_the_original_work(fleet: Fleet, tmp_path: Path) -> None:
    """Files as the original's users wrote them: 4-space indent, Port as a string or a number."""
    box_a, box_b = fleet.boxes
    home = tmp_path / "legacy"
    home.mkdir()
    (home / ".mb").write_text('{\n    "Sender": "hauke",\n    "Timeout": 3000000000\n}\n')
    (home / ".magickbox").write_text(
        "[\n"
        f'    {{"Machine": "127.0.0.1", "Port": "{box_a.port}", "Sender": "", "Status": null}},\n'
        f'    {{"Machine": "127.0.0.1", "Port": {box_b.port}}}\n'
        "]\n"
    )
    caller = unique("legacy")
    box_b.make_session(caller)
    entries = mb_json(home, "list", caller)
    assert [e["Port"] for e in entries] == [box_b.port]
    assert run_mb(home, "setSender").stdout == '{"sender": "hauke"}\n'


def test_broken_config_file_is_named(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    (home / ".magickbox").write_text('[{"Machine": "127.0.0.1", "Port": "2813"')
    result = run_mb(home, "list")
    assert result.returncode == 2
    assert ".magickbox is not valid JSON" in result.stderr


def test_no_active_machines_says_how_to_add_one(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    result = run_mb(home, "list")
    assert result.returncode == 2
    assert (
        "mb activeMachines add HOST PORT" in result.stderr and "queryMachines followed" not in result.stderr
    )
    query = run_mb(home, "queryMachines")
    assert query.returncode == 2 and "activeMachines add" in query.stderr


def test_query_machines_lists_the_boxes_the_active_boxes_know(fleet: Fleet, tmp_path: Path) -> None:
    """Nothing but loopback is contacted: the peers come from the box's `peers` setting."""
    known = fleet.boxes[1]
    peered = start_box(tmp_path / "peered", env={"MAGICKBOX_PEERS": json.dumps([f"127.0.0.1:{known.port}"])})
    try:
        home = make_home(tmp_path / "home")
        (home / ".magickbox").write_text(json.dumps([peered.machine()]))
        boxes = mb_json(home, "q")
        assert [(b["Machine"], b["Port"]) for b in boxes] == [
            ("127.0.0.1", peered.port),
            ("127.0.0.1", known.port),
        ]
        assert boxes[0]["DicomPort"] == str(peered.process.dicom_port)
        with_status = mb_json(home, "queryMachines", "with", "status")
        assert [row[0] for row in with_status[1]["Status"]] == sorted(
            row[0] for row in with_status[1]["Status"]
        )
        assert any(row[0] == "bucketProcY" for row in with_status[1]["Status"])
    finally:
        stop_box(peered)


def test_unknown_command_and_help(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    unknown = run_mb(home, "frobnicate")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
    helped = run_mb(home, "help", "push")
    assert helped.returncode == 0 and "aetitle" in helped.stdout
    assert run_mb(home, "--version").stdout.startswith("mb version ")


def test_a_per_machine_token_is_sent_as_bearer(tmp_path: Path) -> None:
    box = start_box(tmp_path / "locked")
    try:
        _, secret = box.store.tokens.create("write", "mb test")
        home = make_home(tmp_path / "home")
        (home / ".magickbox").write_text(json.dumps([box.machine()]))
        refused = run_mb(home, "list")
        assert refused.returncode == 3
        assert "refused (401" in refused.stderr and "--token" in refused.stderr
        mb_json(home, "activeMachines", "add", "127.0.0.1", box.port, "--token", secret)
        caller = unique("tok")
        session = box.make_session(caller)
        assert [e["scratchdir"] for e in mb_json(home, "list", caller)] == [session.scratchdir]
        box.wait_state(session.scratchdir, "finished")
        assert len(mb_json(home, "remove", caller)) == 1  # a write, with the same token
    finally:
        stop_box(box)
