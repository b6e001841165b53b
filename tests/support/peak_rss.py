"""Run a program and learn its own peak resident memory (used by tests and bench scripts).

The program is forked from a fresh, small interpreter and measured with wait4(): a child forked
from pytest or a bench script itself would report that process's resident size as its peak
(Linux keeps the old peak across fork + exec).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\nMAXRSS_KB={usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_kb: int
    returncode: int
    stdout: str
    stderr: str


def run_measured(argv: list[str], env: dict[str, str], cwd: Path, timeout: float | None = None) -> Measured:
    """Run `argv` (found on PATH unless it is a path) to its end: wall time, peak RSS, outputs."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    elapsed = time.perf_counter() - start
    match = re.search(r"MAXRSS_KB=(\d+)", result.stderr)
    assert match, result.stderr
    return Measured(elapsed, int(match.group(1)), result.returncode, result.stdout, result.stderr)
