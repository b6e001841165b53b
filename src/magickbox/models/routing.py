"""`routing.json`: typed models of the original's documented format, validation and loading.

Validation happens where the file is saved (API, saveRouting.php) so a broken table never
replaces a working one; the router validates again when it reads, in case someone edited the
file by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydicom.datadict import tag_for_keyword
from pydicom.tag import BaseTag, Tag

ME = "$me"
PORT = "$port"
CALLER = "$caller"
FOLDERS = ("OUTPUT", "INPUT")
_DISABLED_WORDS = {"f", "false", "0", "no", "n", "off"}
_AE_FORBIDDEN = re.compile(r"[\\\x00-\x1f]")


class RoutingInvalid(ValueError):
    """The routing table cannot be used; `reasons` say where and why, one line each."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _compile(pattern: str) -> str:
    try:
        re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from exc
    return pattern


def parse_tag(name: str) -> BaseTag:
    """`"0008,103e"`, `"(0008,103E)"`, `"0008103E"` or a keyword such as `SeriesDescription`."""
    text = name.strip().strip("()").replace(" ", "")
    hexdigits = text.replace(",", "")
    if len(hexdigits) == 8 and all(c in "0123456789abcdefABCDEF" for c in hexdigits):
        return Tag(int(hexdigits, 16))
    number = tag_for_keyword(text)
    if number is None:
        raise ValueError(f"unknown DICOM tag {name!r} (use gggg,eeee or a keyword)")
    return Tag(number)


class Destination(BaseModel):
    """Where a matching `send` entry goes. `PORT` may be a string (as the original) or a number."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    IP: str = Field(min_length=1, max_length=253)
    PORT: str | int
    AETitleSender: str = Field(min_length=1, max_length=16)
    AETitleTo: str = Field(min_length=1, max_length=16)
    break_: bool = Field(default=False, alias="break")
    which: list[dict[str, str]] | None = None
    sendErrorAsDcm: int | bool | None = None  # accepted for old files; not implemented (see docs)

    @field_validator("IP")
    @classmethod
    def _ip_is_a_host(cls, value: str) -> str:
        if value in (ME, CALLER):
            return value
        if not re.fullmatch(r"[A-Za-z0-9.:\-_\[\]]+", value):
            raise ValueError(f"{value!r} is not a host name or IP address")
        return value

    @field_validator("PORT")
    @classmethod
    def _port_in_range(cls, value: str | int) -> str | int:
        if value == PORT:
            return value
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f'{value!r} is not a port number or "$port"') from None
        if not 1 <= number <= 65535:
            raise ValueError(f"port {number} is out of range 1-65535")
        return value

    @field_validator("AETitleSender", "AETitleTo")
    @classmethod
    def _ae_title_printable(cls, value: str) -> str:
        if _AE_FORBIDDEN.search(value) or not value.strip():
            raise ValueError(f"{value!r} is not a valid AE title (1-16 printable characters, no backslash)")
        return value

    @field_validator("break_", mode="before")
    @classmethod
    def _break_flag(cls, value: Any) -> bool:
        return _flag(value)

    @field_validator("which")
    @classmethod
    def _which_valid(cls, value: list[dict[str, str]] | None) -> list[dict[str, str]] | None:
        for group in value or []:
            if not group:
                raise ValueError("an empty object in `which` would match every file")
            for tag, pattern in group.items():
                parse_tag(tag)
                _compile(pattern)
        return value


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    description: str = ""
    status: bool = True
    enabled: bool = True
    AETitleIn: str | None = None
    AETitleFrom: str | None = None
    RouteDirectory: str = "OUTPUT"
    send: list[dict[str, Destination]] = Field(default_factory=list)
    break_: bool = Field(default=False, alias="break")

    @field_validator("status", "enabled", "break_", mode="before")
    @classmethod
    def _flags(cls, value: Any) -> bool:
        return _flag(value)

    @field_validator("AETitleIn", "AETitleFrom")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return None if value is None else _compile(value)

    @field_validator("RouteDirectory")
    @classmethod
    def _folder(cls, value: str) -> str:
        folder = value.strip().strip("/").upper()
        if folder not in FOLDERS:
            raise ValueError(f"must be OUTPUT or INPUT, not {value!r}")
        return folder

    @field_validator("send")
    @classmethod
    def _keys_are_regexes(cls, value: list[dict[str, Destination]]) -> list[dict[str, Destination]]:
        for entry in value:
            for key in entry:
                _compile(key)
        return value

    @property
    def active(self) -> bool:
        return self.status and self.enabled


class RoutingTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routing: list[Rule] = Field(default_factory=list)


def _flag(value: Any) -> bool:
    """The original used 0/1 numbers, the docs also `"F"`; accept the usual spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in _DISABLED_WORDS
    raise ValueError(f'expected 0/1, true/false or "T"/"F", not {value!r}')


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "break_":
            text += ".break"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text.lstrip(".") or "routing.json"


def validate(document: Any) -> RoutingTable:
    """The typed table, or RoutingInvalid with one reason per problem."""
    if not isinstance(document, dict):
        raise RoutingInvalid(['the top level must be an object {"routing": [...]}'])
    try:
        return RoutingTable.model_validate(document)
    except ValidationError as exc:
        reasons = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            reasons.append(f"{_where(tuple(error['loc']))}: {message}")
        raise RoutingInvalid(reasons) from None


def parse_text(text: str) -> tuple[Any, RoutingTable]:
    """Parse and validate the text of a routing file; returns the JSON value and the table."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RoutingInvalid([f"not valid JSON: {exc}"]) from None
    return document, validate(document)


def load(path: Path) -> RoutingTable | None:
    """The table in `path`, or None when there is no file (no routing). Invalid → RoutingInvalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RoutingInvalid([f"cannot read {path}: {exc}"]) from None
    return parse_text(text)[1]
