"""A session whose OUTPUT holds a sparse file over 4 GiB downloads as a valid ZIP64 archive."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

from tests.api.conftest import Served

BIG = (4 << 30) + 4096  # just over the 32-bit limit of classic zip


def test_download_over_4_gib_is_zip64(served: Served, tmp_path: Path) -> None:
    s = served.make_session(output={"a_small.txt": b"before"})
    output = served.store.layout.output_dir(s.scratchdir)
    with (output / "big.raw").open("wb") as handle:
        handle.truncate(BIG)  # sparse: costs no disk space on the server side
    (output / "z_after.txt").write_bytes(b"after the big one")
    target = tmp_path / f"{s.scratchdir}.zip"
    url = f"{served.url}/code/php/getOutputZip.php?folder={s.scratchdir}"
    subprocess.run(["curl", "-sSf", "-o", str(target), url], check=True, timeout=600)
    try:
        assert target.stat().st_size > BIG
        with zipfile.ZipFile(target) as archive:
            sizes = {info.filename: info.file_size for info in archive.infolist()}
            assert sizes == {
                f"{s.scratchdir}/OUTPUT/a_small.txt": 6,
                f"{s.scratchdir}/OUTPUT/big.raw": BIG,
                f"{s.scratchdir}/OUTPUT/z_after.txt": 17,
            }
            # The last entry starts past 4 GiB: readable only through the ZIP64 records.
            assert archive.read(f"{s.scratchdir}/OUTPUT/z_after.txt") == b"after the big one"
        tested = subprocess.run(["unzip", "-t", str(target)], capture_output=True, text=True, timeout=600)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "No errors detected" in tested.stdout
    finally:
        target.unlink(missing_ok=True)
