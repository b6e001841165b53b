"""Keep/unkeep, INPUT/OUTPUT removal and the audit log over HTTP (the app in this process)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from magickbox.store import Store
from tests.keep.helpers import make_session, with_bucket


def test_keep_unkeep_and_listings(client: TestClient, store: Store) -> None:
    session = make_session(store)
    answer = client.post(f"/api/v1/sessions/{session.scratchdir}/keep")
    assert answer.status_code == 200 and answer.json() == {"scratchdir": session.scratchdir, "kept": True}
    assert client.get(f"/api/v1/sessions/{session.scratchdir}").json()["kept"] is True
    assert client.get("/api/v1/sessions").json()["items"][0]["kept"] is True
    assert client.get("/code/php/getScratch.php").json()[0]["kept"] is True
    assert client.delete(f"/api/v1/sessions/{session.scratchdir}/keep").json()["kept"] is False
    assert client.get("/code/php/getScratch.php").json()[0]["kept"] is False
    assert client.post("/api/v1/sessions/tmp.nosuchthing/keep").status_code == 404
    actions = [e["action"] for e in client.get("/api/v1/audit").json()["items"]]
    assert [a for a in actions if a not in ("view", "list")] == ["unkeep", "keep"]  # reads: audited too


def test_remove_input_or_output(client: TestClient, store: Store) -> None:
    session = make_session(store, size=10_000)
    answer = client.delete(f"/api/v1/sessions/{session.scratchdir}/input")
    assert answer.status_code == 200 and answer.json()["bytes_freed"] >= 10_000
    assert [f["area"] for f in client.get(f"/api/v1/sessions/{session.scratchdir}").json()["files"]] == [
        "OUTPUT"
    ]
    client.delete(f"/api/v1/sessions/{session.scratchdir}/output")
    assert client.get(f"/api/v1/sessions/{session.scratchdir}").json()["files"] == []
    running = make_session(store, end=None)
    refused = client.delete(f"/api/v1/sessions/{running.scratchdir}/output")
    assert refused.status_code == 409 and refused.json()["error"] == "not ended"
    assert (store.layout.output_dir(running.scratchdir) / "result.txt").exists()


def test_audit_names_tokens_and_needs_admin(client: TestClient, store: Store) -> None:
    _info, writer = store.tokens.create("write", "alice")
    _info, admin = store.tokens.create("admin", "root-desk")
    as_alice = {"Authorization": f"Bearer {writer}"}
    with_bucket(store.settings)
    session, other = make_session(store), make_session(store)
    assert (
        client.get(f"/code/php/getOutputZip.php?folder={session.scratchdir}", headers=as_alice).status_code
        == 200
    )
    assert client.get(f"/api/v1/sessions/{session.scratchdir}/input.zip", headers=as_alice).status_code == 200
    assert client.get(f"/scratch/{session.scratchdir}/processing.log", headers=as_alice).status_code in (
        200,
        404,
    )
    client.post(f"/api/v1/sessions/{session.scratchdir}/rerun", headers=as_alice)
    client.post(f"/api/v1/sessions/{session.scratchdir}/cancel", headers=as_alice)
    assert client.delete(f"/api/v1/sessions/{other.scratchdir}", headers=as_alice).status_code == 200
    assert client.get("/api/v1/audit", headers=as_alice).status_code == 403
    page = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {admin}"}).json()
    seen = [(e["action"], e["actor"], e["scratchdir"]) for e in reversed(page["items"])]
    assert seen[:2] == [("download-zip", "alice", session.scratchdir)] * 2
    assert ("rerun", "alice", session.scratchdir) in seen and ("cancel", "alice", session.scratchdir) in seen
    assert seen[-1] == ("delete", "alice", other.scratchdir)
    assert all(e["ip"] == "testclient" and e["pid"] for e in page["items"])
    one = client.get(
        "/api/v1/audit",
        params={"session": other.scratchdir, "limit": 1},
        headers={"Authorization": f"Bearer {admin}"},
    ).json()
    assert one["total"] == 1 and one["items"][0]["action"] == "delete"
    lines = client.get("/api/v1/audit.jsonl?action=delete", headers={"Authorization": f"Bearer {admin}"}).text
    assert lines.count("\n") == 1 and '"actor":"alice"' in lines
    assert (
        client.get("/api/v1/audit?action=rewrite", headers={"Authorization": f"Bearer {admin}"}).status_code
        == 422
    )


def test_open_box_is_anonymous(client: TestClient, store: Store) -> None:
    session = make_session(store)
    client.get(
        f"/api/v1/sessions/{session.scratchdir}/output.zip", headers={"User-Agent": "mb/1.0 (MagickBox)"}
    )
    entry = client.get("/api/v1/audit").json()["items"][0]
    assert (entry["actor"], entry["via"], entry["detail"]) == ("anonymous", "mb", "OUTPUT")
