"""dcmtk's `storescu` as tests and benches run it: one argv, one way to run it.

`storescu(port, folder)` is the seed page's command (`storescu +sd +r -nh -aet MySelf -aec ProcCopy
127.0.0.1 <port> <folder>`); callers change the AE titles, the options (`options=()` for a plain
`storescu ... <file>`) or add `extra_args` (a compression to propose, `-v`). Benches that time the
send or start many senders at once build the argv with `storescu_argv` and run it themselves.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# The seed page's options: scan folders (+sd), recursively (+r), go on after a failed store (-nh).
SEED_OPTIONS = ("+sd", "+r", "-nh")


Paths = Path | str | Sequence[Path | str]


def storescu_argv(
    port: int,
    path: Paths,
    *,
    calling: str = "MySelf",
    called: str = "ProcCopy",
    options: Sequence[str] = SEED_OPTIONS,
    extra_args: Sequence[str] = (),
    host: str = "127.0.0.1",
) -> list[str]:
    """The `storescu` command line that sends `path` (a file or a folder, or a list of them) to
    `host:port`."""
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    return [
        "storescu",
        *options,
        *extra_args,
        "-aet",
        calling,
        "-aec",
        called,
        host,
        str(port),
        *map(str, paths),
    ]


def storescu(
    port: int,
    path: Paths,
    *,
    calling: str = "MySelf",
    called: str = "ProcCopy",
    options: Sequence[str] = SEED_OPTIONS,
    extra_args: Sequence[str] = (),
    host: str = "127.0.0.1",
    check: bool = False,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `storescu` to its end and return the completed process (text stdout/stderr captured).

    With `check=True` a non-zero exit raises `CalledProcessError` carrying storescu's stderr; note
    that storescu exits 0 when a store is refused with `-nh`, so tests that care look at stderr."""
    argv = storescu_argv(
        port, path, calling=calling, called=called, options=options, extra_args=extra_args, host=host
    )
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=dict(env) if env is not None else None
    )
    if check and result.returncode != 0:
        raise StorescuFailed(result.returncode, argv, result.stdout, result.stderr)
    return result


class StorescuFailed(subprocess.CalledProcessError):
    """storescu exited non-zero (`check=True`); the message ends with its stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{str(self.stderr)[-2000:]}"
