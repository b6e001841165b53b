"""The bucket catalog: `streams/<name>/info.json` read and validated, one bad bucket never hides others."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from magickbox.files import write_json_atomic
from magickbox.models import BucketInfo, SlurmSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bucket:
    folder: Path
    info: BucketInfo
    raw: dict[str, object]  # the file's JSON as written (getInstalledBuckets.php returns it)

    @property
    def name(self) -> str:
        """The folder name: the bucket's identity in the store (jobs, sessions)."""
        return self.folder.name

    @property
    def memory_dir(self) -> Path:
        return self.folder / "memory"


@dataclass(frozen=True)
class InvalidBucket:
    folder: Path
    reason: str

    @property
    def name(self) -> str:
        return self.folder.name


@dataclass(frozen=True)
class Catalog:
    valid: list[Bucket]
    invalid: list[InvalidBucket]

    def for_called_aet(self, called_aet: str) -> Bucket | None:
        """The first enabled bucket, in folder-name order, whose AETitle equals the called AE title."""
        for bucket in self.valid:
            if bucket.info.enabled and bucket.info.AETitle == called_aet:
                return bucket
        return None

    def by_name(self, name: str) -> Bucket | None:
        return next((b for b in self.valid if b.name == name), None)


def load_bucket(folder: Path) -> Bucket:
    """Read one bucket folder; raises ValueError with a readable reason when it is not usable."""
    info_path = folder / "info.json"
    try:
        raw = json.loads(info_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError("no info.json") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"info.json is not readable JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError("info.json must hold a JSON object")
    try:
        info = BucketInfo.model_validate(raw)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'info.json'}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(reasons) from exc
    return Bucket(folder=folder, info=info, raw=raw)


def set_enabled(streams_dir: Path, name: str, enabled: bool) -> None:
    """Write `enabled` into `streams/<name>/info.json` atomically, every other key kept as written.

    The value is the original's number form (1/0). Raises ValueError with a readable reason when
    the file is not a JSON object; the caller has checked that the bucket folder exists.
    """
    path = streams_dir / name / "info.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must hold a JSON object")
    raw["enabled"] = 1 if enabled else 0
    write_json_atomic(path, raw)


def slurm_spec(info: BucketInfo, default_executor: str = "local") -> SlurmSpec | None:
    """What a bucket's jobs ask Slurm for, or None when they run on the box.

    `"slurm": {...}` opts in, `"slurm": false` opts out; a bucket that says nothing follows the
    box's `executor` setting (then with the cluster's defaults).
    """
    if info.slurm is False:
        return None
    if info.slurm is None:
        return SlurmSpec() if default_executor == "slurm" else None
    return info.slurm


def executor_problem(info: BucketInfo, default_executor: str = "local") -> str | None:
    """Why this bucket's jobs cannot be run from this box at all (a missing Slurm client)."""
    if slurm_spec(info, default_executor) is None:
        return None
    missing = [name for name in ("sbatch", "squeue", "scontrol", "scancel") if shutil.which(name) is None]
    if missing:
        return f"it runs on Slurm, but {', '.join(missing)} is not on PATH (install the Slurm client)"
    return None


def load_catalog(streams_dir: Path, default_executor: str = "local") -> Catalog:
    """Every bucket folder; a bucket this box cannot run (no Slurm client) is listed as invalid."""
    valid: list[Bucket] = []
    invalid: list[InvalidBucket] = []
    if not streams_dir.is_dir():
        return Catalog(valid, invalid)
    for folder in sorted(p for p in streams_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            bucket = load_bucket(folder)
            problem = executor_problem(bucket.info, default_executor)
            if problem is not None:
                raise ValueError(problem)
            valid.append(bucket)
        except ValueError as exc:
            log.warning("bucket %s is not offered: %s", folder.name, exc)
            invalid.append(InvalidBucket(folder=folder, reason=str(exc)))
    return Catalog(valid, invalid)
