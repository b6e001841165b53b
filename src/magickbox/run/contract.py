"""The bucket contract: what a run gets (argv, cwd, environment) and what the box writes back.

A run gets the absolute INPUT and OUTPUT folders as its last two arguments, the MB_* variables
below, and its stdout/stderr in `processing.log`. Exit code 0 is success. The box writes
`proc.json` unless the bucket wrote a valid one itself.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from magickbox.files import write_json_atomic
from magickbox.run import container
from magickbox.run.process import RunSpec
from magickbox.store import Bucket

# A command element that is exactly this runs the box's own Python (shipped Python buckets).
PYTHON_TOKEN = "{python}"


@dataclass(frozen=True)
class RunContext:
    """Who sent the data and where it lives; everything a bucket is told about a session."""

    input_dir: Path
    output_dir: Path
    scratchdir: Path
    called_aet: str = ""
    calling_aet: str = ""
    caller_ip: str = ""
    arguments: str = ""
    job_id: int = 0


def unlinked(folder: Path) -> Path:
    """`folder` made absolute without following `folder` itself: a bucket may have made OUTPUT a
    link on an earlier run, and the run about to start must get the session's OUTPUT (which
    `prepare` makes a folder again), never the link's target."""
    return folder.parent.resolve() / folder.name


def bucket_env(bucket: Bucket, ctx: RunContext) -> dict[str, str]:
    """The MB_* variables of a run (strings; paths absolute)."""
    return {
        "MB_INPUT": str(unlinked(ctx.input_dir)),
        "MB_OUTPUT": str(unlinked(ctx.output_dir)),
        "MB_MEMORY": str(bucket.memory_dir.resolve()),
        "MB_SCRATCHDIR": str(ctx.scratchdir.resolve()),
        "MB_AETITLE_CALLED": ctx.called_aet,
        "MB_AETITLE_CALLER": ctx.calling_aet,
        "MB_CALLER_IP": ctx.caller_ip,
        "MB_ARGUMENTS": ctx.arguments,
        "MB_BUCKET": bucket.name,
        "MB_PYTHON": sys.executable,
        "MB_PROC_JSON": str(ctx.scratchdir.resolve() / "proc.json"),
        "MB_MEASURES": str(ctx.scratchdir.resolve() / "measures"),
    }


def _host_command(bucket: Bucket) -> list[str]:
    argv = [sys.executable if part == PYTHON_TOKEN else part for part in bucket.info.command]
    first = argv[0]
    # A relative program path is the bucket's own file; resolve it so cwd changes cannot matter.
    if "/" in first and not os.path.isabs(first):
        argv[0] = str((bucket.folder / first).resolve())
    return argv


def build_spec(bucket: Bucket, ctx: RunContext) -> RunSpec:
    """argv, cwd, env and timeout for one run of `bucket` (host command or container)."""
    env = bucket_env(bucket, ctx)
    inputs = [str(unlinked(ctx.input_dir)), str(unlinked(ctx.output_dir))]
    process_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    spec = bucket.info.container
    if spec is None:
        return RunSpec(
            [*_host_command(bucket), *inputs], bucket.folder.resolve(), process_env, bucket.info.timeout
        )
    name = container.container_name(ctx.scratchdir.name, ctx.job_id)
    inner = bucket.info.command if "command" in bucket.raw else container.DEFAULT_INNER_COMMAND
    argv = container.container_argv(
        spec.runtime,
        spec.image,
        input_dir=unlinked(ctx.input_dir),
        output_dir=unlinked(ctx.output_dir),
        memory_dir=bucket.memory_dir.resolve(),
        env=container.inside_env(env),
        command=inner,
        name=name,
        session_dir=ctx.scratchdir.resolve(),
        gpus=bucket.info.gpus,
        runtime_args=spec.runtime_args,
    )
    return RunSpec(
        argv,
        bucket.folder.resolve(),
        process_env,
        bucket.info.timeout,
        stop_argv=container.stop_argv(spec.runtime, name, spec.runtime_args),
    )


def bucket_wrote_proc_json(path: Path) -> bool:
    """True when `path` holds what routing can read: a JSON list whose first item has `success`."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return (
        isinstance(value, list)
        and len(value) > 0
        and isinstance(value[0], dict)
        and isinstance(value[0].get("success"), str)
    )


def write_proc_json(path: Path, success: bool, message: str) -> bool:
    """Write the box's proc.json unless the bucket wrote a valid one (its word wins). True if written."""
    if path.exists() and bucket_wrote_proc_json(path):
        return False
    write_json_atomic(path, [{"success": "success" if success else "failed", "message": message}])
    return True
