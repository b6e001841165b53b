"""Putting a finished instance under its final name in INPUT/ without ever overwriting one.

A sender may send one SOP Instance UID twice in a session: a resend of the same data set (a
retry, or another sender's copy in another encoding) is stored once (the first file is kept and
processing.log says so); a different data set under the same UID is a second version and is kept
next to the first as `<uid>.2.dcm` (then `.3.dcm`...), and the session's processing.log and
info.json (`DuplicateSOPInstanceUIDs`) say so. Contents are compared only on a name collision,
so the usual case costs one rename: bytes first, then data sets (`dicom.sameset`).
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TypeAlias

from magickbox.dicom.sameset import same_data_set
from magickbox.files import write_json_atomic
from magickbox.store import ScratchLayout

log = logging.getLogger(__name__)

BLOCK = 1 << 20
MAX_VERSIONS = 1000
INFO_KEY = "DuplicateSOPInstanceUIDs"
StrPath: TypeAlias = "str | os.PathLike[str]"
_info_lock = threading.Lock()  # associations feeding one session may note at the same time


@dataclass(frozen=True)
class Placed:
    name: str  # file name in INPUT/
    new: bool  # False: the same data set was already there (the part file is dropped)


def place(part: StrPath, input_dir: StrPath, uid: str) -> Placed:
    """Move `part` into `input_dir` as `<uid>.dcm` or the next free version name; a part whose
    data set equals a stored version's (bytes, or element by element) is dropped instead."""
    part, folder = os.fspath(part), os.fspath(input_dir)
    for version in range(1, MAX_VERSIONS + 1):
        name = f"{uid}.dcm" if version == 1 else f"{uid}.{version}.dcm"
        target = os.path.join(folder, name)
        try:
            _move_unless_taken(part, target)
        except FileExistsError:
            if same_content(part, target) or same_data_set(part, target):
                os.unlink(part)
                return Placed(name, new=False)
            continue
        return Placed(name, new=True)
    raise OSError(f"more than {MAX_VERSIONS} versions of SOP Instance UID {uid}")


_LIBC = ctypes.CDLL(None, use_errno=True)
_RENAMEAT2 = getattr(_LIBC, "renameat2", None)
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_renameat2_works = _RENAMEAT2 is not None


def _move_unless_taken(part: str, target: str) -> None:
    """Rename that never replaces (FileExistsError instead): one renameat2(RENAME_NOREPLACE)
    where the file system has it (a system call and a directory update fewer per instance),
    else a hard link and an unlink."""
    global _renameat2_works  # learnt once per process
    if _renameat2_works:
        assert _RENAMEAT2 is not None
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(part), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), target)
        _renameat2_works = False
    os.link(part, target)
    os.unlink(part)


def same_content(one: str, other: str) -> bool:
    """Byte for byte equal (sizes first)."""
    if os.stat(one).st_size != os.stat(other).st_size:
        return False
    with open(one, "rb") as first, open(other, "rb") as second:
        while True:
            block = first.read(BLOCK)
            if block != second.read(BLOCK):
                return False
            if not block:
                return True


def _log_again(layout: ScratchLayout, scratchdir: str, uid: str, how: str) -> None:
    """Append to processing.log that `uid` arrived again, and `how`. Raises OSError."""
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} receive: SOP Instance UID {uid} arrived again with {how}\n"
    with layout.log_path(scratchdir).open("a", encoding="utf-8") as out:
        out.write(line)


def note_version(layout: ScratchLayout, scratchdir: str, uid: str, name: str) -> None:
    """Say in the session's processing.log and info.json that `name` is another version of `uid`."""
    try:
        _log_again(layout, scratchdir, uid, f"different contents; both kept (INPUT/{name})")
        with _info_lock:
            info_path = layout.info_path(scratchdir)
            info = json.loads(info_path.read_text(encoding="utf-8"))
            info.setdefault(INFO_KEY, []).append({"SOPInstanceUID": uid, "file": f"INPUT/{name}"})
            write_json_atomic(info_path, info)
    except (OSError, ValueError) as exc:  # the file is kept; only the note is missing
        log.error("could not note version %s of %s in %s: %s", name, uid, scratchdir, exc)
    log.warning(
        "session %s: SOP Instance UID %s received again, different: kept as %s", scratchdir, uid, name
    )


def note_resend(layout: ScratchLayout, scratchdir: str, uid: str, name: str) -> None:
    """Say in the session's processing.log that `uid` arrived again with the data set already
    stored as `name` (in these bytes or another encoding), so it was not stored twice."""
    try:
        _log_again(layout, scratchdir, uid, f"the same data set; stored once (INPUT/{name})")
    except OSError as exc:
        log.error("could not note the resend of %s in %s: %s", uid, scratchdir, exc)
