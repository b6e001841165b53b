"""`magickbox serve`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from magickbox.config import Settings, load_settings
from magickbox.server import serve

# Command-line options that stand for the setting of the same name (None: not given on the line).
SETTING_OPTIONS = ("data", "host", "dicom_port", "http_port", "ae_title", "stages")


def settings_of(args: argparse.Namespace) -> Settings:
    """The box's settings, overridden by the options in `args` that name a setting (SETTING_OPTIONS);
    a command declares only some of them (all have `--data`), the others come from file and env."""
    return load_settings(**{name: getattr(args, name, None) for name in SETTING_OPTIONS})


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="data folder (default ./magickbox-data)")


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    func: Callable[[argparse.Namespace], int],
    help: str,
) -> argparse.ArgumentParser:
    """A sub-command on the box's data folder (`--data`) that runs `func(args)`; add its own options."""
    parser = subparsers.add_parser(name, help=help)
    add_settings_options(parser)
    parser.set_defaults(func=func)
    return parser


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="start the box (DICOM receiver, processing, HTTP)")
    add_settings_options(parser)
    parser.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--dicom-port", type=int, help="DICOM port (default 11113)")
    parser.add_argument("--http-port", type=int, help="HTTP port (default 2813)")
    parser.add_argument("--ae-title", help="the box's own AE title (default MAGICKBOX)")
    parser.add_argument(
        "--stages",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        help="which stages this process runs, comma-separated: receive,run,route,keep,notify,retrieve,http"
        " (default all);"
        " processes with different stages can share one data folder",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    serve(settings_of(args))
    return 0
