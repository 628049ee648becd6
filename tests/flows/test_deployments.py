"""prefect.yaml, and the two ways its deployments run: served, and through a work pool."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import yaml

from flows.evaluate import EvaluateRun
from flows.extract import ExtractRun
from flows.serve import (
    PREFECT_FILE,
    ROOT,
    declared_deployments,
    flow_of,
    runner_deployment,
    served,
)
from flows.server import free_port, start_process, stop_process, tail
from tests.test_docker import worker_healthcheck

FLOWS = {"extract", "synth", "pretrain", "finetune", "evaluate", "pretrain-then-finetune"}
QVH = ROOT / "tests" / "data" / "qvhighlights"


def prefect_cli(*args: str, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "prefect", "--no-prompt", *args]
    return subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def last_result(deployment: str):
    """The result of the newest flow run of `deployment`, read back through the API (JSON:
    another process gets the fields, not the flow's pydantic model)."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        (run,) = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id={"any_": [found.id]}),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=1,
        )
    assert run.state.is_completed(), run.state
    return run.state.result()


def test_one_deployment_per_flow_named_like_it_and_an_inactive_schedule():
    declared = declared_deployments()
    assert {d["name"] for d in declared} == FLOWS
    for deployment in declared:
        assert flow_of(deployment["entrypoint"]).name == deployment["name"]
        schedules = deployment.get("schedules") or []
        assert bool(schedules) == (deployment["name"] == "pretrain-then-finetune")
        for schedule in schedules:
            assert schedule["cron"] and schedule["active"] is False
    assert yaml.safe_load(PREFECT_FILE.read_text())["definitions"]["work_pool"]["name"]


def test_pretrain_then_finetune_runs_one_at_a_time_served_or_deployed():
    (declared,) = [d for d in declared_deployments() if d["name"] == "pretrain-then-finetune"]
    assert declared["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    served_one = runner_deployment(declared)
    assert served_one.concurrency_limit == 1
    assert served_one.concurrency_options.collision_strategy == "CANCEL_NEW"


@pytest.mark.timeout(240)
def test_served_deployment_round_trip(prefect_api, client_env, videos, tmp_path):
    out = tmp_path / "features"
    with served(client_env, tmp_path / "serve.log"):
        rejected = prefect_cli(
            "deployment", "run", "extract/extract", "--param", f"videos={videos}",
            "--param", "shard_size=0", env=client_env,
        )  # fmt: skip
        assert rejected.returncode != 0 and "shard_size" in rejected.stdout + rejected.stderr

        run = prefect_cli(
            "deployment", "run", "extract/extract", "--param", f"videos={videos}",
            "--param", f"out={out}", "--param", "model_size=tiny", "--param", "device=cpu",
            "--watch", env=client_env,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr

    result = ExtractRun.model_validate(last_result("extract/extract"))
    assert (result.videos, result.extracted, result.clips, result.failures) == (
        3,
        3,
        15 + 2 + 2,
        {},
    )
    assert result.manifest == out / "manifest.parquet" and result.manifest.is_file()
    assert [d.name for d in result.video_feature_dirs] == ["clip_features", "slowfast_features"]
    assert len(list(out.glob("*_features/*.npz"))) == 6


@pytest.mark.timeout(600)
def test_served_runs_spread_shards_over_the_dask_cluster_given(
    prefect_api, client_env, make_video, tmp_path
):
    """`videolights serve --task-runner dask --dask-address` against a LocalCluster started
    here: every shard runs in one of its worker processes (not in the flow's process, which
    has no event log), and each worker loads the models once however many shards it runs."""
    from distributed import Client, LocalCluster

    from tests.flows.event_log import EventLog

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        make_video(name, 25, fps=25, width=96, height=64).rename(videos / name)
    events = tmp_path / "events.log"
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    with cluster, Client(cluster) as client:
        client.register_plugin(EventLog(str(events)))
        workers = set(client.run(os.getpid).values())
        options = ("--task-runner", "dask", "--dask-address", cluster.scheduler_address)
        with served(client_env, tmp_path / "serve.log", options):
            # 420 s: on a loaded machine the flow-run process alone took minutes to start.
            run = prefect_cli(
                "deployment", "run", "extract/extract", "--param", f"videos={videos}",
                "--param", f"out={tmp_path / 'features'}", "--param", 'encoders=["clip"]',
                "--param", "shard_size=1", "--param", "model_size=tiny",
                "--param", "device=cpu", "--watch", env=client_env, timeout=420,
            )  # fmt: skip
            assert run.returncode == 0, run.stdout + run.stderr

    result = ExtractRun.model_validate(last_result("extract/extract"))
    assert (result.videos, result.extracted, result.failures) == (3, 3, {})
    logged = [line.split() for line in events.read_text().splitlines()]
    shards = Counter(int(pid) for event, pid in logged if event == "shard")
    loads = Counter(int(pid) for event, pid in logged if event == "load")
    assert sum(shards.values()) == 3 and set(shards) <= workers and os.getpid() not in workers
    assert loads == Counter(set(shards))  # once per worker process that ran shards
    assert max(shards.values()) >= 2  # three shards on two workers: one ran several


@pytest.mark.timeout(300)
def test_work_pool_and_worker_round_trip(prefect_api, client_env, tmp_path):
    """A run through a process work pool; meanwhile the worker image's HEALTHCHECK command,
    run against this worker as the image starts it, passes while it polls and fails while it
    is hung (stopped)."""
    pool = yaml.safe_load(PREFECT_FILE.read_text())["definitions"]["work_pool"]["name"]
    created = prefect_cli("work-pool", "create", pool, "--type", "process", env=client_env)
    assert created.returncode == 0, created.stdout + created.stderr
    deployed = prefect_cli("deploy", "--all", env=client_env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    health = {"PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1"}
    health["PREFECT_WORKER_WEBSERVER_PORT"] = str(free_port())
    env = client_env | health
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    worker = start_process(command + ["--with-healthcheck"], env, tmp_path / "worker.log", tmp_path)
    try:
        run = prefect_cli(
            "deployment", "run", "evaluate/evaluate",
            "--param", f"gt={QVH / 'highlight_val_release.jsonl'}",
            "--param", f"submission={QVH / 'moment_detr_sample_val_preds.jsonl'}",
            "--param", f"out={tmp_path / 'evaluation'}", "--watch", env=client_env,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        check = [sys.executable if word == "python" else word for word in worker_healthcheck()]
        assert subprocess.run(check, env=env, cwd=ROOT, timeout=60).returncode == 0
        os.kill(worker.pid, signal.SIGSTOP)
        try:
            assert subprocess.run(check, env=env, cwd=ROOT, timeout=60).returncode == 1
        finally:
            os.kill(worker.pid, signal.SIGCONT)
    finally:
        stop_process(worker)

    result = EvaluateRun.model_validate(last_result("evaluate/evaluate"))
    assert result.brief["MR-full-R1@0.5"] == 53.94  # the official evaluator's figure
    assert result.metrics_file.is_file()


class Proxy:
    """Forwards a port of 127.0.0.1 to another until `cut`, which drops every connection and
    refuses new ones: the API going away under a worker that talks to it through here."""

    def __init__(self, target_port: int):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target_port = target_port
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # cut
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)

    def cut(self) -> None:
        self.listener.close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


@pytest.mark.timeout(300)
def test_worker_healthcheck_fails_once_the_worker_stops_polling(prefect_api, client_env, tmp_path):
    """A worker that has polled the API through a proxy; the proxy is cut; within 30 query
    intervals (30 x 0.2 s here) the image's HEALTHCHECK command reports it."""
    from urllib.parse import urlsplit

    from prefect import get_client

    proxy = Proxy(urlsplit(client_env["PREFECT_API_URL"]).port)
    env = client_env | {
        "PREFECT_API_URL": f"http://127.0.0.1:{proxy.port}/api",
        "PREFECT_WORKER_QUERY_SECONDS": "0.2",
        "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
        "PREFECT_WORKER_WEBSERVER_PORT": str(free_port()),
    }
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", "health-check"]
    command += ["--type", "process", "--with-healthcheck"]
    worker = start_process(command, env, tmp_path / "worker.log", tmp_path)
    check = [sys.executable if word == "python" else word for word in worker_healthcheck()]
    try:
        with get_client(sync_client=True) as client:  # the worker has synced: its pool exists
            deadline = time.monotonic() + 180
            while not [p for p in client.read_work_pools() if p.name == "health-check"]:
                assert time.monotonic() < deadline and worker.poll() is None, tail(
                    tmp_path / "worker.log"
                )
                time.sleep(1)
        assert subprocess.run(check, env=env, cwd=ROOT, timeout=60).returncode == 0
        proxy.cut()
        deadline = time.monotonic() + 60
        while (
            result := subprocess.run(
                check, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
            )
        ).returncode == 0:
            assert time.monotonic() < deadline, "still healthy a minute after the API went away"
            time.sleep(1)
        assert "503" in result.stderr and worker.poll() is None
    finally:
        stop_process(worker)
