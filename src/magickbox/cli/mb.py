"""`mb`: the client for many sessions on many boxes.

The commands, aliases and config files (`~/.mb`, `~/.magickbox`) of the original Go client,
plus `wait`; see docs/mb.md. Results go to stdout (JSON ready for jq), messages to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from magickbox import __version__
from magickbox.client import commands
from magickbox.client.context import Context
from magickbox.client.errors import MbError, UsageError
from magickbox.client.match import compile_regex

Handler = Callable[[Context, argparse.Namespace], int]
if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _regex(args: argparse.Namespace, default: str | None = ".*") -> str:
    value: str | None = args.regex
    if value is None:
        if default is None:
            raise UsageError(
                f"'mb {args.command}' needs a regular expression, e.g. 'mb {args.command} <sender>'"
            )
        value = default
    return value


def _list(context: Context, args: argparse.Namespace) -> int:
    return commands.cmd_list(context, compile_regex(_regex(args)))


def _log(context: Context, args: argparse.Namespace) -> int:
    return commands.cmd_log(context, compile_regex(_regex(args)))


def _pull(context: Context, args: argparse.Namespace) -> int:
    from magickbox.client.pull import pull

    kind = "input" if args.command in ("pull-input", "pi") else "output"
    return pull(context, compile_regex(_regex(args, None)), kind, args.jobs, Path(args.into))


def _push(context: Context, args: argparse.Namespace) -> int:
    from magickbox.client.push import push

    return push(context, args.aetitle, args.paths, args.arguments, args.via, args.dicom_port)


def _remove(context: Context, args: argparse.Namespace) -> int:
    from magickbox.client.remove import remove

    return remove(context, compile_regex(_regex(args, None)), args.yes)


def _keep(context: Context, args: argparse.Namespace) -> int:
    from magickbox.client.keep import keep

    return keep(context, compile_regex(_regex(args, None)), args.command == "keep")


def _wait(context: Context, args: argparse.Namespace) -> int:
    from magickbox.client.wait import wait

    return wait(context, compile_regex(_regex(args, None)), args.interval, args.timeout)


def _retrieve(context: Context, args: argparse.Namespace) -> int:
    from magickbox.client.retrieve import read_keys, retrieve

    kinds = [bool(args.accession or args.accession_file), bool(args.study_uid), bool(args.patient_id)]
    if sum(kinds) != 1:
        raise UsageError("give one kind of key: --accession/--accession-file, --study-uid or --patient-id")
    key_type = ("accession", "study_uid", "patient_id")[kinds.index(True)]
    keys = read_keys(args.accession or args.study_uid or args.patient_id, args.accession_file)
    body = {"pacs": args.pacs, "bucket": args.bucket, "keys": keys, "key_type": key_type}
    optional = {"study_date_from": args.date_from, "study_date_to": args.date_to, "modality": args.modality,
                "method": args.method, "destination": args.destination}  # fmt: skip
    body.update({name: value for name, value in optional.items() if value})
    return retrieve(context, body, wait=args.wait, interval=args.interval)


def _compute_modules(context: Context, args: argparse.Namespace) -> int:
    regex = compile_regex(args.regex) if args.regex is not None else None
    return commands.cmd_compute_modules(context, regex)


def _active_machines(context: Context, args: argparse.Namespace) -> int:
    if args.action not in (None, "add", "rm"):
        raise UsageError(f"unknown action {args.action!r}: use 'add <host> <port>' or 'rm <host> <port>'")
    return commands.cmd_active_machines(
        context, args.action, args.host, args.port, args.token, args.dicom_port
    )


def _query_machines(context: Context, args: argparse.Namespace) -> int:
    words = " ".join(args.words)
    if words not in ("", "with status"):
        raise UsageError("usage: mb queryMachines [with status]")
    return commands.cmd_query_machines(context, words == "with status")


def _set_sender(context: Context, args: argparse.Namespace) -> int:
    return commands.cmd_set_sender(context, args.sender)


def _set_setting(context: Context, args: argparse.Namespace) -> int:
    return commands.cmd_set_setting(context, args.name, args.value)


def _add_regex(parser: argparse.ArgumentParser, required: bool) -> None:
    help_text = "regular expression searched in every string field of a session"
    parser.add_argument("regex", nargs=None if required else "?", help=help_text)
    parser.add_argument(
        "--find",
        metavar="TEXT",
        help="only sessions the box's study index finds: any part of PatientID, PatientName,"
        " AccessionNumber, StudyDescription, Study UID, AE titles (MagickBox (Python) boxes)",
    )


def _command(
    sub: SubParsers,
    name: str,
    aliases: list[str],
    help_text: str,
    handler: Handler,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, aliases=aliases, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mb",
        description="MagickBox client: push folders to boxes, follow, pull and remove sessions.",
        epilog="Config files: $MB_HOME/.mb and $MB_HOME/.magickbox (MB_HOME defaults to your home).",
    )
    parser.add_argument("-v", "--version", action="version", version=f"mb version {__version__}")
    parser.add_argument(
        "--config-sender",
        nargs="?",
        const="",
        metavar="SENDER",
        help="set the sender (or show it without a value)",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    _session_commands(sub)
    _config_commands(sub)
    helper = sub.add_parser("help", aliases=["h"], help="show help for a command")
    helper.add_argument("topic", nargs="?")
    return parser


def _session_commands(sub: SubParsers) -> None:
    _add_regex(_command(sub, "list", ["l"], "list the sessions of all active boxes", _list), False)
    _add_regex(_command(sub, "log", [], "list sessions with their processing.log", _log), False)
    for name, alias, what in (("pull", "g", "output"), ("pull-input", "pi", "input")):
        pull = _command(sub, name, [alias], f"download the {what} of matching sessions as zip files", _pull)
        _add_regex(pull, False)
        pull.add_argument("-j", "--jobs", type=int, default=4, help="downloads at the same time (default 4)")
        pull.add_argument("--into", default=".", help="folder for the zip files (default: here)")
    push = _command(sub, "push", ["p"], "send folders for processing, one session per folder", _push)
    push.add_argument("aetitle", help="the bucket's AE title, e.g. ProcX")
    push.add_argument(
        "paths", nargs="+", metavar="dir", help="folders; a last word that is no folder is the arguments"
    )
    push.add_argument("--arguments", help="arguments for the bucket (as the original's third word)")
    push.add_argument(
        "--via", choices=("http", "dicom"), default="http", help="upload a zip (default) or C-STORE"
    )
    push.add_argument("--dicom-port", type=int, help="the box's DICOM port for --via dicom")
    remove = _command(sub, "remove", ["r"], "delete matching sessions", _remove)
    _add_regex(remove, False)
    remove.add_argument(
        "-y", "--yes", action="store_true", help="do not ask before removing several sessions"
    )
    for name, what in (
        ("keep", "keep matching sessions: housekeeping never deletes them"),
        ("unkeep", "release kept sessions: housekeeping may delete them again"),
    ):
        _add_regex(_command(sub, name, [], what, _keep), False)  # fmt: skip
    _retrieve_command(sub)
    wait = _command(sub, "wait", [], "wait until every matching session has ended", _wait)
    _add_regex(wait, False)
    wait.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    wait.add_argument("--timeout", type=float, help="give up after this many seconds")


def _retrieve_command(sub: SubParsers) -> None:
    what = "fetch studies from a PACS the box knows into a bucket (first active box), one session each"
    retrieve = _command(sub, "retrieve", [], what, _retrieve)
    retrieve.add_argument("bucket", help="the bucket's name or AE title, e.g. ProcX")
    retrieve.add_argument(
        "--from", dest="pacs", required=True, help="the PACS's name in the box's setting pacs"
    )
    retrieve.add_argument("--accession", nargs="+", help="AccessionNumbers")
    retrieve.add_argument("--accession-file", action="append", help="a file of AccessionNumbers, one a line")
    retrieve.add_argument("--study-uid", nargs="+", help="StudyInstanceUIDs")
    retrieve.add_argument("--patient-id", nargs="+", help="PatientIDs (every study of each patient)")
    retrieve.add_argument("--date-from", help="only studies on or after this StudyDate (YYYYMMDD)")
    retrieve.add_argument("--date-to", help="only studies on or before this StudyDate (YYYYMMDD)")
    retrieve.add_argument("--modality", help="only studies with this modality, e.g. MR")
    retrieve.add_argument("--method", choices=("move", "get"), help="default: the PACS's method")
    retrieve.add_argument(
        "--destination", choices=("box", "bucket"), help="C-MOVE to the box's AE title (default)"
    )
    retrieve.add_argument("--wait", action="store_true", help="wait until the retrieval has ended")
    retrieve.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")


def _config_commands(sub: SubParsers) -> None:
    _add_regex(
        _command(sub, "computeModules", ["c"], "list the buckets of all active boxes", _compute_modules),
        False,
    )
    active = _command(sub, "activeMachines", ["a"], "show, add or remove active boxes", _active_machines)
    active.add_argument("action", nargs="?", help="add or rm")
    active.add_argument("host", nargs="?")
    active.add_argument("port", nargs="?")
    active.add_argument("--token", help="API token for this box (sent as Authorization: Bearer)")
    active.add_argument("--dicom-port", type=int, help="DICOM port of this box (for push --via dicom)")
    sender = _command(
        sub, "setSender", ["w"], "show or set the sender (AETitleCaller of pushes)", _set_sender
    )
    sender.add_argument("sender", nargs="?")
    setting = _command(sub, "setSetting", [], "show or set Sender or Timeout (e.g. 2s)", _set_setting)
    setting.add_argument("name", nargs="?")
    setting.add_argument("value", nargs="?")
    query = _command(
        sub, "queryMachines", ["q"], "list the boxes that the active boxes know", _query_machines
    )
    query.add_argument("words", nargs="*", help="'with status' adds each box's queue status")


def _help(parser: argparse.ArgumentParser, topic: str | None) -> int:
    if topic is None:
        parser.print_help()
        return 0
    try:
        parser.parse_args([topic, "--help"])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("help", "h"):
        return _help(parser, args.topic)
    if args.command is None:
        if args.config_sender is None:
            parser.print_help()
            return 0
        context = Context.load()
        return commands.cmd_set_sender(context, args.config_sender or None)
    handler: Handler = args.handler
    context = Context.load()
    context.find = getattr(args, "find", None)
    return handler(context, args)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except MbError as exc:
        print(f"mb: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("mb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mb list | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
