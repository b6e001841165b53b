"""The streamed zip: exact length, readable by zipfile and unzip, ZIP64 records, changed files."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest

from magickbox.client.errors import MbError
from magickbox.client.zipstream import StreamedZip, collect


def _tree(root: Path) -> Path:
    files = {
        "a.txt": b"hello" * 100,
        "sub/dir/b.dcm": bytes(range(256)) * 300,
        "sub/empty": b"",
        "sub/ünï.txt": b"u",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("zip64_from", [0xFFFFFFFF, 1, 0])
def test_stream_is_a_valid_zip_of_exactly_the_announced_length(tmp_path: Path, zip64_from: int) -> None:
    folder = _tree(tmp_path / "in")
    streamed = StreamedZip(collect(folder, print), zip64_from=zip64_from)
    data = b"".join(streamed.chunks(chunk_size=1000))
    assert len(data) == streamed.length
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == ["a.txt", "sub/dir/b.dcm", "sub/empty", "sub/ünï.txt"]
        for name in archive.namelist():
            assert archive.read(name) == (folder / name).read_bytes()
    target = tmp_path / "out.zip"
    target.write_bytes(data)
    tested = subprocess.run(["unzip", "-t", str(target)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout
    assert "No errors detected" in tested.stdout


def test_links_to_files_are_read_through_and_links_to_folders_skipped(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "in")
    (folder / "link.txt").symlink_to(folder / "a.txt")
    (folder / "linkdir").symlink_to(folder / "sub")
    warnings: list[str] = []
    members = collect(folder, warnings.append)
    assert "link.txt" in [m.name for m in members]
    assert not any(m.name.startswith("linkdir") for m in members)
    assert any("linkdir" in w for w in warnings)


def test_a_file_that_changes_size_while_sent_stops_the_push(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "in")
    streamed = StreamedZip(collect(folder, print))
    (folder / "a.txt").write_bytes(b"longer now" * 1000)
    with pytest.raises(MbError, match="changed size"):
        b"".join(streamed.chunks())
