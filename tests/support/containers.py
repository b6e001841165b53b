"""Real container engines for tests: podman (runc, private storage) and a private dockerd.

Images are built here from Debian's static busybox (no registry is reachable): a root folder with
`/bin/busybox`, its applet links and the files a test gives, tarred and imported.
Host quirks handled (see docs/cluster.md): crun refuses hybrid cgroups, so podman uses runc;
root's default ulimits cannot be set here, so containers.conf gives small explicit ones.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import wait_until

APPLETS = (
    "sh",
    "cp",
    "cat",
    "env",
    "sleep",
    "id",
    "stat",
    "ls",
    "mkdir",
    "echo",
    "touch",
    "grep",
    "sort",
    "tr",
)
BUSYBOX = Path("/bin/busybox")

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
netns = "none"
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def missing(*names: str) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


def busybox_rootfs_tar(folder: Path, files: dict[str, str]) -> Path:
    """A tar of a minimal root: busybox, its applet links, and `files` (path -> text, executable)."""
    root = folder / "rootfs"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in APPLETS:
        link = root / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    for sub in ("tmp", "input", "output", "memory", "measures", "proc", "dev", "sys", "etc"):
        (root / sub).mkdir(exist_ok=True)
    (root / "proc.json").touch()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    for path, text in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o755)
    tar_path = folder / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(root, arcname=".")
    return tar_path


@dataclass
class Podman:
    """podman as root with its storage in `root`; clients need `env()` and `global_args`."""

    root: Path

    @property
    def global_args(self) -> list[str]:
        store = self.root / "storage"
        return ["--root", str(store / "root"), "--runroot", str(self.runroot), "--storage-driver", "vfs"]

    @property
    def runroot(self) -> Path:
        """podman refuses a runroot longer than 50 characters, and pytest-xdist's temporary folders
        (`/tmp/pytest-of-root/pytest-N/popen-gw0/podman0/...`) are longer: a short one per root."""
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"mb-podman-{digest}"

    def env(self) -> dict[str, str]:
        return {"CONTAINERS_CONF": str(self.root / "containers.conf")}

    def setup(self) -> Podman:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "containers.conf").write_text(CONTAINERS_CONF)
        return self

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env()}
        return subprocess.run(
            ["podman", *self.global_args, *args], env=env, capture_output=True, text=True, check=False
        )

    def import_image(self, tar_path: Path, name: str) -> str:
        done = self.run("import", str(tar_path), name)
        assert done.returncode == 0, done.stderr
        return name

    def containers(self) -> list[str]:
        """Names of every container, running or not."""
        return [n for n in self.run("ps", "-a", "--format", "{{.Names}}").stdout.split() if n]


@dataclass
class Dockerd:
    """A private dockerd: own data root, socket and pid file; no bridge, no iptables changes."""

    root: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": f"unix://{self.socket}"}

    def start(self) -> Dockerd:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "dockerd.log").open("ab")
        argv = [
            shutil.which("dockerd") or "dockerd", "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"), "-H", f"unix://{self.socket}",
            "--pidfile", str(self.root / "dockerd.pid"), "--bridge=none", "--iptables=false",
            "--ip6tables=false",
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._ready, timeout=60, interval=0.2, what="dockerd to answer")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = (self.root / "dockerd.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"dockerd exited: {tail}")
        return self.socket.exists() and self.run("version").returncode == 0

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env()}
        return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, check=False)

    def import_image(self, tar_path: Path, name: str) -> str:
        done = self.run("import", str(tar_path), name)
        assert done.returncode == 0, done.stderr
        return name

    def containers(self) -> list[str]:
        return [n for n in self.run("ps", "-a", "--format", "{{.Names}}").stdout.split() if n]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
