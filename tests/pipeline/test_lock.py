"""One writer per output: a live holder is waited for, a dead one's lock is taken over."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.index import MANIFEST_SCHEMA, update_manifest
from pipeline.lock import LockBusy, hold, holder_of

HOLD_AND_DIE = """
import os, signal, sys
from pipeline.lock import hold
with hold(sys.argv[1], run="run-that-dies"):
    print("held", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_lock_held_by_a_live_run_times_out_naming_the_holder(tmp_path):
    path = tmp_path / "video.lock"
    with hold(path, run="first") as stale:
        assert stale is None and holder_of(path)["run"] == "first"
        busy = pytest.raises(LockBusy, match=r"held by run first \(pid \d+ on")
        with busy, hold(path, run="second", wait=0.3, poll=0.05):
            pass
    assert not path.exists()


def test_the_second_writer_waits_until_the_first_is_done(tmp_path):
    path, log = tmp_path / "video.lock", []

    def write(run: str, seconds: float) -> None:
        with hold(path, run=run, poll=0.02):
            log.append(("start", run))
            time.sleep(seconds)
            log.append(("end", run))

    first = threading.Thread(target=write, args=("first", 0.5))
    first.start()
    while not log:
        time.sleep(0.01)
    write("second", 0.0)
    first.join()
    assert log == [("start", "first"), ("end", "first"), ("start", "second"), ("end", "second")]


def test_the_lock_of_a_killed_process_is_detected_and_taken_over(tmp_path):
    path = tmp_path / "video.lock"
    env = os.environ | {"PYTHONPATH": os.getcwd()}
    process = subprocess.run(
        [sys.executable, "-c", HOLD_AND_DIE, str(path)], env=env, capture_output=True, text=True
    )
    assert process.returncode == -signal.SIGKILL and process.stdout == "held\n"
    left = json.loads(path.read_text())
    assert left["run"] == "run-that-dies"
    with hold(path, run="rerun", wait=0) as stale:
        assert stale == left
        assert holder_of(path)["run"] == "rerun"
    assert not path.exists()


def rows(*pairs):
    table = [dict.fromkeys(MANIFEST_SCHEMA.names) | {"path": p, "status": s} for p, s in pairs]
    return pa.Table.from_pylist(table, schema=MANIFEST_SCHEMA)


def test_manifest_updates_merge_by_path(tmp_path):
    update_manifest(rows(("/v/b.mp4", "failed"), ("/v/a.mp4", "ok")), tmp_path, run="one")
    update_manifest(rows(("/v/c.mp4", "ok"), ("/v/b.mp4", "ok")), tmp_path, run="two")
    table = pq.read_table(tmp_path / "manifest.parquet")
    assert table.schema.equals(MANIFEST_SCHEMA)
    assert list(zip(table["path"].to_pylist(), table["status"].to_pylist(), strict=True)) == [
        ("/v/a.mp4", "ok"),
        ("/v/b.mp4", "ok"),
        ("/v/c.mp4", "ok"),
    ]
    assert not (tmp_path / ".locks" / "manifest.lock").exists()
