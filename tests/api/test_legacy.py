"""The original's /code/php endpoints against a served box: shapes, types, refusals."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from magickbox.files import write_json_atomic
from magickbox.store import SessionState
from tests.api.conftest import BUCKET, BUCKET_AET, Served
from tests.support import sessions as factory

STRING_FIELDS = (
    "CallerIP",
    "AETitleCalled",
    "AETitleCaller",
    "received",
    "scratchdir",
    "pid",
    "lastChangedTime",
)
BAD_NAMES = [
    ".",
    "..",
    "archive",
    "views",
    ".arrived",
    "tmp.X/INPUT",
    "../x",
    "tmp.abc;id",
    "$(id)",
    "/etc",
    "tmp.ABCDEFGHIJ",
]


def scratch(served: Served) -> list[dict[str, object]]:
    response = httpx.get(served.url + "/code/php/getScratch.php")
    assert response.status_code == 200
    value = response.json()
    assert isinstance(value, list)
    return value


def entry(served: Served, scratchdir: str) -> dict[str, object]:
    return next(e for e in scratch(served) if e["scratchdir"] == scratchdir)


def test_get_scratch_types_and_states(served: Served) -> None:
    done = served.make_session("types", output={"a.txt": b"a"})
    queued = served.make_session("types", end=None)
    running = served.make_session("types", end="running")
    (served.store.layout.session_dir(done.scratchdir) / "measures").mkdir()
    (served.store.layout.session_dir(done.scratchdir) / "measures" / "MI.json").write_text('{"MI": [1.5]}')
    entries = scratch(served)
    mine = [e for e in entries if e["AETitleCaller"] == "types"]
    assert [e["scratchdir"] for e in mine] == [running.scratchdir, queued.scratchdir, done.scratchdir]
    for e in mine:
        for name in (*STRING_FIELDS, "processingTime", "status", "routing"):
            assert isinstance(e[name], str), name
        assert e["pid"]
    by_dir = {e["scratchdir"]: e for e in mine}
    finished = by_dir[done.scratchdir]
    assert finished["status"] == "finished" and int(str(finished["processingTime"])) >= 1
    assert isinstance(finished["processingLogSize"], int) and isinstance(finished["processingLast"], int)
    assert finished["measures"] == {"MI": {"MI": [1.5]}}
    assert str(finished["lastChangedTime"]).endswith(("+0000", "-0000")) or "," in str(
        finished["lastChangedTime"]
    )
    waiting = by_dir[queued.scratchdir]
    assert waiting["processingTime"] == "0" and waiting["lastChangedTime"] == "0"
    assert "processingLogSize" not in waiting and waiting["status"] == "queued"
    assert by_dir[running.scratchdir]["processingTime"] == "0"


def _add_info_keys(served: Served, scratchdir: str, extra: dict[str, object]) -> None:
    path = served.store.layout.info_path(scratchdir)
    write_json_atomic(path, {**json.loads(path.read_text()), **extra})


def test_get_scratch_passes_every_info_json_key_through(served: Served) -> None:
    done = served.make_session("infokeys")
    queued = served.make_session("infokeys", end=None)
    clash = {"AETitleCaller": "not me", "status": "not me", "processingLast": -1}
    for s in (done, queued):
        _add_info_keys(served, s.scratchdir, {"StudyNote": "from info.json", **clash})
    by_dir = {e["scratchdir"]: e for e in scratch(served)}
    finished, waiting = by_dir[done.scratchdir], by_dir[queued.scratchdir]
    assert finished["StudyNote"] == waiting["StudyNote"] == "from info.json"
    assert finished["AETitleCaller"] == waiting["AETitleCaller"] == "infokeys", "computed keys win"
    assert finished["status"] == "finished" and waiting["status"] == "queued"
    assert isinstance(finished["processingLast"], int) and finished["processingLast"] >= 0
    assert waiting["processingLast"] == -1, "without a log there is no computed processingLast"
    keys = list(finished)
    assert keys[:4] == ["CallerIP", "AETitleCalled", "AETitleCaller", "received"]
    assert keys.index("StudyNote") < keys.index("scratchdir"), "info.json's keys come first"
    _add_info_keys(served, queued.scratchdir, {"StudyNote": "changed"})
    assert entry(served, queued.scratchdir)["StudyNote"] == "changed"


def test_seed_page_jq_filters_work_literally(served: Served) -> None:
    served.make_session("jqcaller")
    served.make_session("jqcaller", end="failed")
    served.make_session("jqcaller", end=None)
    body = httpx.get(served.url + "/code/php/getScratch.php").text

    def jq(*args: str) -> str:
        return subprocess.run(["jq", *args], input=body, capture_output=True, text=True, check=True).stdout

    done = jq("-c", '.[] | select(.AETitleCaller=="jqcaller" and .processingTime!="0")').splitlines()
    pending = jq("-c", "-M", '.[] | select(.AETitleCaller=="jqcaller" and .processingTime=="0")').splitlines()
    assert len(done) == 2 and len(pending) == 1
    pairs = jq('.[] | select(.AETitleCaller=="jqcaller") | {"scratchdir": .scratchdir, "pid": .pid}')
    for line in subprocess.run(
        ["jq", "-c", "-M", "."], input=pairs, capture_output=True, text=True
    ).stdout.split():
        fields = line.split('"')
        assert fields[3].startswith("tmp.") and fields[7].startswith("scp_")


def test_output_zip_headers_and_entries(served: Served) -> None:
    s = served.make_session(output={"a.txt": b"alpha", "sub/b.bin": b"\x00" * 3000})
    response = httpx.get(served.url + "/code/php/getOutputZip.php", params={"folder": s.scratchdir})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == f"attachment; filename={s.scratchdir}.zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == [f"{s.scratchdir}/OUTPUT/a.txt", f"{s.scratchdir}/OUTPUT/sub/b.bin"]
    assert archive.read(f"{s.scratchdir}/OUTPUT/a.txt") == b"alpha"
    inputs = httpx.get(
        served.url + "/code/php/getOutputZip.php", params={"folder": s.scratchdir, "type": "input"}
    )
    names = zipfile.ZipFile(io.BytesIO(inputs.content)).namelist()
    assert names == [f"{s.scratchdir}/INPUT/img0001.dcm"]


def test_output_zip_of_session_without_output_is_a_valid_empty_zip(served: Served) -> None:
    s = served.make_session(end=None)
    response = httpx.get(served.url + "/code/php/getOutputZip.php", params={"folder": s.scratchdir})
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(response.content)).namelist() == []


def test_output_zip_follows_no_link(served: Served, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    s = served.make_session(output={"ok.txt": b"ok"})
    (served.store.layout.output_dir(s.scratchdir) / "leak.txt").symlink_to(secret)
    (served.store.layout.output_dir(s.scratchdir) / "leakdir").symlink_to(tmp_path)
    (served.store.layout.output_dir(s.scratchdir) / "same.dcm").symlink_to(
        served.store.layout.input_dir(s.scratchdir) / "img0001.dcm"
    )
    content = httpx.get(served.url + "/code/php/getOutputZip.php", params={"folder": s.scratchdir}).content
    names = zipfile.ZipFile(io.BytesIO(content)).namelist()
    # Not even a link to the session's own INPUT: a checked link can be swapped before it is read.
    assert sorted(names) == [f"{s.scratchdir}/OUTPUT/ok.txt"]


def test_concurrent_downloads_are_identical(served: Served) -> None:
    s = served.make_session(output={f"f{i}.bin": bytes([i]) * 200_000 for i in range(10)})
    url = served.url + "/code/php/getOutputZip.php?folder=" + s.scratchdir
    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(lambda _: httpx.get(url, timeout=30).content, range(4)))
    assert len(set(bodies)) == 1
    assert len(zipfile.ZipFile(io.BytesIO(bodies[0])).namelist()) == 10


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_scratchdir_values_get_404_and_touch_nothing(served: Served, name: str) -> None:
    keep = served.make_session()
    before = sorted(p.name for p in served.store.layout.root.iterdir())
    for path, params in (
        ("/code/php/getOutputZip.php", {"folder": name}),
        ("/code/php/deleteStudy.php", {"scratchdir": name}),
        ("/code/php/deleteStudy.php", {"SIUID": name}),
    ):
        response = httpx.get(served.url + path, params=params)
        assert response.status_code == 404, (path, name)
        assert set(response.json()) == {"error", "detail"}
    response = httpx.get(f"{served.url}/scratch/{name}/processing.log")
    assert response.status_code == 404
    assert sorted(p.name for p in served.store.layout.root.iterdir()) == before
    assert served.store.sessions.get(keep.id).scratchdir == keep.scratchdir


def test_missing_folder_parameter_is_404(served: Served) -> None:
    assert httpx.get(served.url + "/code/php/getOutputZip.php").status_code == 404
    assert httpx.get(served.url + "/code/php/deleteStudy.php").status_code == 404


def test_delete_by_scratchdir_answers_like_the_original(served: Served) -> None:
    s = served.make_session()
    response = httpx.get(served.url + "/code/php/deleteStudy.php", params={"scratchdir": s.scratchdir})
    assert response.status_code == 200
    assert response.text == f" will delete now {served.store.layout.root / s.scratchdir}"
    assert not (served.store.layout.root / s.scratchdir).exists()
    assert all(e["scratchdir"] != s.scratchdir for e in scratch(served))


def test_delete_by_siuid_deletes_every_session_with_that_pid(served: Served) -> None:
    a = served.make_session(pid="scp_1.2.840.99")
    b = served.make_session(pid="scp_1.2.840.99", end=None)
    other = served.make_session()
    response = httpx.get(served.url + "/code/php/deleteStudy.php", params={"SIUID": "scp_1.2.840.99"})
    assert response.status_code == 200
    assert response.text.count("will delete ") == 2
    left = {e["scratchdir"] for e in scratch(served)}
    assert a.scratchdir not in left and b.scratchdir not in left and other.scratchdir in left


def test_processing_log_serves_only_that_file(served: Served) -> None:
    s = served.make_session(log="line one\nline two\n")
    response = httpx.get(f"{served.url}/scratch/{s.scratchdir}/processing.log")
    assert response.status_code == 200 and response.text == "line one\nline two\n"
    for other in ("info.json", "INPUT/img0001.dcm", "OUTPUT/result.txt", ""):
        assert httpx.get(f"{served.url}/scratch/{s.scratchdir}/{other}").status_code == 404
    queued = served.make_session(end=None)
    assert httpx.get(f"{served.url}/scratch/{queued.scratchdir}/processing.log").status_code == 404


def test_installed_buckets_and_status(served: Served) -> None:
    buckets = httpx.get(served.url + "/code/php/getInstalledBuckets.php").json()
    assert buckets == [{"name": "test", "AETitle": BUCKET_AET, "enabled": 1, "version": "1.0"}]
    served.make_session(end=None)
    served.make_session(end="running")
    rows = httpx.get(served.url + "/code/php/getStatus.php").json()
    assert all(isinstance(v, str) for row in rows for v in row)
    row = next(r for r in rows if r[0] == BUCKET)
    assert len(row) == 4 and int(row[1]) >= 2 and int(row[2]) >= 1 and row[3] == "1"
    assert json.dumps(rows).count("bucketOff") == 0


def test_get_scratch_follows_changes_between_requests(served: Served) -> None:
    s = served.make_session("changes", end="running", log="a\n")
    assert entry(served, s.scratchdir)["processingLogSize"] == 2
    with served.store.layout.log_path(s.scratchdir).open("a") as handle:
        handle.write("bb\n")
    assert entry(served, s.scratchdir)["processingLogSize"] == 5
    factory.end(served.store, s.id, SessionState.FAILED, "exit 1")
    changed = entry(served, s.scratchdir)
    assert changed["status"] == "failed" and changed["processingTime"] != "0"
    factory.route(served.store, s.id)
    assert entry(served, s.scratchdir)["routing"] == "routed"
    served.store.sessions.delete(s.id)
    assert all(e["scratchdir"] != s.scratchdir for e in scratch(served))


def test_large_log_and_offsets(served: Served) -> None:
    text = "".join(f"line {n:07d}\n" for n in range(800_000))  # 10.4 MB: sent in chunks
    s = served.make_session(log=text)
    response = httpx.get(f"{served.url}/scratch/{s.scratchdir}/processing.log", timeout=30)
    assert response.status_code == 200 and response.text == text
    tail = httpx.get(f"{served.url}/api/v1/sessions/{s.scratchdir}/log", params={"offset": len(text) - 13})
    assert tail.text == "line 0799999\n"
    beyond = httpx.get(f"{served.url}/api/v1/sessions/{s.scratchdir}/log", params={"offset": len(text) + 5})
    assert beyond.status_code == 200 and beyond.text == ""
