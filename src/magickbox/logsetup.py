"""Where the box's processes log: `<data>/logs/magickbox.log` and stderr.

The serve process owns the file and rotates it; receive workers append to the same file through a
handler that reopens it after a rotation moved it, so several processes never rotate one file.
"""

from __future__ import annotations

import logging
import logging.handlers
import signal
import sys
import threading

from magickbox.config import Settings

log = logging.getLogger(__name__)

LOG_FILE = "magickbox.log"
ROTATE_BYTES = 20 << 20
ROTATE_KEEP = 5


def configure_logging(settings: Settings, *, process: str = "") -> None:
    """Log to the box's file and to stderr. `process` names a worker (its lines say which);
    empty for the serve process, which rotates the file."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    path = settings.logs_dir / LOG_FILE
    tag = f" [{process}]" if process else ""
    fmt = logging.Formatter(f"%(asctime)s %(levelname)s %(name)s{tag}: %(message)s")
    to_file: logging.Handler
    if process:
        to_file = logging.handlers.WatchedFileHandler(path)
    else:
        to_file = logging.handlers.RotatingFileHandler(path, maxBytes=ROTATE_BYTES, backupCount=ROTATE_KEEP)
    to_stderr = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    root.handlers[:] = []
    for handler in (to_file, to_stderr):
        handler.setFormatter(fmt)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    # pynetdicom logs every PDU at INFO; keep the box's own log readable.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    # httpx logs every request's full URL at INFO, a webhook's password and api_key with it: the
    # notifier logs its own lines with the URL masked (docs/security.md).
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, lambda _signum, _frame: reopen_logs())


def reopen_logs() -> None:
    """SIGHUP: close the log files; the next record opens them again (after logrotate moved them)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                    handler.stream = None
            finally:
                handler.release()
    log.info("received SIGHUP: log files reopened")
