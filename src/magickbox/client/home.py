"""The client's two config files, in the original Go client's format.

- `~/.mb`: `{"Sender": <string>, "Timeout": <integer nanoseconds>}` (Go's time.Duration).
- `~/.magickbox`: a JSON array of `{"Machine": <host>, "Port": <string>, "Sender": "", "Status": null}`.
  We add two optional keys the Go client ignores: `Token` (sent as `Authorization: Bearer`) and
  `DicomPort` (for `push --via dicom`). Unknown keys are kept when the file is rewritten.

`MB_HOME` moves both files (tests, several setups side by side). Files are read whole (the
original read 1024 bytes and broke with more than about ten machines).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magickbox.client.errors import UsageError

DEFAULT_SENDER = "unknown"
DEFAULT_TIMEOUT_NS = 1_000_000_000  # 1 s, the Go client's default
NS_PER_S = 1_000_000_000

_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": NS_PER_S}
_UNITS_NS |= {"m": 60 * NS_PER_S, "h": 3600 * NS_PER_S}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def home_dir() -> Path:
    raw = os.environ.get("MB_HOME")
    return Path(raw).expanduser() if raw else Path.home()


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration ("2s", "500ms", "1m30s"), in nanoseconds. Raises UsageError."""
    value = text.strip()
    if value == "0":
        return 0
    sign = -1 if value.startswith("-") else 1
    body = value.lstrip("+-")
    position, total = 0, 0.0
    for part in _DURATION_PART.finditer(body):
        if part.start() != position:
            break
        total += float(part.group(1)) * _UNITS_NS[part.group(2)]
        position = part.end()
    if not body or position != len(body):
        raise UsageError(f"invalid duration {text!r}: use a number with a unit, e.g. 2s, 500ms, 1m30s")
    return sign * round(total)


def _fraction(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def format_duration(ns: int) -> str:
    """Go's Duration.String(): 1s, 500ms, 2m0s, 1h0m0s."""
    if ns == 0:
        return "0s"
    sign, value = ("-" if ns < 0 else ""), abs(ns)
    if value < 1_000:
        return f"{sign}{value}ns"
    if value < 1_000_000:
        return f"{sign}{_fraction(value, 1_000)}µs"
    if value < NS_PER_S:
        return f"{sign}{_fraction(value, 1_000_000)}ms"
    hours, rest = divmod(value, 3600 * NS_PER_S)
    minutes, rest = divmod(rest, 60 * NS_PER_S)
    seconds = _fraction(rest, NS_PER_S)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON ({exc}); fix or delete it") from exc


def _write_json(path: Path, value: Any, private: bool = False) -> None:
    """Atomic write (temp file + rename); 0600 when the file holds a token."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if private:
        tmp.chmod(0o600)
    os.replace(tmp, path)


@dataclass
class ClientSettings:
    """`~/.mb`. Unknown keys are kept."""

    sender: str = DEFAULT_SENDER
    timeout_ns: int = DEFAULT_TIMEOUT_NS
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def timeout_s(self) -> float:
        # A stored 0 (the Go client stored 0 for an invalid duration) would make every request
        # fail at once: fall back to the default.
        return (self.timeout_ns if self.timeout_ns > 0 else DEFAULT_TIMEOUT_NS) / NS_PER_S

    def to_json(self) -> dict[str, Any]:
        return {**self.extra, "Sender": self.sender, "Timeout": self.timeout_ns}


@dataclass
class Machine:
    """One entry of `~/.magickbox`."""

    host: str
    port: str
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def token(self) -> str | None:
        value = self.raw.get("Token")
        return value if isinstance(value, str) and value else None

    @property
    def dicom_port(self) -> int | None:
        value = self.raw.get("DicomPort")
        try:
            return int(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None

    def to_json(self) -> dict[str, Any]:
        ordered = {"Machine": self.host, "Port": self.port, "Sender": "", "Status": None}
        return {**ordered, **self.raw, "Machine": self.host, "Port": self.port}


class Home:
    """Reads and writes `.mb` and `.magickbox` in one folder (MB_HOME or the user's home)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else home_dir()
        self.settings_path = self.folder / ".mb"
        self.machines_path = self.folder / ".magickbox"

    # ---- ~/.mb ----------------------------------------------------------------------------
    def load_settings(self) -> ClientSettings:
        """The settings; a missing file is created with the defaults, which are also used at once."""
        if not self.settings_path.exists():
            settings = ClientSettings()
            self.save_settings(settings)
            return settings
        data = _read_json(self.settings_path)
        if data is None:
            return ClientSettings()
        if not isinstance(data, dict):
            raise UsageError(f'{self.settings_path} must hold a JSON object like {{"Sender": "me"}}')
        sender = data.get("Sender", DEFAULT_SENDER)
        timeout = data.get("Timeout", DEFAULT_TIMEOUT_NS)
        if not isinstance(sender, str):
            raise UsageError(f"{self.settings_path}: Sender must be a string")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise UsageError(f"{self.settings_path}: Timeout must be a number of nanoseconds")
        extra = {k: v for k, v in data.items() if k not in ("Sender", "Timeout")}
        return ClientSettings(sender=sender, timeout_ns=int(timeout), extra=extra)

    def save_settings(self, settings: ClientSettings) -> None:
        _write_json(self.settings_path, settings.to_json())

    # ---- ~/.magickbox ---------------------------------------------------------------------
    def load_machines(self) -> list[Machine]:
        if not self.machines_path.exists():
            self.save_machines([])
            return []
        data = _read_json(self.machines_path)
        if data is None:
            return []
        if not isinstance(data, list):
            raise UsageError(f'{self.machines_path} must hold a JSON array of {{"Machine", "Port"}}')
        return [self._machine(entry, index) for index, entry in enumerate(data)]

    def _machine(self, entry: Any, index: int) -> Machine:
        if not isinstance(entry, dict):
            raise UsageError(f"{self.machines_path}: entry {index + 1} is not an object")
        host, port = entry.get("Machine"), entry.get("Port")
        if not isinstance(host, str) or not host:
            raise UsageError(f'{self.machines_path}: entry {index + 1} has no "Machine"')
        if isinstance(port, int) and not isinstance(port, bool):
            port = str(port)  # hand-written files often have a number here
        if not isinstance(port, str) or not port.isdigit():
            raise UsageError(f'{self.machines_path}: entry {index + 1} ({host}) has no valid "Port"')
        return Machine(host=host, port=port, raw=dict(entry))

    def save_machines(self, machines: list[Machine]) -> None:
        private = any(machine.token for machine in machines)
        _write_json(self.machines_path, [machine.to_json() for machine in machines], private=private)
