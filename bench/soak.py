#!/usr/bin/env python3
"""Soak and fault harness: many senders, kills at random moments, nothing lost.

Starts a real box (own data folder, free loopback ports) with ProcCopy and a routing rule that
sends every OUTPUT to a dcmtk `storescp`; 8 concurrent `storescu` senders push studies while the
box is killed with SIGKILL and restarted, and the destination is stopped for a while. At the end
everything is checked from the outside (getScratch, the folders, what storescp wrote).

    .venv/bin/python bench/soak.py            # short mode (what the test suite runs)
    .venv/bin/python bench/soak.py --long     # 1,000 sessions, 10+ kills

Exit code 0 only when no session was lost or processed more often than recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from pynetdicom import AE  # noqa: E402

from tests.support import dicomdata  # noqa: E402
from tests.support.box import BoxProcess  # noqa: E402
from tests.support.dcmtk import storescu  # noqa: E402
from tests.support.net import free_port, wait_for_port, wait_until  # noqa: E402

SOURCES = [
    dicomdata.EXPLICIT_LE,
    dicomdata.EXPLICIT_LE,
    dicomdata.MR_EXPLICIT_LE,
    dicomdata.IMPLICIT_LE,
    dicomdata.BIG_ENDIAN,
    dicomdata.JPEG_BASELINE,
    dicomdata.RLE,
]
# storescu proposes only uncompressed transfer syntaxes unless told; it would skip (and with -nh
# silently) compressed files. These are the options a user types for such a study.
PROPOSE = {dicomdata.JPEG_BASELINE: ["-xy"], dicomdata.RLE: ["-xr"]}
BUCKET_AE = "ProcCopy"
DEST_AE = "SOAKDEST"


@dataclass
class Study:
    index: int
    folder: Path
    uid: str
    sop_uids: set[str]
    abort: bool  # sent on purpose with an A-ABORT after a few instances
    source: str = dicomdata.EXPLICIT_LE
    sends: list[int] = field(default_factory=list)  # storescu exit codes, in order


@dataclass
class Samples:
    rss_kb: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)


def make_corpus(root: Path, count: int, rng: random.Random, long_mode: bool) -> list[Study]:
    studies = []
    for index in range(count):
        folder = root / f"study{index:04d}"
        size = rng.randint(5, 50) if long_mode else rng.randint(3, 8)
        source = rng.choice(SOURCES)
        uid, files = dicomdata.write_study(folder, size, source=source)
        if index % 7 == 3:
            (folder / "README.txt").write_text("not DICOM: the sender skips it\n")
        sops = {_sop_uid(path) for path in files}
        studies.append(Study(index, folder, uid, sops, abort=(index % 11 == 5), source=source))
    return studies


def _sop_uid(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def send_with_storescu(study: Study, box: BoxProcess, caller: str) -> int:
    extra = PROPOSE.get(study.source, [])
    sent = storescu(
        box.dicom_port, study.folder, calling=caller, called=BUCKET_AE, extra_args=extra, timeout=300
    )
    return sent.returncode


def send_and_abort(study: Study, box: BoxProcess, caller: str) -> bool:
    """Send a few instances, then abort the association: the session must stay incomplete."""
    import pydicom

    ae = AE(ae_title=caller)
    files = sorted(study.folder.glob("*.dcm"))
    datasets = [pydicom.dcmread(path) for path in files[:2]]
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", box.dicom_port, ae_title=BUCKET_AE)
    if not assoc.is_established:
        return False
    # A kill can end the association before any instance was acknowledged: then the box has
    # nothing to show for it (no session), and the send is tried again like any other.
    acknowledged = [int(getattr(assoc.send_c_store(ds), "Status", -1)) == 0 for ds in datasets]
    assoc.abort()
    return all(acknowledged)


def sender(
    queue: list[Study], lock: threading.Lock, box: BoxProcess, caller: str, stop: threading.Event
) -> None:
    while not stop.is_set():
        with lock:
            if not queue:
                return
            study = queue.pop(0)
        if study.abort:
            # Retry while the box is down (a kill); once it associated, the session is incomplete.
            for _ in range(20):
                with contextlib.suppress(Exception):
                    if send_and_abort(study, box, caller):
                        break
                time.sleep(1.0)
            study.sends.append(-1)
            continue
        # Like a user: resend until the box acknowledged the whole send.
        for _ in range(20):
            code = send_with_storescu(study, box, caller)
            study.sends.append(code)
            if code == 0:
                break
            time.sleep(1.0)


def sample(box: BoxProcess, samples: Samples, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        proc = box.proc
        if proc is None or proc.poll() is not None:
            continue
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
            samples.rss_kb.append(rss)
            samples.fds.append(len(list(Path(f"/proc/{proc.pid}/fd").iterdir())))
        except (OSError, StopIteration):
            continue


def start_storescp(port: int, out: Path) -> subprocess.Popen[bytes]:
    out.mkdir(parents=True, exist_ok=True)
    # TCP_NODELAY=1: dcmtk leaves Nagle on otherwise, and every C-STORE-RSP then waits for the
    # box's delayed ACK (~40 ms per routed instance); a destination set up for throughput has it.
    proc = subprocess.Popen(
        ["storescp", "+xa", "-aet", DEST_AE, "-od", str(out), "--fork", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    wait_for_port(port)
    return proc


def write_routing(data: Path, dest_port: int) -> None:
    rule = {
        "name": "soak: every OUTPUT to the destination",
        "AETitleIn": ".*",
        "send": [
            {".*": {"IP": "127.0.0.1", "PORT": dest_port, "AETitleSender": "SOAKBOX", "AETitleTo": DEST_AE}}
        ],
    }
    data.mkdir(parents=True, exist_ok=True)
    (data / "routing.json").write_text(json.dumps({"routing": [rule]}, indent=2))


def chaos(box: BoxProcess, kills: int, queue: list[Study], rng: random.Random, stop: threading.Event,
          dest: dict[str, Any], kill_log: list[float]) -> None:  # fmt: skip
    """Kill the box `kills` times while the senders work, at random points of their progress.

    Each kill waits until a random share of the studies has been taken by the senders, so kills
    land during transfers, sealing and runs, not after everything is done. The destination is
    stopped once, early, so deliveries must be retried.
    """
    total = len(queue)
    points = sorted(rng.uniform(0.05, 0.95) for _ in range(kills))
    start = time.monotonic()
    dest_down = False
    for point in points:
        while (total - len(queue)) / total < point:
            if stop.wait(0.05):
                return
            if not dest_down and (total - len(queue)) / total >= 0.1:
                dest_down = True
                _outage(dest, 3.0)
        time.sleep(rng.uniform(0.0, 0.5))
        box.kill()
        kill_log.append(time.monotonic() - start)
        time.sleep(rng.uniform(0.2, 1.0))
        box.start()


def _outage(dest: dict[str, Any], seconds: float) -> None:
    dest["proc"].kill()
    dest["proc"].wait()
    threading.Timer(seconds, lambda: dest.update(proc=start_storescp(dest["port"], dest["out"]))).start()


def received_by_destination(out: Path) -> set[str]:
    # storescp names files <modality>.<SOPInstanceUID>; the UID is everything after the first dot.
    return {path.name.split(".", 1)[1] for path in out.iterdir() if path.is_file() and "." in path.name}


def check(box: BoxProcess, studies: list[Study], dest_out: Path, max_attempts: int) -> dict[str, Any]:
    sessions = box.get_json("/code/php/getScratch.php")
    by_pid: dict[str, list[dict[str, Any]]] = {}
    for entry in sessions:
        by_pid.setdefault(entry["pid"], []).append(entry)
    delivered = received_by_destination(dest_out)
    problems: list[str] = []
    counts: Counter[str] = Counter()
    for study in studies:
        entries = by_pid.get(f"scp_{study.uid}", [])
        counts["sent"] += 1
        if study.abort:
            if not entries or any(e["status"] != "incomplete" for e in entries):
                problems.append(f"aborted study {study.index}: sessions {[e['status'] for e in entries]}")
            else:
                counts["incomplete"] += 1
            continue
        done = [e for e in entries if e["status"] == "finished"]
        if study.sends[-1:] != [0] or not done:
            problems.append(
                f"study {study.index}: sends {study.sends}, sessions {[e['status'] for e in entries]}"
            )
            counts["lost"] += 1
            continue
        counts["finished"] += 1
        final = done[0]
        if final.get("routing") == "routed":
            counts["routed"] += 1
        else:
            problems.append(f"study {study.index}: routing is {final.get('routing')}")
        got = {p.stem for p in (box.data / "scratch" / final["scratchdir"] / "INPUT").glob("*.dcm")}
        if got != study.sop_uids:
            problems.append(f"study {study.index}: INPUT has {len(got)} of {len(study.sop_uids)} instances")
        if not study.sop_uids <= delivered:
            problems.append(f"study {study.index}: {len(study.sop_uids - delivered)} instances not delivered")
        counts["incomplete"] += sum(1 for e in entries if e["status"] == "incomplete")
        problems += check_history(box, final["scratchdir"], max_attempts)
    problems += check_no_temporaries(box.data / "scratch")
    return {"counts": counts, "problems": problems, "sessions": len(sessions)}


def check_history(box: BoxProcess, scratchdir: str, max_attempts: int) -> list[str]:
    detail = box.get_json(f"/api/v1/sessions/{scratchdir}")
    runs = [event for event in detail.get("history", []) if event["state"] == "running"]
    if len(runs) > max_attempts:
        return [f"{scratchdir}: ran {len(runs)} times, more than {max_attempts} attempts"]
    return []


def check_no_temporaries(scratch: Path) -> list[str]:
    leftovers = [p for p in scratch.rglob("*") if p.name.endswith(".tmp") or (p.parent.name == ".incoming")]
    return [f"temporary file left: {p}" for p in leftovers[:10]]


def all_settled(box: BoxProcess, studies: list[Study]) -> bool:
    try:
        sessions = box.get_json("/code/php/getScratch.php")
    except httpx.HTTPError:
        return False
    busy = [s for s in sessions if s["status"] in ("receiving", "queued", "running")]
    pending = [s for s in sessions if s["status"] == "finished" and s.get("routing") == "pending"]
    return not busy and not pending


def echo_ok(box: BoxProcess) -> bool:
    argv = ["echoscu", "-aet", "SOAK", "-aec", box.ae_title, "127.0.0.1", str(box.dicom_port)]
    return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--long", action="store_true", help="1,000 sessions of 5-50 instances, 10 kills")
    parser.add_argument("--sessions", type=int, help="number of studies to send")
    parser.add_argument("--kills", type=int, help="SIGKILLs of the box during the run")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2813)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    count = args.sessions or (1000 if args.long else 60)
    kills = args.kills if args.kills is not None else (10 if args.long else 3)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="magickbox-soak-"))
    try:
        return run(work, count, kills, args.senders, rng, args.long)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, count: int, kills: int, senders: int, rng: random.Random, long_mode: bool) -> int:
    print(f"soak: {count} studies, {senders} senders, {kills} kills, work folder {work}", flush=True)
    studies = make_corpus(work / "corpus", count, rng, long_mode)
    instances = sum(len(s.sop_uids) for s in studies if not s.abort)
    dest = {"port": free_port(), "out": work / "destination"}
    dest["proc"] = start_storescp(dest["port"], dest["out"])
    data = work / "box"
    write_routing(data, dest["port"])
    max_attempts = 2 + kills  # every kill of a running job costs one attempt
    box = BoxProcess(
        data=data,
        settle_s=0.5,
        env={
            "MAGICKBOX_MAX_ATTEMPTS": str(max_attempts),
            "MAGICKBOX_LEASE_S": "3",
            "MAGICKBOX_ROUTE_RETRY_INITIAL_S": "1",
            "MAGICKBOX_ROUTE_RETRY_MAX_S": "4",
            "MAGICKBOX_ROUTE_LEASE_S": "3",
        },
    ).start()
    samples, stop = Samples(), threading.Event()
    queue, lock = list(studies), threading.Lock()
    started = time.monotonic()
    threads = [
        threading.Thread(target=sender, args=(queue, lock, box, f"SOAK{n}", stop), daemon=True)
        for n in range(senders)
    ]
    kill_log: list[float] = []
    chaos_thread = threading.Thread(target=chaos, args=(box, kills, queue, rng, stop, dest, kill_log))
    watcher = threading.Thread(target=sample, args=(box, samples, stop), daemon=True)
    for thread in [*threads, chaos_thread, watcher]:
        thread.start()
    for thread in threads:
        thread.join()
    chaos_thread.join()
    wait_until(lambda: all_settled(box, studies), timeout=600, interval=1.0, what="every session to settle")
    elapsed = time.monotonic() - started
    stop.set()
    result = check(box, studies, dest["out"], max_attempts)
    healthy = echo_ok(box) and httpx.get(box.url + "/healthz", timeout=5).status_code == 200
    box.stop()
    dest["proc"].kill()
    report(result, kill_log, instances / elapsed, samples, healthy)
    return 0 if healthy and not result["problems"] and result["counts"]["lost"] == 0 else 1


def report(
    result: dict[str, Any], kill_log: list[float], rate: float, samples: Samples, healthy: bool
) -> None:
    counts = result["counts"]
    print("\n| sent | finished | routed | incomplete | lost | kills survived | instances/s |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {counts['sent']} | {counts['finished']} | {counts['routed']} | {counts['incomplete']} "
        f"| {counts['lost']} | {len(kill_log)} | {rate:.1f} |"
    )
    if samples.rss_kb:
        third = max(1, len(samples.rss_kb) // 3)
        print(
            f"\nbox RSS MB: first third max {max(samples.rss_kb[:third]) / 1024:.0f}, "
            f"last third max {max(samples.rss_kb[-third:]) / 1024:.0f}; "
            f"open fds: first {samples.fds[0]}, max {max(samples.fds)}, last {samples.fds[-1]}"
        )
    print(f"box answers C-ECHO and HTTP at the end: {healthy}")
    for problem in result["problems"][:40]:
        print("PROBLEM:", problem)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
