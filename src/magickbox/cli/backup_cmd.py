"""`magickbox backup TARGET`: a consistent copy of the database and the settings files, online."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from magickbox.cli.serve_cmd import add_settings_options, settings_of
from magickbox.config import TOML_NAME
from magickbox.errors import SettingsError
from magickbox.store import backup_database

# Small files of the data folder that are configuration, copied beside the database.
CONFIG_FILES = ("routing.json", "notifications.json", TOML_NAME)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "backup",
        help="copy magickbox.db (online, consistent) and the settings files into a folder;"
        " back up scratch/ and streams/ with rsync",
    )
    add_settings_options(parser)
    parser.add_argument("target", type=Path, help="folder to write (made if missing)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if not settings.db_path.is_file():
        raise SettingsError(f"no database at {settings.db_path}: is --data the box's data folder?")
    target: Path = args.target
    pages = backup_database(settings.db_path, target / "magickbox.db")
    copied = ["magickbox.db"]
    for name in CONFIG_FILES:
        if (settings.data / name).is_file():
            shutil.copy2(settings.data / name, target / name)
            copied.append(name)
    print(f"backed up {', '.join(copied)} ({pages} database pages) to {target}")
    return 0
