"""What the box asks Slurm and the container runtimes for: sbatch options, the batch script, GPUs,
the data path on the compute nodes, and how Slurm's end states become session outcomes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from magickbox.models import BucketInfo, SlurmSpec
from magickbox.run import process
from magickbox.run.container import container_argv, gpu_options
from magickbox.run.process import RunSpec
from magickbox.run.slurm import JobStatus
from magickbox.run.slurm_executor import RETRY, batch_script, map_paths, result_of, sbatch_options
from magickbox.store import slurm_spec

BASE = {"name": "log.txt", "log_path": "/d/scratch/tmp.x/processing.log", "cwd": "/d/streams/B"}


def _options(spec: SlurmSpec, timeout: float | None = None, gpus: str | int | None = None) -> list[str]:
    return sbatch_options(
        spec,
        name="magickbox-tmp.x-1.1",
        log_path=BASE["log_path"],
        cwd=BASE["cwd"],
        timeout=timeout,
        gpus=gpus,
    )


def test_an_empty_slurm_object_asks_for_the_cluster_defaults() -> None:
    options = _options(SlurmSpec())
    assert options == [
        "--job-name=magickbox-tmp.x-1.1",
        "--output=/d/scratch/tmp.x/processing.log",
        "--open-mode=append",
        "--chdir=/d/streams/B",
        "--export=ALL",
    ]


def test_the_bucket_slurm_object_becomes_sbatch_options() -> None:
    spec = SlurmSpec.model_validate(
        {"partition": "gpu", "cpus": 4, "mem": "16G", "time": "04:00:00", "gres": "gpu:1", "account": "lab",
         "qos": "high", "sbatch_args": ["--constraint=a100"]}
    )  # fmt: skip
    options = _options(spec, timeout=60)
    for expected in ("--partition=gpu", "--cpus-per-task=4", "--mem=16G", "--time=04:00:00", "--gres=gpu:1",
                     "--account=lab", "--qos=high"):  # fmt: skip
        assert expected in options
    assert options[-1] == "--constraint=a100"
    assert "--time=1" not in options  # slurm.time wins over the bucket's timeout


def test_timeout_becomes_time_in_whole_minutes_and_gpus_become_gres() -> None:
    options = _options(SlurmSpec(), timeout=90, gpus=2)
    assert "--time=2" in options and "--gres=gpu:2" in options
    assert "--gres=gpu:1" in _options(SlurmSpec(), gpus="all")


@pytest.mark.parametrize("bad", ["--output=/tmp/x", "--job-name=x", "-p", "--wrap=rm"])
def test_sbatch_args_cannot_take_over_what_the_box_owns(bad: str) -> None:
    with pytest.raises(ValidationError):
        SlurmSpec(sbatch_args=[bad])


def test_the_batch_script_runs_the_argv_without_reparsing_it(tmp_path: Path) -> None:
    marker = tmp_path / "a b; $(touch pwned)"
    spec = RunSpec(["/bin/sh", "-c", 'printf "%s\\n" "$@" > out', "sh", str(marker), "it's"], tmp_path, {})
    script = batch_script(spec, "magickbox-x")
    subprocess.run(["/bin/sh", "-s"], input=script, text=True, check=True)
    assert (tmp_path / "out").read_text().splitlines() == [str(marker), "it's"]
    assert not (tmp_path / "pwned").exists()


def test_slurm_data_path_maps_every_path_for_the_compute_nodes() -> None:
    data = Path("/srv/mb").resolve()
    spec = RunSpec(
        ["podman", "run", "-v", f"{data}/scratch/tmp.x/INPUT:/input:ro", f"{data}/streams/B/work.sh"],
        data / "streams" / "B",
        {"MB_INPUT": f"{data}/scratch/tmp.x/INPUT", "HOME": "/root"},
    )
    mapped, log = map_paths(spec, data / "scratch/tmp.x/processing.log", data, Path("/cluster/mb"))
    assert mapped.argv[3] == "/cluster/mb/scratch/tmp.x/INPUT:/input:ro"
    assert mapped.argv[4] == "/cluster/mb/streams/B/work.sh"
    assert mapped.cwd == Path("/cluster/mb/streams/B") and mapped.env["HOME"] == "/root"
    assert mapped.env["MB_INPUT"] == "/cluster/mb/scratch/tmp.x/INPUT"
    assert log == Path("/cluster/mb/scratch/tmp.x/processing.log")


def test_gpus_in_each_runtimes_words() -> None:
    assert gpu_options("docker", "all") == ["--gpus", "all"]
    assert gpu_options("docker", 2) == ["--gpus", "2"]
    assert gpu_options("podman", "all") == ["--device", "nvidia.com/gpu=all"]
    assert gpu_options("podman", 2) == ["--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=1"]
    assert gpu_options("apptainer", 1) == ["--nv"]
    argv = container_argv(
        "podman", "img", input_dir=Path("/i"), output_dir=Path("/o"), memory_dir=Path("/m"), env={},
        gpus="all", runtime_args=["--root", "/r"],
    )  # fmt: skip
    assert argv[:3] == ["podman", "--root", "/r"] and "nvidia.com/gpu=all" in argv


@pytest.mark.parametrize(
    ("state", "code", "outcome"),
    [
        ("COMPLETED", 0, process.SUCCESS),
        ("FAILED", 3, process.FAILED),
        ("OUT_OF_MEMORY", 0, process.FAILED),
        ("TIMEOUT", 0, process.TIMEOUT),
        ("NODE_FAIL", 0, RETRY),
        ("PREEMPTED", 0, RETRY),
        ("CANCELLED", 0, process.FAILED),  # cancelled by someone else: not the user's cancel
    ],
)
def test_slurm_end_states_become_outcomes_naming_the_state(state: str, code: int, outcome: str) -> None:
    result = result_of(JobStatus("12", "n", state, "None", code, 0), cancelled=False, started=0.0)
    assert result.outcome == outcome
    if outcome != process.SUCCESS:
        assert state in result.message and f"exit code {code}" in result.message


def test_which_buckets_run_on_slurm() -> None:
    def info(**extra: object) -> BucketInfo:
        return BucketInfo.model_validate({"name": "B", "AETitle": "B", **extra})

    assert slurm_spec(info(), "local") is None
    assert slurm_spec(info(), "slurm") == SlurmSpec()
    assert slurm_spec(info(slurm=False), "slurm") is None
    assert slurm_spec(info(slurm={"cpus": 2}), "local") == SlurmSpec(cpus=2)
    assert slurm_spec(info(slurm=True), "local") == SlurmSpec()
    with pytest.raises(ValidationError):
        info(gpus=0)
