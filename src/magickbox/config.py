"""Settings: one typed object, built once from CLI options, environment and the data folder's TOML.

Precedence (highest first): command-line options, `MAGICKBOX_<NAME>` environment variables,
`<data>/magickbox.toml`, defaults. A bad value stops the start with a message naming it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydicom.charset import python_encoding

from magickbox.errors import SettingsError

if TYPE_CHECKING:
    import httpx

ENV_PREFIX = "MAGICKBOX_"
# The TOML file of the settings being built (its folder is itself a setting, so it is known late).
_toml_file: ContextVar[Path | None] = ContextVar("magickbox_toml_file", default=None)
StageName = Literal["receive", "run", "route", "keep", "notify", "retrieve", "http"]
ALL_STAGES: tuple[StageName, ...] = ("receive", "run", "route", "keep", "notify", "retrieve", "http")
TOML_NAME = "magickbox.toml"


# The events a webhook can ask for (docs/notifications.md). disk.high and retrieval.done are
# recorded by the stages that watch the disk and fetch from a PACS (store.notifications.record).
EVENTS: tuple[str, ...] = (
    "session.finished",
    "session.failed",
    "session.incomplete",
    "delivery.failed",
    "bucket.failing",
    "batch.finished",
    "retrieval.done",
    "disk.high",
)

# Sent to one webhook (or all) by the page's "send test event" button, whatever their filters.
TEST_EVENT = "notification.test"


# A host name as the HTTP client will resolve it: ASCII labels (IDNA applied) of 1-63 characters.
_HOST_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


def check_url_syntax(value: str) -> httpx.URL:
    """The URL as the notifier's HTTP client (httpx) will send it, or ValueError: parsed by
    httpx itself (so what passes here is what is sent), http(s), with a host name the resolver
    takes. Network policy (which addresses) is `models.webhooks`' job."""
    import httpx  # here, not at the top: every process reads settings, few check a webhook URL

    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise ValueError(f"not a URL the HTTP client accepts: {exc}") from None
    if url.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    host = url.raw_host.decode("ascii", errors="replace").lower()
    if not host:
        raise ValueError("has no host")
    if ":" not in host:  # not an IPv6 literal: every label must be one the resolver takes
        labels = host.removesuffix(".").split(".")
        if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
            raise ValueError(f"host {host!r} is not a valid host name")
    return url


class Webhook(BaseModel):
    """One receiver of notifications: where, which events, which sessions, how it is signed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://[^\s]+$")
    events: list[str] = Field(default_factory=lambda: list(EVENTS))
    secret: str = Field(default="", max_length=500)  # HMAC-SHA256 key; empty: unsigned
    buckets: list[str] = Field(default_factory=list)  # empty: every bucket
    callers: list[str] = Field(default_factory=list)  # calling AE titles; empty: every sender

    @field_validator("url")
    @classmethod
    def _url_parses(cls, value: str) -> str:
        check_url_syntax(value)
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in EVENTS]
        if unknown:
            raise ValueError(f"unknown event(s) {unknown}; known: {list(EVENTS)}")
        return value


def _check_ae_title(value: str) -> str:
    if value != value.strip() or not value.isprintable() or "\\" in value:
        raise ValueError("must be 1-16 printable characters without backslash or edge spaces")
    return value


class PacsNode(BaseModel):
    """One PACS the box may query and retrieve from (docs/retrieve.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, max_length=255)
    port: int = Field(ge=1, le=65535)
    ae_title: str = Field(min_length=1, max_length=16)
    method: Literal["move", "get"] = "move"
    # Studies moved or fetched at a time; 1 by default: a clinical PACS serves people first.
    max_parallel: int = Field(default=1, ge=1, le=16)
    query_model: Literal["study", "patient"] = "study"  # the Query/Retrieve information model
    timeout_s: float = Field(default=60.0, gt=0)  # longest silence of the PACS on an association
    # SpecificCharacterSet of the box's queries; every key must be encodable in it (docs/retrieve.md).
    character_set: str = "ISO_IR 6"

    @field_validator("ae_title")
    @classmethod
    def _ae_title_ok(cls, value: str) -> str:
        return _check_ae_title(value)

    @field_validator("character_set")
    @classmethod
    def _character_set_known(cls, value: str) -> str:
        if value not in python_encoding or not value:
            raise ValueError(f"unknown SpecificCharacterSet {value!r} (e.g. ISO_IR 6, ISO_IR 192)")
        return value


class Settings(BaseSettings):
    """Everything the box can be told. Field names are the TOML keys and the env suffixes."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data: Path = Path("./magickbox-data")
    host: str = "0.0.0.0"
    dicom_port: int = Field(default=11113, ge=0, le=65535)
    http_port: int = Field(default=2813, ge=0, le=65535)
    ae_title: str = Field(default="MAGICKBOX", min_length=1, max_length=16)
    # Which stages this process runs; several processes with different stages share one data folder.
    stages: list[StageName] = Field(default_factory=lambda: list(ALL_STAGES), min_length=1)

    # Receiving
    # The study index keeps PatientName and PatientBirthDate too (false: IDs only, for sites that must)
    index_patient_names: bool = True
    session_settle_s: float = Field(default=2.0, ge=0)
    min_free_bytes: int = Field(default=1 << 30, ge=0)
    allowed_calling_aets: list[str] = Field(default_factory=list)
    allowed_networks: list[str] = Field(default_factory=list)
    max_pdu: int = Field(default=131072, ge=0)
    # Hostile peers (docs/receiving.md "Hostile peers")
    association_request_timeout_s: float = Field(default=10.0, gt=0)  # connect -> whole A-ASSOCIATE-RQ
    pdu_timeout_s: float = Field(default=30.0, gt=0)  # first byte of a PDU -> its last
    max_associations: int = Field(default=64, ge=1)  # accepted associations at a time
    max_associations_per_ip: int = Field(default=32, ge=1)
    accepted_sop_classes: list[str] = Field(default_factory=list)  # empty: every storage class
    # Series classification rules (docs/rules.md): a rule file; None: the shipped default_rules.json
    classify_rules: Path | None = None
    # Receiving processes sharing the DICOM port; 0: receive in the serve process itself
    receive_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0, le=256)

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

    # Pictures of stored files (docs/viewer.md "Limits"): beyond these a placeholder is shown and
    # nothing is decoded; a received file may declare (or inflate to) anything
    preview_max_pixels: int = Field(default=32 << 20, gt=0)  # one frame: rows x columns x samples
    preview_max_frames: int = Field(default=100_000, gt=0)  # NumberOfFrames of one instance
    preview_max_bytes: int = Field(default=256 << 20, gt=0)  # inflated data set, frame, NIfTI volume

    # HTTP edge
    # Host names the HTTP port answers to besides IP literals, localhost and this machine's
    # own names ("*.example.org" for a domain's subdomains, "*" for any: no DNS-rebinding guard)
    allowed_hosts: list[str] = Field(default_factory=list)
    http_header_timeout_s: float = Field(default=10.0, gt=0)  # a request head must be complete
    http_body_timeout_s: float = Field(default=30.0, gt=0)  # longest pause inside a request body
    http_max_connections: int = Field(default=4096, ge=1)  # beyond it, new requests get 503
    http_backlog: int = Field(default=1024, ge=1)
    api_docs: bool = False  # /docs and /redoc (their pages load scripts from a CDN)
    # Largest request body but an upload's (JSON, forms); beyond it 413 before it is read (web/bodies.py)
    http_max_body_bytes: int = Field(default=4 << 20, ge=1024)
    # Reverse proxies whose X-Forwarded-For / -Proto and Forwarded headers are believed (networks)
    trusted_proxies: list[str] = Field(default_factory=list)
    upload_max_ratio: float = Field(default=100.0, gt=0)  # unpacked : compressed, per entry and overall

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

    # Notifications (docs/notifications.md): webhooks besides those of <data>/notifications.json
    notifications: list[Webhook] = Field(default_factory=list)
    notify_retry_initial_s: float = Field(default=5.0, gt=0)
    notify_retry_max_s: float = Field(default=600.0, gt=0)
    notify_give_up_s: float = Field(default=86400.0, gt=0)
    notify_timeout_s: float = Field(default=10.0, gt=0)
    notify_poll_s: float = Field(default=0.5, gt=0, le=60)
    notify_failing_after: int = Field(default=3, ge=1)  # bucket.failing after this many failures in a row
    # Networks (CIDR) a webhook may reach although they are refused by default: link-local and
    # cloud metadata addresses (docs/security.md, hostile webhook targets).
    webhook_allow_networks: list[str] = Field(default_factory=list)

    # Retention (docs/retention.md): what housekeeping deletes on its own
    retention_days: float = Field(default=0.0, ge=0)  # ended sessions older than this go; 0 = never
    disk_high_percent: float = Field(default=90.0, gt=0, le=100)  # used space past this: delete oldest
    disk_low_percent: float = Field(default=80.0, ge=0, lt=100)  # ... until used space is under this
    cleanup_interval_s: float = Field(default=60.0, gt=0)  # how often the sweep runs
    audit_days: float = Field(default=365.0, ge=0)  # audit entries older than this go; 0 = never

    # Retrieval (docs/retrieve.md): named PACS nodes the box queries (C-FIND) and retrieves from
    pacs: dict[str, PacsNode] = Field(default_factory=dict)

    @field_validator("pacs")
    @classmethod
    def _pacs_names(cls, value: dict[str, PacsNode]) -> dict[str, PacsNode]:
        bad = [name for name in value if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name)]
        if bad:
            raise ValueError(f"PACS names must be 1-64 letters, digits, '_', '.' or '-': {bad}")
        return value

    @model_validator(mode="after")
    def _low_under_high(self) -> Settings:
        if self.disk_low_percent >= self.disk_high_percent:
            raise ValueError(
                f"disk_low_percent ({self.disk_low_percent}) must be under disk_high_percent"
                f" ({self.disk_high_percent})"
            )
        return self

    @field_validator("ae_title")
    @classmethod
    def _ae_title_is_printable(cls, value: str) -> str:
        return _check_ae_title(value)

    @field_validator("allowed_networks", "webhook_allow_networks", "trusted_proxies")
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
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _toml_file.get()
        if toml_file is not None and toml_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

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

    @property
    def notifications_path(self) -> Path:
        return self.data / "notifications.json"


def _data_dir_from(overrides: dict[str, Any]) -> Path:
    raw = overrides.get("data") or os.environ.get(ENV_PREFIX + "DATA") or "./magickbox-data"
    return Path(raw).expanduser().resolve()


def load_settings(**overrides: Any) -> Settings:
    """Build the settings. `overrides` are command-line values; None means "not given"."""
    given = {key: value for key, value in overrides.items() if value is not None}
    data = _data_dir_from(given)
    token = _toml_file.set(data / TOML_NAME)
    try:
        return Settings(**{**given, "data": data})
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{data / TOML_NAME}: not valid TOML: {exc}") from exc
    finally:
        _toml_file.reset(token)


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        lines.append(f"setting '{name}': {error['msg']} (got {error.get('input')!r})")
    return "; ".join(lines)
