"""Placing finished instances in INPUT/: never overwriting, with renameat2 and without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from magickbox.receive import versions


@pytest.fixture(params=["renameat2", "link and unlink"])
def folders(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    if request.param == "link and unlink":
        monkeypatch.setattr(versions, "_renameat2_works", False)
    elif not versions._renameat2_works:
        pytest.skip("this libc or file system has no renameat2(RENAME_NOREPLACE)")
    incoming, input_dir = tmp_path / ".incoming", tmp_path / "INPUT"
    incoming.mkdir()
    input_dir.mkdir()
    return incoming, input_dir


def part(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def test_a_new_instance_is_moved_under_its_uid(folders: tuple[Path, Path]) -> None:
    incoming, input_dir = folders
    placed = versions.place(part(incoming, "a.part", b"one"), input_dir, "1.2.3")

    assert placed == versions.Placed("1.2.3.dcm", new=True)
    assert (input_dir / "1.2.3.dcm").read_bytes() == b"one"
    assert list(incoming.iterdir()) == []


def test_a_resend_is_kept_once_and_a_different_one_as_a_second_version(folders: tuple[Path, Path]) -> None:
    incoming, input_dir = folders
    versions.place(part(incoming, "a.part", b"one"), input_dir, "1.2.3")

    again = versions.place(part(incoming, "b.part", b"one"), input_dir, "1.2.3")
    other = versions.place(part(incoming, "c.part", b"two"), input_dir, "1.2.3")

    assert again == versions.Placed("1.2.3.dcm", new=False)
    assert other == versions.Placed("1.2.3.2.dcm", new=True)
    assert (input_dir / "1.2.3.dcm").read_bytes() == b"one"  # never overwritten
    assert (input_dir / "1.2.3.2.dcm").read_bytes() == b"two"
    assert list(incoming.iterdir()) == []
