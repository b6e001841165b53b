"""Typed models of the JSON files on disk: a bucket's info.json, a session's proc.json, and
`routing.json` (in `models.routing`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ContainerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1)
    runtime: Literal["docker", "podman", "apptainer"] = "docker"
    # Global options of the runtime, placed before `run` (e.g. podman's --root/--runroot).
    runtime_args: list[str] = Field(default_factory=list)


RESERVED_SBATCH_OPTIONS = frozenset(
    {"--job-name", "--output", "--error", "--open-mode", "--chdir", "--export", "--parsable", "--wrap"}
)


class SlurmSpec(BaseModel):
    """A bucket's `"slurm"` object: what its jobs ask the cluster for. Empty = the cluster's defaults."""

    model_config = ConfigDict(extra="forbid")

    partition: str | None = None
    cpus: int | None = Field(default=None, ge=1)
    mem: str | None = Field(default=None, pattern=r"^[0-9]+[KMGT]?$")
    time: str | None = Field(default=None, min_length=1)  # Slurm's own forms: "04:00:00", "1-00:00:00"
    gres: str | None = None
    account: str | None = None
    qos: str | None = None
    sbatch_args: list[str] = Field(default_factory=list)

    @field_validator("sbatch_args")
    @classmethod
    def _options_only(cls, value: list[str]) -> list[str]:
        # The box owns the job name, output file and script; a bucket adds options, not a command.
        for arg in value:
            if not arg.startswith("--") or arg.split("=")[0] in RESERVED_SBATCH_OPTIONS:
                raise ValueError(
                    f"{arg!r}: only --option=value forms, and not {sorted(RESERVED_SBATCH_OPTIONS)}"
                )
        return value


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
    # Where the job runs: a Slurm spec, False (always on the box), or None (the box's `executor`).
    slurm: SlurmSpec | Literal[False] | None = None
    gpus: Literal["all"] | int | None = Field(default=None)
    # Retention of this bucket's sessions (docs/retention.md); None: the box's `retention_days`.
    retention_days: float | None = Field(default=None, ge=0)
    trim_input_days: float | None = Field(default=None, gt=0)  # INPUT of finished sessions goes earlier

    @field_validator("slurm", mode="before")
    @classmethod
    def _slurm_true_means_defaults(cls, value: Any) -> Any:
        return {} if value is True else value

    @field_validator("gpus")
    @classmethod
    def _gpus_positive(cls, value: Literal["all"] | int | None) -> Literal["all"] | int | None:
        if isinstance(value, int) and value < 1:
            raise ValueError('must be "all" or a number >= 1')
        return value

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
