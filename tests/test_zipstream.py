"""Streamed zips: exact announced length for uploads, readable by zipfile and unzip, changed files,
entry-by-entry downloads that skip vanished files and links leaving the scratch folder."""

from __future__ import annotations

import io
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from magickbox.zipstream import ChangedWhileZipped, SizedZip, collect, session_files, stream_folder

FILES = {
    "a.txt": b"hello" * 100,
    "sub/dir/b.dcm": bytes(range(256)) * 300,
    "sub/empty": b"",
    "sub/ünï.txt": b"u",
}


def _tree(root: Path) -> Path:
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _check_with_unzip(data: bytes, tmp_path: Path) -> None:
    target = tmp_path / "out.zip"
    target.write_bytes(data)
    tested = subprocess.run(["unzip", "-t", str(target)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout
    assert "No errors detected" in tested.stdout


def test_sized_zip_is_valid_and_exactly_the_announced_length(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "in")
    streamed = SizedZip(collect(folder, print))
    data = b"".join(streamed.chunks())
    assert len(data) == streamed.length
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(FILES)
        for name in archive.namelist():
            assert archive.read(name) == (folder / name).read_bytes()
    _check_with_unzip(data, tmp_path)


def test_links_to_files_are_read_through_and_links_to_folders_skipped(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "in")
    (folder / "link.txt").symlink_to(folder / "a.txt")
    (folder / "linkdir").symlink_to(folder / "sub")
    warnings: list[str] = []
    members = collect(folder, warnings.append)
    assert "link.txt" in [m.name for m in members]
    assert not any(m.name.startswith("linkdir") for m in members)
    assert any("linkdir" in w for w in warnings)


@pytest.mark.parametrize("change", [b"longer now" * 1000, b"s"])
def test_a_file_that_changes_size_while_sent_stops_the_upload(tmp_path: Path, change: bytes) -> None:
    folder = _tree(tmp_path / "in")
    streamed = SizedZip(collect(folder, print))
    (folder / "a.txt").write_bytes(change)
    with pytest.raises(ChangedWhileZipped, match="changed size"):
        b"".join(streamed.chunks())


def test_download_skips_vanished_files_and_every_link(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    folder = _tree(root / "tmp.x" / "OUTPUT")
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"not yours")
    (folder / "escape.txt").symlink_to(outside)
    (folder / "inside.txt").symlink_to(folder / "a.txt")

    def entries() -> Iterator[tuple[Path, str]]:
        for path, rel in session_files(folder, root.resolve()):
            if rel == "sub/empty":
                path.unlink()  # a bucket cleaning up while the zip is produced
            yield path, rel

    data = b"".join(stream_folder(entries()))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        # No link is followed, not even one that stays inside (it may be swapped for another).
        assert names == ["a.txt", "sub/dir/b.dcm", "sub/ünï.txt"]
    _check_with_unzip(data, tmp_path)
