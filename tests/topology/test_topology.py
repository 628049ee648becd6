"""The README's production topology on one machine (benchmarks/topology.py) and its faults.

It takes minutes, so it is marked `topology`, left out of `make test`, and run by `.ci/run` as a
step of its own: `python -m pytest -m topology tests/topology`. It needs PostgreSQL's server
binaries (Debian's `postgresql`, which `.ci/run` installs when missing).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The whole run happens while the first test sets up the module's report: minutes on a busy
# machine (the figures are in the report and the README, not asserted here).
pytestmark = [pytest.mark.topology, pytest.mark.timeout(1800)]


def processes_with(marker: str) -> list[int]:
    """Processes whose environment carries the run's marker (everything the script started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("topology")
    script = ROOT / "benchmarks" / "topology.py"
    done = subprocess.run(
        [sys.executable, str(script), "--work", str(work)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(done.stdout)  # the figures, in CI's log (.ci/run passes -s)
    return json.loads((work / "report.json").read_text())


def test_a_killed_worker_costs_a_rerun_of_its_part_and_nothing_else(report):
    fault = report["worker_killed"]
    assert len(set(fault["placement"].values())) == 2  # the parts ran on both workers
    assert 0 < fault["videos_of_the_part_done_before_the_kill"] < 4
    assert fault["killed_run_state_10s_after"] == "Running"  # nothing left to report its end
    # the video it was extracting: its lock file is left, naming the killed run; the rerun
    # finds it stale (no process holds it), takes it over and records that
    (left,) = fault["locks_left_by_the_kill"].items()
    assert left[1] == fault["killed_run"]
    taken = {vid: run for record in fault["locks_taken_over"] for vid, run in record.items()}
    assert taken == {left[0].removesuffix(".lock"): fault["killed_run"]}
    assert fault["feature_files"] == fault["identical_feature_files"] == 12
    assert fault["extra_feature_files"] == 0 and fault["leftovers"] == []
    assert fault["manifest_equal"] and fault["manifest_rows_ok"] == 12
    # the two parts that finished, and the rerun: their extractions add up to the twelve videos
    # less those the killed run had written, which the rerun skipped
    assert fault["provenance_records"] == 3
    done_before = fault["videos_of_the_part_done_before_the_kill"]
    assert sum(fault["videos_extracted_per_record"]) == 12 - done_before


def test_two_runs_into_one_folder_never_write_the_same_file(report):
    fault = report["two_runs_one_folder"]
    assert fault["ran_at_the_same_time"]
    extracted = fault["videos_extracted_per_record"]  # one record per run
    assert len(extracted) == 2 and sum(extracted) == 4  # each video written once
    assert fault["feature_files"] == fault["identical_feature_files"] == 4
    assert fault["manifest_equal"] and fault["leftovers"] == []


def test_a_server_restart_mid_run_loses_nothing(report):
    fault = report["server_restarted"]
    assert fault["workers_alive"]
    assert fault["workers_online_after"] == ["node1-gpu0", "node1-gpu1"]
    states = fault["states_in_postgres"]  # its whole history, read with psql
    assert states[0] == "Scheduled" and "Running" in states and states[-1] == "Completed"
    assert fault["feature_files"] == fault["identical_feature_files"] == 4
    assert fault["manifest_equal"] and fault["leftovers"] == []


def test_the_schedule_fires_and_a_busy_deployment_does_not_start_a_second_run(report):
    fault = report["schedule"]
    assert fault["first_run_state_at_second_firing"] == "Running"
    assert fault["second_run_state"] == "Cancelled"
    assert fault["runs_running_at_once"] == 1


def test_nothing_is_left_running(report):
    assert processes_with(report["marker"]) == []
    assert not any(listening(port) for port in report["ports"].values())
