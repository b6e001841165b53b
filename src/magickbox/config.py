"""Settings: one typed object, built once from CLI options, environment and the data folder's TOML.

Precedence (highest first): command-line options, `MAGICKBOX_<NAME>` environment variables,
`<data>/magickbox.toml`, defaults. A bad value stops the start with a message naming it.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from magickbox.errors import SettingsError

ENV_PREFIX = "MAGICKBOX_"
TOML_NAME = "magickbox.toml"


class Settings(BaseSettings):
    """Everything the box can be told. Field names are the TOML keys and the env suffixes."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data: Path = Path("./magickbox-data")
    host: str = "0.0.0.0"
    dicom_port: int = Field(default=11113, ge=0, le=65535)
    http_port: int = Field(default=2813, ge=0, le=65535)
    ae_title: str = Field(default="MAGICKBOX", min_length=1, max_length=16)

    # Receiving
    session_settle_s: float = Field(default=2.0, ge=0)
    min_free_bytes: int = Field(default=1 << 30, ge=0)
    allowed_calling_aets: list[str] = Field(default_factory=list)
    allowed_networks: list[str] = Field(default_factory=list)
    max_pdu: int = Field(default=131072, ge=0)

    # Running buckets
    # 0: this process runs no buckets (another process on the same store does)
    max_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0)
    max_attempts: int = Field(default=2, ge=1)
    lease_s: float = Field(default=30.0, gt=0)
    scheduler_poll_s: float = Field(default=0.01, gt=0, le=5)  # idle poll of the job queue

    # Executors
    # Where buckets that say nothing about it run: on the box, or as jobs of a Slurm cluster.
    executor: Literal["local", "slurm"] = "local"
    # The data folder's path on the compute nodes, when it is mounted elsewhere there.
    slurm_data_path: Path | None = None
    slurm_poll_s: float = Field(default=1.0, gt=0, le=60)  # one `squeue` per poll for all jobs
    slurm_retry_max_s: float = Field(default=30.0, gt=0)  # longest back-off while Slurm is unreachable

    # Uploads (processZip.php, /api/v1/uploads)
    upload_max_bytes: int = Field(default=20 << 30, gt=0)
    upload_max_entries: int = Field(default=100_000, gt=0)
    upload_max_unpacked_bytes: int = Field(default=50 << 30, gt=0)

    # Access
    open_reads: bool = False

    # Other boxes this one tells `mb queryMachines` about ("host:port" of their HTTP API)
    peers: list[str] = Field(default_factory=list)

    # Routing placeholders "$me" and "$port" (the original's PARENTIP / PARENTPORT)
    route_me: str = "127.0.0.1"
    route_port: int = Field(default=11112, ge=1, le=65535)
    # Routing deliveries: exponential back-off from initial to max, give up after give_up_s
    route_retry_initial_s: float = Field(default=30.0, gt=0)
    route_retry_max_s: float = Field(default=3600.0, gt=0)
    route_give_up_s: float = Field(default=86400.0, gt=0)
    route_workers: int = Field(default=4, ge=1)
    route_timeout_s: float = Field(default=30.0, gt=0)
    route_lease_s: float = Field(default=120.0, gt=0)
    route_poll_s: float = Field(default=0.5, gt=0)

    @field_validator("ae_title")
    @classmethod
    def _ae_title_is_printable(cls, value: str) -> str:
        if value != value.strip() or not value.isprintable() or "\\" in value:
            raise ValueError("must be 1-16 printable characters without backslash or edge spaces")
        return value

    @field_validator("allowed_networks")
    @classmethod
    def _networks_parse(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    # Derived paths: one place that knows the data folder layout.
    @property
    def db_path(self) -> Path:
        return self.data / "magickbox.db"

    @property
    def scratch_dir(self) -> Path:
        return self.data / "scratch"

    @property
    def streams_dir(self) -> Path:
        return self.data / "streams"

    @property
    def logs_dir(self) -> Path:
        return self.data / "logs"

    @property
    def routing_path(self) -> Path:
        return self.data / "routing.json"


def _data_dir_from(overrides: dict[str, Any]) -> Path:
    raw = overrides.get("data") or os.environ.get(ENV_PREFIX + "DATA") or "./magickbox-data"
    return Path(raw).expanduser().resolve()


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc


def load_settings(**overrides: Any) -> Settings:
    """Build the settings. `overrides` are command-line values; None means "not given"."""
    given = {key: value for key, value in overrides.items() if value is not None}
    data = _data_dir_from(given)
    from_file = _read_toml(data / TOML_NAME)
    env_names = {key[len(ENV_PREFIX) :].lower() for key in os.environ if key.startswith(ENV_PREFIX)}
    # The file is the lowest layer: drop what env or CLI will set anyway.
    merged = {k: v for k, v in from_file.items() if k not in env_names}
    merged.update(given)
    merged["data"] = data
    try:
        return Settings(**merged)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        lines.append(f"setting '{name}': {error['msg']} (got {error.get('input')!r})")
    return "; ".join(lines)
