"""Association slots shared by receive workers: limits hold across processes, a dead one's go."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from magickbox.receive.slots import SharedSlots

CHILD = textwrap.dedent(
    """
    import sys
    from magickbox.receive.slots import SharedSlots
    fd, row = int(sys.argv[1]), int(sys.argv[2])
    slots = SharedSlots(3, 2, 2, fd=fd, row=row)
    print(slots.take("10.0.0.1"), slots.take("10.0.0.1"), slots.take("10.0.0.1"), flush=True)
    sys.stdin.read()  # hold the slots until killed
    """
)


def test_slots_count_in_total_and_per_ip() -> None:
    slots = SharedSlots(total=3, per_ip=2, rows=1)
    assert slots.take("10.0.0.1") is None and slots.take("10.0.0.1") is None
    assert "max_associations_per_ip" in (slots.take("10.0.0.1") or "")
    assert slots.take("10.0.0.2") is None
    assert "max_associations" in (slots.take("10.0.0.3") or "")
    slots.give("10.0.0.1")
    assert slots.take("10.0.0.3") is None
    assert slots.open_count() == 3


def test_rows_of_one_file_share_the_limits() -> None:
    first = SharedSlots(total=3, per_ip=2, rows=2)
    second = first.for_row(1)
    assert first.take("10.0.0.1") is None
    assert second.take("10.0.0.1") is None
    assert "max_associations_per_ip" in (second.take("10.0.0.1") or "")
    assert second.take("10.0.0.2") is None
    assert "max_associations" in (first.take("10.0.0.9") or "")
    second.clear_row(1)
    assert first.open_count() == 1
    assert first.take("10.0.0.1") is None


def test_another_process_takes_slots_and_its_death_frees_them_once_cleared() -> None:
    slots = SharedSlots(total=3, per_ip=2, rows=2)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(slots.fd), "1"],
        pass_fds=(slots.fd,), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("None None") and "max_associations_per_ip" in line
        assert "max_associations_per_ip" in (slots.take("10.0.0.1") or "")
        assert slots.take("10.0.0.2") is None
        assert "max_associations" in (slots.take("10.0.0.3") or "")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    slots.clear_row(1)  # what the supervisor does when a worker dies
    assert slots.open_count() == 1
    assert slots.take("10.0.0.1") is None and slots.take("10.0.0.1") is None
