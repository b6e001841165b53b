"""What a session folder is called: `tmp.` + 10 letters/digits, as in the original box.

The name is part of the contract users script against (getScratch.php's `scratchdir`, the
`/scratch/<scratchdir>/` URLs), so every edge checks a name from a request with
`is_scratchdir_name` before it goes near a path; the store's scratch layout makes new names here.
"""

from __future__ import annotations

import re
import secrets
import string

PATTERN = re.compile(r"^tmp\.[A-Za-z0-9]{10}$")
_ALPHABET = string.ascii_letters + string.digits


def is_scratchdir_name(name: str) -> bool:
    """True for names the box itself makes (`tmp.` + 10 letters/digits). Guards every request path."""
    return bool(PATTERN.fullmatch(name))


def new_scratchdir_name() -> str:
    """A fresh random name (62**10 of them: the caller still makes the folder exclusively)."""
    return "tmp." + "".join(secrets.choice(_ALPHABET) for _ in range(10))
