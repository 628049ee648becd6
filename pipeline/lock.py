"""One writer per output file, across threads, processes, runs and hosts sharing a folder.

    with hold(out / ".locks" / f"{vid}.lock", run="3f2c...") as taken_over:
        ...  # nobody else writes this video's files meanwhile

A lock is a file holding who holds it (run id, host, pid, since when) and an exclusive
`flock` on it. The kernel drops the `flock` when its process dies, however it dies (a SIGKILL,
a node lost: NFS v4 recovers a dead client's locks when its lease expires), so a lock file
that is there but not locked is stale: its holder ended without releasing it. It is taken over,
and `hold` says whose it was. A lock held by a live run is waited for, polling, up to `wait`
seconds, then `LockBusy` names the holder. The holder removes the file when it is done.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)


class LockBusy(RuntimeError):
    """Another live run holds the lock, and waiting for it timed out."""


def holder_of(path: Path) -> dict | None:
    """Who holds (or held) the lock file at `path`, as it recorded itself."""
    try:
        return json.loads(path.read_text(encoding="utf-8") or "null")
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def describe(holder: dict | None) -> str:
    if not holder:
        return "an unknown holder"
    return f"run {holder['run']} (pid {holder['pid']} on {holder['host']}, since {holder['since']})"


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding the `flock` of the file now at `path`, or None if busy."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    try:  # the file may have been released and removed between open and flock
        if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
            return descriptor
    except FileNotFoundError:
        pass
    os.close(descriptor)
    return None


@contextlib.contextmanager
def hold(path: str | Path, run: str, wait: float | None = None, poll: float = 0.5) -> Iterator:
    """Hold the lock at `path` for `run`; yields the stale holder taken over, or None.

    Waits while another live holder has it: for ever when `wait` is None, else up to `wait`
    seconds before raising `LockBusy`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = None if wait is None else time.monotonic() + wait
    announced = False
    while (descriptor := _try_lock(path)) is None:
        holder = holder_of(path)
        if deadline is not None and time.monotonic() >= deadline:
            raise LockBusy(f"{path} is held by {describe(holder)}; waited {wait:g} s")
        if not announced:
            log.info("%s is held by %s; waiting", path, describe(holder))
            announced = True
        time.sleep(poll)
    stale = holder_of(path)
    if stale:
        log.warning("%s: took over the stale lock of %s", path, describe(stale))
    me = {
        "run": run,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(me).encode(), 0)
    try:
        yield stale
    finally:
        os.unlink(path)  # before unlocking: a waiter that gets this file re-checks its inode
        os.close(descriptor)
