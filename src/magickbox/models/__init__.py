"""Typed models of the JSON files on disk: a bucket's info.json, a session's proc.json, and
`routing.json` (in `models.routing`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ContainerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1)
    runtime: Literal["docker", "podman", "apptainer"] = "docker"


class BucketInfo(BaseModel):
    """`streams/<name>/info.json`: the original's fields plus how we run the bucket."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    description: str = ""
    version: str = ""
    AETitle: str = Field(min_length=1, max_length=16)
    license: str = ""
    enabled: bool = False
    command: list[str] = Field(default_factory=lambda: ["./work.sh"], min_length=1)
    container: ContainerSpec | None = None
    concurrency: int = Field(default=1, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    session_settle_s: float | None = Field(default=None, ge=0)

    @field_validator("enabled", mode="before")
    @classmethod
    def _enabled_accepts_original_forms(cls, value: Any) -> bool:
        # The original wrote the number 1; PHP also accepted "1" and true.
        if value in (1, "1", True, "true"):
            return True
        if value in (0, "0", False, "false", None, ""):
            return False
        raise ValueError("must be 1, 0, true or false")

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> str:
        return str(value)


ProcOutcome = str  # "success", "failed", or a bucket's own word such as "partial"


class ProcEntry(BaseModel):
    """One element of `proc.json` (a JSON list; only the first element is used for routing)."""

    model_config = ConfigDict(extra="allow")

    success: ProcOutcome
    message: str = ""
