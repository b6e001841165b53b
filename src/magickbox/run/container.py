"""Container buckets: the argv that runs an image with the original's mounts, per runtime.

Plain functions, no engine API: the runtime's own command line is the contract. Mounts:
`/input` (read-only), `/output`, `/memory` (kept between runs), and when given the session's
`measures/` folder at `/measures` and its `proc.json` file at `/proc.json`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

# What runs inside the image when info.json gives no `command` (the original's entry point).
DEFAULT_INNER_COMMAND = ["/root/work.sh"]
INPUT, OUTPUT, MEMORY = "/input", "/output", "/memory"
MEASURES, PROC_JSON = "/measures", "/proc.json"


def container_name(scratchdir: str, job_id: int) -> str:
    """A name the box can stop the container by (docker/podman keep running if only the client dies)."""
    return f"magickbox-{scratchdir.replace('.', '-')}-{job_id}"


def container_argv(
    runtime: str,
    image: str,
    *,
    input_dir: Path,
    output_dir: Path,
    memory_dir: Path,
    env: Mapping[str, str],
    command: Sequence[str] = DEFAULT_INNER_COMMAND,
    name: str | None = None,
    session_dir: Path | None = None,
    gpus: str | int | None = None,
    runtime_args: Sequence[str] = (),
) -> list[str]:
    """The full argv: `<runtime> [runtime_args] run|exec ... <image> <command...> /input /output`."""
    mounts = [(input_dir, INPUT, True), (output_dir, OUTPUT, False), (memory_dir, MEMORY, False)]
    if session_dir is not None:
        mounts += [(session_dir / "measures", MEASURES, False), (session_dir / "proc.json", PROC_JSON, False)]
    inner = [*command, INPUT, OUTPUT]
    if runtime in ("docker", "podman"):
        argv = [runtime, *runtime_args, "run", "--rm", "--init", *gpu_options(runtime, gpus)]
        if name:
            argv += ["--name", name]
        for host, inside, read_only in mounts:
            argv += ["-v", f"{host}:{inside}" + (":ro" if read_only else "")]
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        return [*argv, image, *inner]
    if runtime == "apptainer":
        argv = ["apptainer", *runtime_args, "exec", "--cleanenv", "--containall", "--no-home"]
        argv += gpu_options(runtime, gpus)
        for host, inside, read_only in mounts:
            argv += ["--bind", f"{host}:{inside}" + (":ro" if read_only else "")]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        return [*argv, image, *inner]
    raise ValueError(f"unknown container runtime {runtime!r} (docker, podman or apptainer)")


def gpu_options(runtime: str, gpus: str | int | None) -> list[str]:
    """A bucket's `gpus` ("all" or a count) in each runtime's words (podman: CDI device names)."""
    if gpus is None:
        return []
    if runtime == "docker":
        return ["--gpus", str(gpus)]
    if runtime == "podman":
        indices = ["all"] if gpus == "all" else [str(i) for i in range(int(gpus))]
        return [arg for index in indices for arg in ("--device", f"nvidia.com/gpu={index}")]
    return ["--nv"]  # apptainer: the host's driver libraries and every visible GPU


def stop_argv(runtime: str, name: str | None, runtime_args: Sequence[str] = ()) -> list[str] | None:
    """How to stop a running container for sure. Apptainer runs in the client's process group."""
    if runtime in ("docker", "podman") and name:
        return [runtime, *runtime_args, "rm", "-f", name]
    return None


def inside_env(env: Mapping[str, str]) -> dict[str, str]:
    """The MB_* variables as seen inside the container (paths become the mount points)."""
    inside = {k: v for k, v in env.items() if k.startswith("MB_") and k != "MB_PYTHON"}
    inside.pop("MB_SCRATCHDIR", None)  # a host path: meaningless inside
    inside.update({"MB_INPUT": INPUT, "MB_OUTPUT": OUTPUT, "MB_MEMORY": MEMORY})
    inside.update({"MB_MEASURES": MEASURES, "MB_PROC_JSON": PROC_JSON})
    return inside
