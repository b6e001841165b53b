"""`magickbox`: the server-side command (serve, buckets, token, backup)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from magickbox import __version__
from magickbox.cli import backup_cmd, buckets_cmd, keep_cmd, pacs_cmd, serve_cmd, token_cmd
from magickbox.errors import MagickBoxError

# Each command module exposes register(subparsers); it sets `func` on its parser.
COMMAND_MODULES = [serve_cmd, buckets_cmd, token_cmd, backup_cmd, keep_cmd, pacs_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="magickbox", description="MagickBox DICOM processing box")
    parser.add_argument("--version", action="version", version=f"magickbox {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MagickBoxError as exc:
        print(f"magickbox: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
