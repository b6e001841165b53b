"""Output: JSON as the Go client printed it, and messages on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

# Go's encoding/json escapes these inside strings; scripts comparing output byte for byte keep working.
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value: Any) -> str:
    """Pretty JSON (2 spaces, sorted keys, UTF-8 kept), `null` for None, as Go's MarshalIndent."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    # The characters can only occur inside JSON strings, so replacing them everywhere is safe.
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def print_json(value: Any) -> None:
    sys.stdout.write(go_json(value) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    print(f"mb: warning: {message}", file=sys.stderr, flush=True)


def info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
