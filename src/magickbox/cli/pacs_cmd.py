"""`magickbox pacs list` and `magickbox pacs echo NAME`: the PACS nodes of setting `pacs`."""

from __future__ import annotations

import argparse
import json

from magickbox.cli.serve_cmd import add_command, settings_of
from magickbox.config import Settings
from magickbox.dicom.qr import PacsUnreachable, echo
from magickbox.errors import NotFound


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pacs = subparsers.add_parser("pacs", help="the PACS nodes the box retrieves from (setting pacs)")
    commands = pacs.add_subparsers(dest="pacs_command", required=True)
    add_command(commands, "list", run_list, help="print the configured PACS nodes as JSON")
    ping = add_command(
        commands, "echo", run_echo, help="C-ECHO a PACS with the box's AE title; exit 1 if it fails"
    )
    ping.add_argument("name", help="the PACS's name in setting pacs")


def pacs_node_json(settings: Settings) -> dict[str, object]:
    """The PACS nodes as JSON (what the API and this command print)."""
    return {name: node.model_dump() for name, node in sorted(settings.pacs.items())}


def run_list(args: argparse.Namespace) -> int:
    print(json.dumps(pacs_node_json(settings_of(args)), indent=2))
    return 0


def run_echo(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    node = settings.pacs.get(args.name)
    if node is None:
        raise NotFound(f"no PACS {args.name!r} in setting pacs (known: {sorted(settings.pacs)})")
    where = f"{node.ae_title}@{node.host}:{node.port}"
    try:
        status = echo(node, settings.ae_title)
    except PacsUnreachable as exc:
        print(f"{args.name}: C-ECHO failed: {exc}")
        return 1
    print(f"{args.name} ({where}): C-ECHO status 0x{status:04X}{' (success)' if status == 0 else ''}")
    return 0 if status == 0 else 1
