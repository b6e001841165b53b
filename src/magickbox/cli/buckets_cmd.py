"""`magickbox buckets list | create NAME | run NAME INPUT OUTPUT | enable NAME | disable NAME`."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from magickbox.cli.serve_cmd import add_command, settings_of
from magickbox.config import Settings
from magickbox.errors import Conflict, InvalidInput, NotFound
from magickbox.files import write_json_atomic
from magickbox.run import process
from magickbox.run.contract import RunContext, build_spec, write_proc_json
from magickbox.store import Bucket, BucketLoad, Store, load_bucket, load_catalog, set_enabled

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")

WORK_SH = """#!/bin/sh
# work.sh of the bucket {name}: MagickBox runs it for every session sent to AE title {name}.
#
# Arguments: $1 = INPUT folder (the received DICOM files, read it, do not change it)
#            $2 = OUTPUT folder (write your results here; routing sends them on)
# Environment: MB_INPUT, MB_OUTPUT, MB_MEMORY (a folder kept between runs),
#              MB_SCRATCHDIR (the session folder), MB_AETITLE_CALLED, MB_AETITLE_CALLER,
#              MB_CALLER_IP, MB_ARGUMENTS (what an upload passed as `arguments`).
# Everything printed goes into the session's processing.log while it runs.
# Exit 0 for success; any other exit code marks the session failed. To report something else
# (e.g. "partial"), write $MB_SCRATCHDIR/proc.json yourself:
#     [{{"success": "partial", "message": "3 of 4 series converted"}}]
# Try it without a server: magickbox buckets run {name} some/input/folder some/output/folder
set -eu
input=$1
output=$2
echo "{name}: processing $input"
# Replace this line with your pipeline; this template copies the data unchanged.
cp -R -- "$input/." "$output/"
echo "{name}: done"
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("buckets", help="list, create, run, enable and disable buckets")
    commands = parser.add_subparsers(dest="buckets_command", required=True)
    listing = add_command(
        commands, "list", run_list, help="the buckets in <data>/streams, invalid ones with why"
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    create = add_command(
        commands, "create", run_create, help="scaffold a bucket folder with info.json and work.sh"
    )
    create.add_argument("name", help="folder name and AE title (1-16 letters, digits, _ or -)")
    run = add_command(commands, "run", run_run, help="run a bucket on local folders, without a server")
    run.add_argument("name", help="bucket folder name")
    run.add_argument("input", type=Path, help="folder with the input files")
    run.add_argument("output", type=Path, help="folder for the results (created if missing)")
    run.add_argument("--arguments", default="", help="passed to the bucket as MB_ARGUMENTS")
    for verb, value in (("enable", True), ("disable", False)):
        toggle = add_command(commands, verb, run_toggle, help=f"{verb} a bucket (edits its info.json)")
        toggle.add_argument("name", help="bucket folder name")
        toggle.set_defaults(enabled=value)


def _bucket_folder(settings: Settings, name: str) -> Path:
    if not NAME_PATTERN.fullmatch(name) and not (settings.streams_dir / name).is_dir():
        raise InvalidInput(f"{name!r} is not a bucket name (1-16 letters, digits, _ or -)")
    folder = settings.streams_dir / name
    if not folder.is_dir():
        raise NotFound(f"no bucket {name!r} in {settings.streams_dir}")
    return folder


def run_list(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    catalog = load_catalog(settings.streams_dir, settings.executor)
    load = _queue_load(settings)
    rows = [_describe(b, load.get(b.name, BucketLoad())) for b in catalog.valid]
    rows += [{"bucket": b.name, "valid": False, "reason": b.reason} for b in catalog.invalid]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no buckets in {settings.streams_dir} (magickbox serve installs the shipped ones)")
        return 0
    print(f"{'BUCKET':<18} {'AETITLE':<17} {'ENABLED':<8} {'CONC':<5} {'QUEUED':<7} {'RUNNING':<8} RUNS")
    for row in rows:
        if not row["valid"]:
            print(f"{row['bucket']:<18} INVALID: {row['reason']}")
            continue
        print(
            f"{row['bucket']:<18} {row['AETitle']:<17} {'yes' if row['enabled'] else 'no':<8}"
            f" {row['concurrency']:<5} {row['queued']:<7} {row['running']:<8} {row['runs']}"
        )
    return 0


def _queue_load(settings: Settings) -> dict[str, BucketLoad]:
    """Queued and running jobs per bucket, if this data folder has a store yet."""
    if not settings.db_path.exists():
        return {}
    with Store(settings).connection() as store:
        return store.jobs.load()


def _describe(bucket: Bucket, load: BucketLoad) -> dict[str, object]:
    info = bucket.info
    runs = (
        f"{info.container.runtime} image {info.container.image}" if info.container else " ".join(info.command)
    )
    return {
        "bucket": bucket.name,
        "valid": True,
        "name": info.name,
        "AETitle": info.AETitle,
        "enabled": info.enabled,
        "concurrency": info.concurrency,
        "timeout": info.timeout,
        "runs": runs,
        "queued": load.queued,
        "running": load.running,
        "description": info.description,
    }


def run_create(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    name: str = args.name
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(f"{name!r}: use 1-16 letters, digits, _ or - (it is also the AE title)")
    folder = settings.streams_dir / name
    if folder.exists():
        raise Conflict(f"{folder} exists already")
    settings.streams_dir.mkdir(parents=True, exist_ok=True)
    folder.mkdir()
    (folder / "memory").mkdir()
    info = {
        "name": name,
        "description": f"{name}: describe what this bucket does",
        "version": "0.1",
        "AETitle": name,
        "license": "",
        "enabled": 1,
        "command": ["./work.sh"],
        "concurrency": 1,
    }
    write_json_atomic(folder / "info.json", info)
    work = folder / "work.sh"
    work.write_text(WORK_SH.format(name=name))
    work.chmod(0o755)
    print(f"created {folder}: edit work.sh, then try: magickbox buckets run {name} INPUT OUTPUT")
    return 0


def run_run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    folder = _bucket_folder(settings, args.name)
    try:
        bucket = load_bucket(folder)
    except ValueError as exc:
        raise InvalidInput(f"bucket {args.name!r} is not valid: {exc}") from exc
    source: Path = args.input.resolve()
    if not source.is_dir():
        raise NotFound(f"input folder {source} does not exist")
    target: Path = args.output.resolve()
    target.mkdir(parents=True, exist_ok=True)
    bucket.memory_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="magickbox-run-") as scratch:
        ctx = RunContext(
            input_dir=source,
            output_dir=target,
            scratchdir=Path(scratch),
            called_aet=bucket.info.AETitle,
            calling_aet="LOCAL",
            caller_ip="127.0.0.1",
            arguments=args.arguments,
        )
        sys.stdout.flush()
        result = process.run_process(build_spec(bucket, ctx), sys.stdout.fileno())
        proc_json = Path(scratch) / "proc.json"
        write_proc_json(proc_json, result.outcome == process.SUCCESS, result.message)
        print(f"{bucket.name}: {result.outcome} ({result.message})", file=sys.stderr)
        print(f"proc.json: {proc_json.read_text().strip()}", file=sys.stderr)
    if result.outcome == process.SUCCESS:
        return 0
    return result.exit_code if result.exit_code and result.exit_code > 0 else 1


def run_toggle(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    folder = _bucket_folder(settings, args.name)
    try:
        set_enabled(folder.parent, folder.name, args.enabled)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    print(f"{args.name}: {'enabled' if args.enabled else 'disabled'}")
    return 0
