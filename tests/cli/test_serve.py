"""`videolights serve` and its options, as a process: the embedded server under --work on
--port, the deployments of --prefect-file only, the task-runner choice in every flow run's
environment, at most --limit runs at a time."""

import json
import os
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from flows.serve import last_polled
from flows.server import free_port, start_process, stop_process, tail

ROOT = Path(__file__).resolve().parents[2]

PROBE_FLOW = """
import json, os, time
from pathlib import Path

from prefect import flow


@flow(name="probe")
def probe(out: str) -> None:
    started = time.time()
    time.sleep(3)
    variables = {k: v for k, v in os.environ.items() if k.startswith("VIDEOLIGHTS_TASK")}
    record = {"environment": variables, "started": started, "ended": time.time()}
    Path(out).write_text(json.dumps(record))
"""

PREFECT_FILE = """
deployments:
  - name: probe
    entrypoint: serve_probe:probe
"""


def request(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=10) as r:
        return json.load(r)


def wait_for(condition, process, log: Path, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"serve exited ({process.returncode}):\n{tail(log)}"
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s:\n{tail(log)}"
        time.sleep(0.5)


@pytest.mark.timeout(400)
def test_serve_options_take_effect(tmp_path):
    (tmp_path / "serve_probe.py").write_text(textwrap.dedent(PROBE_FLOW))
    prefect_file = tmp_path / "deployments.yaml"
    prefect_file.write_text(PREFECT_FILE)
    work, port = tmp_path / "work", free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "VIDEOLIGHTS_TASK"))
    } | {
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "PREFECT_HOME": str(tmp_path / "client-home"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    argv = [sys.executable, "-m", "flows.cli", "serve", "--prefect-file", str(prefect_file)]
    argv += ["--work", str(work), "--port", str(port), "--limit", "1"]
    argv += ["--task-runner", "dask", "--workers", "3"]
    log = tmp_path / "serve.log"
    process = start_process(argv, environment, log, cwd=tmp_path)
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_for(lambda: _polled(api), process, log, 240, "runner polling probe/probe")
        assert (work / "prefect" / "server.log").is_file()  # the server's home is --work
        with pytest.raises(urllib.error.HTTPError) as missing:  # not in --prefect-file
            request(f"{api}/deployments/name/extract/extract")
        assert missing.value.code == 404

        deployment = request(f"{api}/deployments/name/probe/probe")["id"]
        outs = [tmp_path / f"run{n}.json" for n in range(2)]
        for out in outs:
            body = {"parameters": {"out": str(out)}}
            request(f"{api}/deployments/{deployment}/create_flow_run", body)
        wait_for(lambda: all(o.is_file() for o in outs), process, log, 240, "two flow runs")
    finally:
        stop_process(process)

    records = sorted((json.loads(out.read_text()) for out in outs), key=lambda r: r["started"])
    for record in records:
        assert record["environment"] == {
            "VIDEOLIGHTS_TASK_RUNNER": "dask",
            "VIDEOLIGHTS_TASK_WORKERS": "3",
        }
    assert records[1]["started"] >= records[0]["ended"]  # --limit 1: one run at a time


def _polled(api: str) -> bool:
    try:
        return last_polled(api, "probe/probe") is not None
    except OSError:  # the server is not up yet
        return False
