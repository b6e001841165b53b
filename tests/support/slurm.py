"""A real single-node Slurm cluster (munged + slurmctld + slurmd) with all its state in one folder.

Ports are free loopback ports; nothing is read from /etc/slurm. Clients find it through the
`SLURM_CONF` variable in `env()`. Jobs run as the user who runs the tests (SlurmUser=root:
these machines run the tests as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import free_port, wait_until

BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")


def missing_binaries() -> list[str]:
    """The Slurm/munge programs not on PATH (tests skip naming them)."""
    found = {name: shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin") for name in BINARIES}
    return [name for name, path in found.items() if path is None]


def _program(name: str) -> str:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin") or name


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return max(256, int(line.split()[1]) // 1024 // 2)
    return 1024


@dataclass
class SlurmCluster:
    root: Path
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    ctld_port: int = field(default_factory=free_port)
    slurmd_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def completion_log(self) -> Path:
        """jobcomp/filetxt: one line per ended job (JobId=.. JobState=..)."""
        return self.root / "jobcomp.log"

    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def start(self) -> SlurmCluster:
        for sub in ("state", "spool", "log", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._start_munge()
        self.conf.write_text(self._conf_text())
        self.start_ctld()
        self._spawn("slurmd", [_program("slurmd"), "-D", "-f", str(self.conf), "-N", "localhost"])
        wait_until(self._node_idle, timeout=30, interval=0.2, what="the Slurm node to be idle")
        return self

    def _start_munge(self) -> None:
        munge = self.root / "munge"
        key = munge / "munge.key"
        subprocess.run([_program("mungekey"), "--create", f"--keyfile={key}"], check=True)
        key.chmod(0o600)
        subprocess.run(
            [
                _program("munged"), "--force", f"--socket={self.munge_socket}", f"--key-file={key}",
                f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
            check=True,
        )  # fmt: skip
        wait_until(lambda: Path(self.munge_socket).exists(), timeout=10, what="munged's socket")

    @property
    def munge_socket(self) -> str:
        return str(self.root / "munge" / "munge.sock")

    def _conf_text(self) -> str:
        r = self.root
        lines = [
            "ClusterName=mbtest",
            "SlurmctldHost=localhost",
            f"SlurmctldPort={self.ctld_port}",
            f"SlurmdPort={self.slurmd_port}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.completion_log}",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "MinJobAge=300",
            "SchedulerParameters=sched_interval=2",
            "ReturnToService=2",
            "SlurmctldTimeout=30",
            "MpiDefault=none",
            "MailProg=/bin/true",
            f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_memory_mb()} State=UNKNOWN",
            "PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        ]
        return "\n".join(lines) + "\n"

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.root / "log" / f"{name}.out").open("ab")
        env = {**os.environ, **self.env()}
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)

    def start_ctld(self) -> None:
        """Start (or restart) slurmctld; jobs in its saved state are kept."""
        self._spawn("slurmctld", [_program("slurmctld"), "-D", "-f", str(self.conf), "-i"])
        wait_until(self._ctld_answers, timeout=30, interval=0.2, what="slurmctld to answer")

    def stop_ctld(self) -> None:
        self._stop("slurmctld")

    def _ctld_answers(self) -> bool:
        proc = self.procs["slurmctld"]
        if proc.poll() is not None:
            raise RuntimeError(f"slurmctld exited: {self.log_tail('slurmctld.log')}")
        ping = self.run("scontrol", "ping")
        return ping.returncode == 0 and "UP" in ping.stdout

    def _node_idle(self) -> bool:
        if self.procs["slurmd"].poll() is not None:
            raise RuntimeError(f"slurmd exited: {self.log_tail('slurmd.log')}")
        state = self.run("sinfo", "-h", "-N", "-o", "%T").stdout.strip()
        return state in ("idle", "mixed", "allocated")

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command against this cluster."""
        env = {**os.environ, **self.env()}
        return subprocess.run(
            [_program(argv[0]), *argv[1:]], env=env, capture_output=True, text=True, check=False
        )

    def queue(self) -> list[str]:
        """Job ids still pending or running."""
        out = self.run("squeue", "-h", "-o", "%i").stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def completed_lines(self) -> list[str]:
        if not self.completion_log.exists():
            return []
        return [line for line in self.completion_log.read_text().splitlines() if line.strip()]

    def log_tail(self, name: str) -> str:
        path = self.root / "log" / name
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def _stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        """Cancel what is left, stop the daemons (slurmd first) and munged."""
        if "slurmctld" in self.procs:
            self.run("scancel", "--user", pwd.getpwuid(os.getuid()).pw_name)
            time.sleep(0.2)
        self._stop("slurmd")
        self._stop("slurmctld")
        pid_file = self.root / "munge" / "munged.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
