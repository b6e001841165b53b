"""`mb keep` / `mb unkeep` against running boxes: the sessions' `kept` flag, and the audit log."""

from __future__ import annotations

import json

from tests.client.conftest import Fleet, run_mb, unique


def test_keep_and_unkeep_across_boxes(fleet: Fleet, sender: str) -> None:
    caller = unique("keep")
    sessions = [(box, box.make_session(caller)) for box in fleet.boxes]
    other_box, other = fleet.boxes[0], fleet.boxes[0].make_session(unique("nokeep"))

    done = run_mb(fleet.home, "keep", caller)
    assert done.returncode == 0, done.stderr
    assert sorted(e["scratchdir"] for e in json.loads(done.stdout)) == sorted(
        s.scratchdir for _, s in sessions
    )
    for box, session in sessions:
        listed = {row["scratchdir"]: row for row in box.process.get_json("/code/php/getScratch.php")}
        assert listed[session.scratchdir]["kept"] is True
        entry = box.process.get_json("/api/v1/audit", session=session.scratchdir)["items"][0]
        assert (entry["action"], entry["via"], entry["actor"]) == ("keep", "mb", "anonymous")
    assert other_box.store.retention.is_kept(other.id) is False

    released = run_mb(fleet.home, "unkeep", caller)
    assert released.returncode == 0, released.stderr
    assert all(e["kept"] is False for e in json.loads(released.stdout))
    assert not any(box.store.retention.is_kept(s.id) for box, s in sessions)
    assert run_mb(fleet.home, "keep").returncode == 2  # a regex is required, as for remove
