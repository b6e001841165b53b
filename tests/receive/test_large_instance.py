"""One large instance (300 MiB) through dcmtk's storescu into a real box: stored bit for bit,
and the box's peak resident memory stays far below the instance's size (issue 11, item 4)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.receive.helpers import all_settled, session_dir, sessions
from tests.support.bigdicom import data_set_digest, write_big_instance
from tests.support.dcmtk import storescu
from tests.support.net import wait_until

INSTANCE_MB = 300
PEAK_LIMIT_MB = 150
BIG_AET = "ProcBig"


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM from /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def test_a_300_mb_instance_is_stored_whole_without_300_mb_of_memory(box_factory: Any, tmp_path: Path) -> None:
    box = box_factory(data=tmp_path / "data", env={"MAGICKBOX_MAX_WORKERS": "0"})
    box.add_bucket("bucketBig", {"name": "Big", "AETitle": BIG_AET, "enabled": 1})
    box.start()
    sent = tmp_path / "send" / "big.dcm"
    sent.parent.mkdir()
    try:
        uid = write_big_instance(sent, INSTANCE_MB)
        assert sent.stat().st_size > INSTANCE_MB << 20

        result = storescu(box.dicom_port, sent, called=BIG_AET, options=(), timeout=300)

        assert result.returncode == 0, result.stderr
        assert box.proc is not None
        peak_mb = vm_hwm_mb(box.proc.pid)
        wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
        [session] = sessions(box)
        stored = session_dir(box, session) / "INPUT" / f"{uid}.dcm"
        assert data_set_digest(stored) == data_set_digest(sent)
        assert not (session_dir(box, session) / ".incoming").exists()
        assert peak_mb < PEAK_LIMIT_MB, f"box peak RSS {peak_mb:.0f} MiB for a {INSTANCE_MB} MiB instance"
    finally:
        shutil.rmtree(sent.parent, ignore_errors=True)
        shutil.rmtree(box.data / "scratch", ignore_errors=True)
