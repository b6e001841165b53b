"""dcmtk `storescp` as a real routing destination, and helpers to compare what it received."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from magickbox.config import load_settings
from magickbox.files import write_json_atomic
from magickbox.store import SessionKey, SessionState, Store
from tests.support import sessions as factory
from tests.support.net import free_port, wait_for_port


@dataclass
class StoreSCP:
    """`storescp` on a loopback port writing what it receives to `folder`."""

    folder: Path
    port: int = field(default_factory=free_port)
    accept_all: bool = False  # +xa: also compressed transfer syntaxes
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> StoreSCP:
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = ["storescp", "-od", str(self.folder), "--fork"]
        if self.accept_all:
            argv.append("+xa")
        argv.append(str(self.port))
        log = (self.folder.parent / f"storescp-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def received(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file()) if self.folder.exists() else []

    def received_uids(self) -> set[str]:
        return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in self.received()}


def dataset_without_meta(path: Path) -> Dataset:
    """The data set as content: no file meta, no trailing padding, no group lengths (encoding)."""
    ds = pydicom.dcmread(path)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    for element in list(ds):
        if element.tag == 0xFFFCFFFC or element.tag.element == 0:
            del ds[element.tag]
    return ds


def by_uid(paths: list[Path]) -> dict[str, Dataset]:
    result = {}
    for path in paths:
        ds = dataset_without_meta(path)
        result[str(ds.SOPInstanceUID)] = ds
    return result


def assert_same_datasets(sent: list[Path], received: list[Path]) -> None:
    """Every sent file arrived once, element for element the same (file meta aside)."""
    want, got = by_uid(sent), by_uid(received)
    assert set(got) == set(want)
    for uid, ds in want.items():
        other = got[uid]
        assert [e.tag for e in ds] == [e.tag for e in other], uid
        for element in ds:
            assert other[element.tag].value == element.value, (uid, element.tag)


def make_finished_session(
    data: Path,
    output: list[Path] | None = None,
    input_: list[Path] | None = None,
    outcome: str | None = "success",
    called: str = "ProcX",
    calling: str = "CT1",
    state: str = "finished",
) -> str:
    """A session as the scheduler leaves it at the end of a bucket run, made through the store.

    `output`/`input_` files are copied into OUTPUT/ and INPUT/; `outcome` None writes no proc.json.
    Returns the scratchdir.
    """
    settings = load_settings(data=str(data))
    store = Store(settings)
    try:
        key = SessionKey(calling, called, "127.0.0.1", generate_uid())
        session = store.sessions.create_upload(key, "", "test", "", "")
        for files, folder in ((output or [], "OUTPUT"), (input_ or [], "INPUT")):
            target = store.layout.session_dir(session.scratchdir) / folder
            for index, path in enumerate(files):
                shutil.copyfile(path, target / f"{index:03d}_{path.name}")
        if outcome is not None:
            write_json_atomic(
                store.layout.proc_path(session.scratchdir), [{"success": outcome, "message": ""}]
            )
        store.sessions.seal(session.id)
        # Stand in for the scheduler: its job is taken, so a real scheduler leaves it alone.
        factory.start(store, session.id)
        factory.end(store, session.id, SessionState(state))
        return session.scratchdir
    finally:
        store.db.close()
