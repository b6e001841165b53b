"""Association slots shared by every receiving process: max_associations in total and per IP.

The counts live in a small shared memory file (a memfd the serve process makes and hands to each
receive worker): one row per process, written only by its owner under an fcntl lock, read by all.
A worker that dies mid-update cannot corrupt the others' rows and never keeps the lock (the kernel
drops it), and the supervisor zeroes its row (`clear_row`), so a kill frees the slots it held.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import threading

WORD = 8  # bytes per counter (signed 64-bit)


def _ip_key(ip: str) -> int:
    """A nonzero 64-bit key per address (0 marks an empty pair)."""
    key = int.from_bytes(hashlib.blake2b(ip.encode(), digest_size=8).digest(), "big", signed=True)
    return key or 1


class SharedSlots:
    """Accepted associations at a time, in total and per calling IP, across processes.

    Row layout: [open associations of the row, then `total` pairs of (ip key, count)]; a row
    never needs more pairs than `total`, since the box never holds more associations than that.
    """

    def __init__(self, total: int, per_ip: int, rows: int, *, fd: int | None = None, row: int = 0) -> None:
        self.total = total
        self.per_ip = per_ip
        self.rows = rows
        self.row = row  # the row this process writes
        self.width = 1 + 2 * total
        size = rows * self.width * WORD
        if fd is None:
            fd = os.memfd_create("magickbox-slots")
            os.ftruncate(fd, size)
        self.fd = fd
        self._map = mmap.mmap(fd, size)
        self._words = memoryview(self._map).cast("q")
        self._lock = threading.Lock()  # fcntl locks are per process: threads need their own

    def for_row(self, row: int) -> SharedSlots:
        """The same slots as seen by the process that writes `row` (after it inherited `fd`)."""
        return SharedSlots(self.total, self.per_ip, self.rows, fd=self.fd, row=row)

    def take(self, ip: str) -> str | None:
        """Take a slot for `ip`; None when taken, else why not."""
        key = _ip_key(ip)
        with self._locked():
            if self._sum_totals() >= self.total:
                return f"{self.total} associations are open (max_associations)"
            if self._count_of(key) >= self.per_ip:
                return f"{self.per_ip} associations from {ip} are open (max_associations_per_ip)"
            self._add(key, +1)
            return None

    def give(self, ip: str) -> None:
        with self._locked():
            self._add(_ip_key(ip), -1)

    def clear_row(self, row: int) -> None:
        """Free every slot a (dead) process held."""
        with self._locked():
            start = row * self.width
            for i in range(start, start + self.width):
                self._words[i] = 0

    def open_count(self) -> int:
        with self._locked():
            return self._sum_totals()

    # ---- under the lock ------------------------------------------------------------------------
    def _locked(self) -> _Locked:
        return _Locked(self._lock, self.fd)

    def _sum_totals(self) -> int:
        return sum(self._words[r * self.width] for r in range(self.rows))

    def _count_of(self, key: int) -> int:
        words, found = self._words, 0
        for r in range(self.rows):
            base = r * self.width
            for i in range(base + 1, base + self.width, 2):
                if words[i] == key:
                    found += words[i + 1]
        return found

    def _add(self, key: int, delta: int) -> None:
        words, base = self._words, self.row * self.width
        empty = None
        for i in range(base + 1, base + self.width, 2):
            if words[i] == key:
                words[i + 1] += delta
                if words[i + 1] <= 0:
                    words[i] = words[i + 1] = 0
                words[base] = max(words[base] + delta, 0)
                return
            if empty is None and words[i] == 0:
                empty = i
        if delta > 0 and empty is not None:
            words[empty], words[empty + 1] = key, delta
            words[base] += delta


class _Locked:
    """The thread lock, then the process-wide fcntl lock on the shared file."""

    def __init__(self, lock: threading.Lock, fd: int) -> None:
        self.lock, self.fd = lock, fd

    def __enter__(self) -> None:
        self.lock.acquire()
        fcntl.lockf(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        fcntl.lockf(self.fd, fcntl.LOCK_UN)
        self.lock.release()
