from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from magickbox.run.scheduler import Scheduler
from magickbox.store import Store
from tests.run.conftest import gate, make_bucket, new_session, open_gate, pid_alive, state_of, wait_state
from tests.support.net import wait_until

StartScheduler = Callable[..., Scheduler]

RECORD = 'basename "$MB_SCRATCHDIR" >> "$MB_MEMORY/order.txt"\ncp -R "$1/." "$2/"\n'


def test_fifo_order_within_a_bucket(run_store: Store, streams: Path, start_scheduler: StartScheduler) -> None:
    bucket = make_bucket(streams, "Fifo", RECORD)
    sessions = [new_session(run_store, "Fifo") for _ in range(6)]
    start_scheduler()
    for session in sessions:
        wait_state(run_store, session, "finished")
    order = (bucket / "memory" / "order.txt").read_text().split()
    assert order == [s.scratchdir for s in sessions]
    for session in sessions:
        assert len(list(run_store.layout.output_dir(session.scratchdir).iterdir())) == 1


def test_bucket_concurrency_limit_and_two_buckets_in_parallel(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    two = streams / "Two"
    make_bucket(streams, "Two", gate(two), concurrency=2)
    one = streams / "One"
    make_bucket(streams, "One", gate(one))
    twos = [new_session(run_store, "Two") for _ in range(3)]
    ones = [new_session(run_store, "One") for _ in range(2)]
    start_scheduler()
    wait_state(run_store, twos[0], "running")
    wait_state(run_store, twos[1], "running")
    wait_state(run_store, ones[0], "running")  # another bucket runs at the same time
    assert state_of(run_store, twos[2]) == "queued", "a third run of a concurrency-2 bucket must wait"
    assert state_of(run_store, ones[1]) == "queued"
    assert run_store.jobs.load()["Two"].running == 2
    open_gate(two)
    open_gate(one)
    for session in twos + ones:
        wait_state(run_store, session, "finished")


def test_global_cap_limits_all_buckets(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    folders = [streams / name for name in ("A", "B", "C")]
    for folder in folders:
        make_bucket(streams, folder.name, gate(streams / "A"))
    sessions = [new_session(run_store, folder.name) for folder in folders]
    start_scheduler(max_workers=2)
    wait_state(run_store, sessions[0], "running")
    wait_state(run_store, sessions[1], "running")
    assert state_of(run_store, sessions[2]) == "queued"
    open_gate(streams / "A")
    for session in sessions:
        wait_state(run_store, session, "finished")


def test_failing_exit_code_fails_the_session(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    make_bucket(streams, "Bad", "echo about to fail\nexit 3\n")
    session = new_session(run_store, "Bad")
    start_scheduler()
    ended = wait_state(run_store, session, "failed")
    assert ended.reason == "exit code 3"
    proc = json.loads(run_store.layout.proc_path(session.scratchdir).read_text())
    assert proc == [{"success": "failed", "message": "exit code 3"}]
    assert "about to fail" in run_store.layout.log_path(session.scratchdir).read_text()
    assert ended.started_at is not None and ended.ended_at is not None


def test_timeout_fails_with_reason_timeout(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    make_bucket(streams, "Slow", 'echo $$ > "$MB_MEMORY/pid"\nexec sleep 60\n', timeout=0.5)
    session = new_session(run_store, "Slow")
    start_scheduler()
    ended = wait_state(run_store, session, "failed")
    assert ended.reason == "timeout"
    pid = int((streams / "Slow" / "memory" / "pid").read_text())
    assert not pid_alive(pid)
    assert json.loads(run_store.layout.proc_path(session.scratchdir).read_text())[0]["success"] == "failed"


def test_bucket_written_proc_json_is_kept(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    script = """printf '[{"success": "partial", "message": "2 of 3"}]' > "$MB_SCRATCHDIR/proc.json"\n"""
    make_bucket(streams, "Partial", script)
    session = new_session(run_store, "Partial")
    start_scheduler()
    wait_state(run_store, session, "finished")
    proc = json.loads(run_store.layout.proc_path(session.scratchdir).read_text())
    assert proc == [{"success": "partial", "message": "2 of 3"}]


def test_log_is_visible_while_the_bucket_runs(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    folder = streams / "Chatty"
    make_bucket(streams, "Chatty", "echo first line\n" + gate(folder) + "echo last line >&2\n")
    session = new_session(run_store, "Chatty")
    log = run_store.layout.log_path(session.scratchdir)
    start_scheduler()
    wait_until(lambda: log.exists() and "first line" in log.read_text(), what="first line in the log")
    assert state_of(run_store, session) == "running"
    assert "last line" not in log.read_text()
    open_gate(folder)
    wait_state(run_store, session, "finished")
    text = log.read_text()
    assert text.index("first line") < text.index("last line"), "stderr lands in the same log, in order"


def test_environment_and_arguments(run_store: Store, streams: Path, start_scheduler: StartScheduler) -> None:
    make_bucket(streams, "Env", 'env | grep "^MB_" > "$2/env.txt"\necho "$#:$1:$2" > "$2/args.txt"\n')
    session = new_session(run_store, "Env", arguments="--fast yes")
    start_scheduler()
    wait_state(run_store, session, "finished")
    output = run_store.layout.output_dir(session.scratchdir)
    env = dict(line.split("=", 1) for line in (output / "env.txt").read_text().splitlines())
    folder = run_store.layout.session_dir(session.scratchdir)
    assert env["MB_INPUT"] == str(folder / "INPUT") and env["MB_OUTPUT"] == str(folder / "OUTPUT")
    assert env["MB_MEMORY"] == str(streams / "Env" / "memory")
    assert env["MB_SCRATCHDIR"] == str(folder)
    assert env["MB_AETITLE_CALLED"] == "Env" and env["MB_AETITLE_CALLER"] == "TESTER"
    assert env["MB_CALLER_IP"] == "127.0.0.1" and env["MB_ARGUMENTS"] == "--fast yes"
    assert (output / "args.txt").read_text().strip() == f"2:{folder / 'INPUT'}:{folder / 'OUTPUT'}"


def test_cancel_running_stops_the_whole_process_group(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    script = 'sleep 60 &\necho $! > "$MB_MEMORY/child"\necho $$ > "$MB_MEMORY/parent"\nwait\n'
    folder = make_bucket(streams, "Long", script)
    session = new_session(run_store, "Long")
    start_scheduler()
    child, parent = folder / "memory" / "child", folder / "memory" / "parent"
    wait_until(lambda: parent.exists() and parent.read_text().strip() != "", what="bucket started")
    pids = [int(child.read_text()), int(parent.read_text())]
    assert all(pid_alive(pid) for pid in pids)
    assert run_store.jobs.request_cancel(session.id) is True
    ended = wait_state(run_store, session, "cancelled")
    assert ended.reason == "cancelled on request"
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), timeout=10, what="process group gone")


def test_cancel_queued_ends_at_once(run_store: Store, streams: Path) -> None:
    make_bucket(streams, "Later", "true\n")
    session = new_session(run_store, "Later")
    assert run_store.jobs.request_cancel(session.id) is True
    assert state_of(run_store, session) == "cancelled"
    assert run_store.jobs.request_cancel(session.id) is False, "nothing left to cancel"


def test_rerun_runs_the_bucket_again(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    make_bucket(streams, "Again", RECORD)
    session = new_session(run_store, "Again")
    start_scheduler()
    wait_state(run_store, session, "finished")
    run_store.sessions.requeue(session.id, "re-run on request")
    wait_until(
        lambda: (
            len(run_store.jobs.for_session(session.id)) == 2 and state_of(run_store, session) == "finished"
        )
    )
    order = (streams / "Again" / "memory" / "order.txt").read_text().split()
    assert order == [session.scratchdir, session.scratchdir]
    assert [job.state for job in run_store.jobs.for_session(session.id)] == ["done", "done"]


def test_disabled_or_removed_bucket_fails_with_its_name(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    make_bucket(streams, "Off", "true\n", enabled=0)
    off = new_session(run_store, "Off")
    gone = new_session(run_store, "Gone")
    make_bucket(streams, "Broken", None).joinpath("info.json").write_text("{oops")
    broken = new_session(run_store, "Broken")
    start_scheduler()
    assert wait_state(run_store, off, "failed").reason == "bucket 'Off' is disabled"
    assert "bucket 'Gone' does not exist" in wait_state(run_store, gone, "failed").reason
    assert "bucket 'Broken' is not valid" in wait_state(run_store, broken, "failed").reason


def test_missing_work_sh_fails_with_a_reason(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    make_bucket(streams, "NoScript", None)
    session = new_session(run_store, "NoScript")
    start_scheduler()
    ended = wait_state(run_store, session, "failed")
    assert "could not start" in ended.reason
    assert json.loads(run_store.layout.proc_path(session.scratchdir).read_text())[0]["success"] == "failed"


def test_stopping_the_scheduler_gives_running_jobs_back(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    folder = make_bucket(streams, "Held", "")
    (folder / "work.sh").write_text("#!/bin/sh\n" + gate(folder) + 'cp -R "$1/." "$2/"\n')
    session = new_session(run_store, "Held")
    first = start_scheduler()
    wait_state(run_store, session, "running")
    first.stop()
    assert state_of(run_store, session) == "queued"
    assert run_store.jobs.for_session(session.id)[0].attempts == 0, "a clean stop costs no attempt"
    open_gate(folder)
    start_scheduler()
    wait_state(run_store, session, "finished")


def test_bucket_disabled_or_removed_meanwhile(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    folder = make_bucket(streams, "Flip", RECORD)
    first = new_session(run_store, "Flip")
    start_scheduler()
    wait_state(run_store, first, "finished")
    info = json.loads((folder / "info.json").read_text())
    (folder / "info.json").write_text(json.dumps({**info, "enabled": 0}))
    second = new_session(run_store, "Flip")
    assert wait_state(run_store, second, "failed").reason == "bucket 'Flip' is disabled"
    shutil.rmtree(folder)
    third = new_session(run_store, "Flip")
    assert "bucket 'Flip' does not exist" in wait_state(run_store, third, "failed").reason


def test_max_workers_zero_leaves_the_queue_to_other_processes(
    run_store: Store, streams: Path, start_scheduler: StartScheduler
) -> None:
    make_bucket(streams, "Idle", RECORD)
    session = new_session(run_store, "Idle")
    gone = new_session(run_store, "NoSuchBucket")
    idle = start_scheduler(max_workers=0)
    assert not idle._loop.alive, "no scheduler thread: nothing here claims or fails jobs"
    assert state_of(run_store, session) == "queued" and state_of(run_store, gone) == "queued"
    start_scheduler()
    wait_state(run_store, session, "finished")
    wait_state(run_store, gone, "failed")
