"""The payload side of the store: session folders under `scratch/`, written atomically."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from magickbox.files import write_json_atomic
from magickbox.scratchdir import is_scratchdir_name, new_scratchdir_name

INCOMING = ".incoming"  # temporary files of instances being received; never inside INPUT/
# A session folder being deleted: emptied at once (frees space), removed once its records are gone.
TOMBSTONE_PREFIX = ".deleted."


class ScratchLayout:
    """Knows where each part of a session lives on disk."""

    def __init__(self, scratch_root: Path) -> None:
        self.root = scratch_root
        self.root.mkdir(parents=True, exist_ok=True)

    def session_dir(self, scratchdir: str) -> Path:
        if not is_scratchdir_name(scratchdir):
            raise ValueError(f"not a session folder name: {scratchdir!r}")
        return self.root / scratchdir

    def input_dir(self, scratchdir: str) -> Path:
        return self.session_dir(scratchdir) / "INPUT"

    def output_dir(self, scratchdir: str) -> Path:
        return self.session_dir(scratchdir) / "OUTPUT"

    def incoming_dir(self, scratchdir: str) -> Path:
        return self.session_dir(scratchdir) / INCOMING

    def log_path(self, scratchdir: str) -> Path:
        return self.session_dir(scratchdir) / "processing.log"

    def proc_path(self, scratchdir: str) -> Path:
        return self.session_dir(scratchdir) / "proc.json"

    def info_path(self, scratchdir: str) -> Path:
        return self.session_dir(scratchdir) / "info.json"

    def create_session_dir(self, info: dict[str, str]) -> str:
        """Make a new `tmp.XXXXXXXXXX` with INPUT/, OUTPUT/ and info.json; return its name."""
        while True:
            name = new_scratchdir_name()
            try:
                (self.root / name).mkdir()
            except FileExistsError:
                continue
            break
        self.input_dir(name).mkdir()
        self.output_dir(name).mkdir()
        write_json_atomic(self.info_path(name), info)
        return name

    def remove_session_dir(self, scratchdir: str) -> None:
        shutil.rmtree(self.session_dir(scratchdir), ignore_errors=True)

    def tombstone(self, scratchdir: str) -> Path:
        """Where a session folder waits, empty, until the store has forgotten the session."""
        return self.root / (TOMBSTONE_PREFIX + self.session_dir(scratchdir).name)

    def empty_into_tombstone(self, scratchdir: str) -> None:
        """Rename the session folder to its tombstone and empty it: frees the space without a write.

        Renaming and unlinking need no free space, so this works on a full disk; the empty
        tombstone tells a restart that the session's records still have to go.
        """
        folder, tomb = self.session_dir(scratchdir), self.tombstone(scratchdir)
        if folder.exists() and tomb.exists():
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.exists():
            os.replace(folder, tomb)
        if not tomb.is_dir():
            return
        for entry in tomb.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def tombstoned(self) -> list[str]:
        """The scratchdirs whose deletion a restart must finish."""
        names = (p.name[len(TOMBSTONE_PREFIX) :] for p in self.root.glob(TOMBSTONE_PREFIX + "*"))
        return [name for name in names if is_scratchdir_name(name)]

    def remove_tombstone(self, scratchdir: str) -> None:
        shutil.rmtree(self.tombstone(scratchdir), ignore_errors=True)

    def clear_temporaries(self, scratchdir: str) -> None:
        """Drop the temporary files of JSON writes that a crash interrupted (`.<name>.<hex>.tmp`)."""
        folder = self.session_dir(scratchdir)
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)

    def remove_orphans(self, known: set[str]) -> list[str]:
        """Remove session folders the database does not know and that hold no received data.

        A crash between making a folder and committing its row leaves such a folder behind; it was
        never visible to anyone. A folder that does hold files is kept (and logged by the caller).
        """
        removed = []
        for folder in self.root.iterdir():
            if folder.name in known or not is_scratchdir_name(folder.name) or not folder.is_dir():
                continue
            received = folder / "INPUT"
            if received.is_dir() and any(received.iterdir()):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
        return removed

    def clear_incoming(self, scratchdir: str) -> None:
        """Drop half-received instances (after an abort or a crash)."""
        shutil.rmtree(self.incoming_dir(scratchdir), ignore_errors=True)
