"""The README's production topology, run for real on one machine, and the faults it must survive.

    python benchmarks/topology.py [--work DIR]

Builds on 127.0.0.1, from real parts: a PostgreSQL cluster of its own (Debian's `initdb` and
`pg_ctl`, in a temporary folder, on a free port, as the user `postgres` when run as root), a
Prefect server whose state lives in it (`PREFECT_API_DATABASE_CONNECTION_URL`), the process work
pool `gpu-pool`, the deployments of prefect.yaml (`prefect --no-prompt deploy --all`) and two
workers (`prefect worker start --pool gpu-pool --limit 1`), every command the README's topology
section shows. Then, on twelve generated videos in three parts (one `extract` flow run per part,
tiny random-weight CLIP on the CPU):

1. a worker killed with SIGKILL, with the flow run it was running, while that run's videos are
   extracted (a GPU node lost); what its flow run shows; the killed part run again;
2. two flow runs extracting the same videos into the same folder at once;
3. the Prefect server stopped and started again while a run extracts;
4. `pretrain-then-finetune` deployed from a copy of prefect.yaml with a one-minute cron switched
   on: it fires, and the next firing, while the first run still runs, does not start a second.

Every output is compared with `videolights extract` run on the same videos without Prefect:
the same feature files byte for byte, a complete manifest and provenance, no temporary or lock
files left. The figures (times to recover, files compared, states seen) are printed as JSON and
written to WORK/report.json. Everything started is stopped at the end, however the run ends.
Prefect's poll intervals are shortened (QUICK) so that this takes minutes; the topology does not
need that.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test videos' generator lives in tests/

import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import yaml  # noqa: E402

from flows.server import PrefectServer, free_port, start_process, stop_process  # noqa: E402
from pipeline.lock import holder_of  # noqa: E402
from tests.videos import write_video  # noqa: E402

POOL = "gpu-pool"
FAULTS = ("worker_killed", "two_runs_one_folder", "server_restarted", "schedule")
WORKERS = ("node1-gpu0", "node1-gpu1")
PARTS, VIDEOS_PER_PART = 3, 4
EXTRACT = {"model_size": "tiny", "device": "cpu", "encoders": '["clip"]'}
# Prefect's defaults poll every 10 to 60 s; here every 2 to 5 s, so the faults play out quickly.
QUICK = {
    "PREFECT_WORKER_QUERY_SECONDS": "2",
    "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
    "PREFECT_RUNNER_POLL_FREQUENCY": "2",
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
    "PREFECT_SERVER_SERVICES_FOREMAN_LOOP_SECONDS": "5",
}
# Set in every process this script starts, so that the test can prove none is left behind.
MARKER = "VIDEOLIGHTS_TOPOLOGY_RUN"


def prefect_command() -> list[str]:
    installed = Path(sys.executable).with_name("prefect")
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "prefect"]


def wait_for(condition, timeout: float, what: str, poll: float = 0.5):
    """Poll `condition()` until it returns something true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children before their parents' siblings."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parent = int(stat[stat.rindex(")") + 2 :].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> list[int]:
    """SIGKILL `pid` and everything below it (flow runs live in sessions of their own)."""
    victims = [pid, *descendants(pid)]
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    return victims


class Postgres:
    """A PostgreSQL cluster of its own in a temporary folder, on a free port of 127.0.0.1,
    owned by `postgres` when this runs as root (initdb refuses root)."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="videolights-postgres-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.bin = self.binaries()
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.started = False

    @staticmethod
    def binaries() -> Path:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise SystemExit("PostgreSQL is not installed: apt-get install postgresql")
        return found[-1].parent

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://prefect:{self.password}@127.0.0.1:{self.port}/prefect"

    def client(self) -> tuple[list[str], dict[str, str]]:
        where = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "prefect"]
        return where, os.environ | {"PGPASSWORD": self.password}

    def run(self, argv: list[str], **options) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, **options)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv[:3])}... failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> Postgres:
        password_file = self.folder / "password"
        password_file.write_text(self.password + "\n")
        if self.as_owner:
            shutil.chown(self.folder, "postgres", "postgres")
            shutil.chown(password_file, "postgres", "postgres")
        password_file.chmod(0o600)
        self.run(
            [
                *self.as_owner,
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "prefect",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
            ]
        )
        password_file.unlink()
        settings = f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
        settings += f"unix_socket_directories = '{self.data}'\n"
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        log = self.folder / "postgres.log"
        pg_ctl = [*self.as_owner, str(self.bin / "pg_ctl"), "-D", str(self.data)]
        self.run([*pg_ctl, "-l", str(log), "-w", "start"])
        self.started = True
        where, env = self.client()
        self.run([str(self.bin / "createdb"), *where, "prefect"], env=env)
        return self

    def query(self, sql: str) -> list[list[str]]:
        where, env = self.client()
        out = self.run([str(self.bin / "psql"), *where, "-d", "prefect", "-At", "-c", sql], env=env)
        return [line.split("|") for line in out.splitlines()]

    def stop(self) -> None:
        if self.started:
            pg_ctl = [*self.as_owner, str(self.bin / "pg_ctl"), "-D", str(self.data)]
            subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True)
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)


class Topology:
    """The server on PostgreSQL, the pool, the deployments and the workers, and the means to
    drive them: Prefect's CLI for what the README shows, its client to watch states."""

    def __init__(self, work: Path, postgres: Postgres, marker: str):
        self.work = work
        self.postgres = postgres
        self.server = PrefectServer(
            work / "prefect",
            settings={"PREFECT_API_DATABASE_CONNECTION_URL": postgres.url, MARKER: marker} | QUICK,
        )
        self.workers: dict[str, subprocess.Popen] = {}
        self.marker = marker

    @property
    def env(self) -> dict[str, str]:
        return self.server.client_environment() | QUICK | {MARKER: self.marker}

    def prefect(self, *args: str, cwd: Path = ROOT) -> str:
        """One `prefect ...` command, as the README shows it; its output."""
        done = subprocess.run(
            [*prefect_command(), *args], env=self.env, cwd=cwd, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"prefect {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def start_worker(self, name: str) -> None:
        folder = self.work / "workers" / name
        folder.mkdir(parents=True, exist_ok=True)
        argv = [*prefect_command(), "worker", "start", "--pool", POOL, "--name", name]
        log = folder / "worker.log"
        self.workers[name] = start_process([*argv, "--limit", "1"], self.env, log, cwd=folder)

    def all_workers_online(self) -> list[str] | None:
        """The names of the workers online when all of ours are, else None."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            found = client.read_workers_for_work_pool(POOL)
        online = sorted(worker.name for worker in found if worker.status.value == "ONLINE")
        return online if set(online) >= set(self.workers) else None

    def run_deployment(self, name: str, **parameters) -> str:
        """`prefect deployment run NAME --param k=v ...`: the new flow run's id."""
        params = [arg for key, value in parameters.items() for arg in ("--param", f"{key}={value}")]
        out = self.prefect("deployment", "run", name, *params)
        return re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)

    def flow_run(self, run_id: str):
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return client.read_flow_run(run_id)

    def state(self, run_id: str) -> str:
        return self.flow_run(run_id).state.name

    def wait_state(self, run_id: str, names: set[str], timeout: float) -> str:
        def reached():
            state = self.state(run_id)
            if state in {"Failed", "Crashed", "Cancelled"} - names:
                raise RuntimeError(f"flow run {run_id} ended {state}; see {self.work}/workers")
            return state if state in names else None

        return wait_for(reached, timeout, f"flow run {run_id} to be {' or '.join(names)}", 1.0)

    def worker_of(self, run_id: str) -> str | None:
        """Which of our workers started the process of this flow run."""
        pid = self.flow_run(run_id).infrastructure_pid
        if not pid:
            return None
        pid = int(str(pid).rsplit(":", 1)[-1])
        for name, process in self.workers.items():
            if process.poll() is None and pid in descendants(process.pid):
                return name
        return None

    def stop(self) -> None:
        for process in self.workers.values():
            kill_tree(process.pid)
            stop_process(process, timeout=5)
        self.server.stop()


def make_videos(folder: Path) -> list[Path]:
    """Twelve 8 s videos in three parts (the frames carry their index, so they differ)."""
    paths = []
    for part in range(1, PARTS + 1):
        (folder / f"part-{part}").mkdir(parents=True, exist_ok=True)
        for index in range(VIDEOS_PER_PART):
            path = folder / f"part-{part}" / f"video-{part}{index}.mp4"
            frames = 80 + 10 * index
            paths.append(write_video(path, frames, fps=10, width=160, height=96))
    return paths


def compare(out: Path, reference: Path, videos: Path) -> dict:
    """The end state against a run without faults on the videos under `videos`: feature files
    byte for byte, the manifest, the provenance records, and no temporary or lock files."""
    paths = [str(path) for path in sorted(videos.rglob("*.mp4"))]
    features = [Path("clip_features") / f"{Path(path).stem}.npz" for path in paths]
    ours = {path.relative_to(out) for path in out.glob("*_features/*.npz")}
    same = [
        p for p in features if (out / p).is_file() and filecmp.cmp(out / p, reference / p, False)
    ]
    manifest = pq.read_table(out / "manifest.parquet")
    expected = pq.read_table(reference / "manifest.parquet")
    expected = expected.filter(pc.field("path").isin(paths))
    provenance = [json.loads(p.read_text()) for p in sorted((out / "provenance").glob("*.json"))]
    return {
        "feature_files": len(features),
        "identical_feature_files": len(same),
        "extra_feature_files": len(ours - set(features)),
        "manifest_equal": manifest.equals(expected),
        "manifest_rows_ok": manifest.column("status").to_pylist().count("ok"),
        "provenance_records": len(provenance),
        "videos_extracted_per_record": [record["report"]["extracted"] for record in provenance],
        "locks_taken_over": [record["report"]["locks_taken_over"] for record in provenance],
        "leftovers": sorted(str(p.relative_to(out)) for p in out.rglob("*") if left_over(p)),
    }


def identical(one: Path, other: Path) -> bool:
    return filecmp.cmp(one, other, shallow=False)


def left_over(path: Path) -> bool:
    return path.is_file() and (path.suffix in {".tmp", ".lock"})


def extract_parameters(videos: Path, out: Path) -> dict:
    return {"videos": videos, "out": out, **EXTRACT}


def kill_a_worker_mid_run(topology: Topology, videos: Path, out: Path) -> dict:
    """Fault 1: one flow run per part; the worker of one of them killed, with its run, while
    that part's videos are extracted; the part run again."""
    started = time.monotonic()
    runs = {
        f"part-{p}": topology.run_deployment(
            "extract/extract", **extract_parameters(videos / f"part-{p}", out)
        )
        for p in range(1, PARTS + 1)
    }

    def two_running():
        placed = {part: topology.worker_of(run) for part, run in runs.items()}
        placed = {part: worker for part, worker in placed.items() if worker}
        return placed if len(set(placed.values())) == 2 else None

    placed = wait_for(two_running, 240, "two parts running on the two workers", 1.0)

    def part_mid_video():  # a part with a video written and another one being extracted
        for part, worker in placed.items():
            done = len(list(out.glob(f"clip_features/video-{part[-1]}*.npz")))
            if 0 < done < VIDEOS_PER_PART and any(out.glob(f".locks/video-{part[-1]}*.lock")):
                return part, worker
        return None

    part, worker = wait_for(part_mid_video, 240, "a part half extracted", 0.05)
    killed_run = runs[part]
    killed = kill_tree(topology.workers[worker].pid)
    killed_at = time.monotonic()
    wait_for(lambda: topology.workers[worker].poll() is not None, 30, "the worker to die")
    locks = {p.name: holder_of(p)["run"] for p in out.glob(".locks/*.lock")}
    done_before = len(list(out.glob(f"clip_features/video-{part[-1]}*.npz")))
    # Recovery: the node comes back, and the part is run again; it skips what is done.
    topology.start_worker(worker)
    rerun = topology.run_deployment("extract/extract", **extract_parameters(videos / part, out))
    # What a user sees meanwhile: nothing is left to report the end of the killed run.
    wait_for(lambda: time.monotonic() > killed_at + 10, 20, "10 s after the kill")
    state_after_kill = topology.state(killed_run)
    topology.wait_state(rerun, {"Completed"}, 300)
    rerun_done_at = time.monotonic()
    for name, run in runs.items():
        if name != part:
            topology.wait_state(run, {"Completed"}, 300)
    recovered_at = time.monotonic()
    return {
        "runs": runs,
        "placement": placed,
        "killed_worker": worker,
        "killed_processes": len(killed),
        "killed_run": killed_run,
        "videos_of_the_part_done_before_the_kill": done_before,
        "locks_left_by_the_kill": locks,
        "killed_run_state_10s_after": state_after_kill,
        "rerun": rerun,
        "seconds_from_kill_to_rerun_done": round(rerun_done_at - killed_at, 1),
        "seconds_from_kill_to_all_done": round(recovered_at - killed_at, 1),
        "seconds_total": round(recovered_at - started, 1),
    }


def two_runs_one_folder(topology: Topology, videos: Path, out: Path) -> dict:
    """Fault 2: two flow runs of the same part into the same folder at once."""
    parameters = extract_parameters(videos / "part-1", out)
    runs = [topology.run_deployment("extract/extract", **parameters) for _ in range(2)]
    for run in runs:
        topology.wait_state(run, {"Completed"}, 300)
    first, second = (topology.flow_run(run) for run in runs)
    overlapped = first.start_time < second.end_time and second.start_time < first.end_time
    return {"runs": runs, "ran_at_the_same_time": overlapped}


def restart_the_server(topology: Topology, videos: Path, out: Path) -> dict:
    """Fault 3: the server stopped and started again while a run extracts."""
    run = topology.run_deployment("extract/extract", **extract_parameters(videos / "part-2", out))
    topology.wait_state(run, {"Running"}, 240)
    wait_for(lambda: any(out.glob("clip_features/*.npz")), 240, "the first feature file", 0.1)
    stopped = time.monotonic()
    topology.server.stop()
    topology.server.start()
    down = time.monotonic() - stopped
    topology.wait_state(run, {"Completed"}, 300)
    completed = time.monotonic()
    online = wait_for(topology.all_workers_online, 60, "the workers online again")
    history = topology.postgres.query(
        "SELECT name FROM flow_run_state WHERE flow_run_id = "
        f"'{run}' ORDER BY timestamp"  # run is a UUID Prefect returned
    )
    return {
        "run": run,
        "seconds_server_down": round(down, 1),
        "seconds_from_restart_to_completed": round(completed - stopped - down, 1),
        "workers_alive": all(p.poll() is None for p in topology.workers.values()),
        "workers_online_after": online,
        "states_in_postgres": [row[0] for row in history],
    }


def every_minute(topology: Topology, out: Path) -> dict:
    """Fault 4: pretrain-then-finetune with a one-minute cron; the second firing while the
    first run still runs."""
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = [d for d in config["deployments"] if d["name"] == "pretrain-then-finetune"]
    data = ROOT / "tests" / "data"
    annotations = data / "annotations" / "big_buck_bunny_0_30.jsonl"
    deployment["schedules"][0] |= {
        "cron": "* * * * *",
        "active": True,
        "parameters": {
            "videos": str(data / "videos"),
            "finetune_annotations": str(annotations),
            "val_annotations": str(annotations),
            "out": str(out),
            "encoders": ["clip"],
            "model_size": "tiny",
            "device": "cpu",
            "pretrain_epochs": 1000,  # still running when the next minute comes
        },
    }
    copy = topology.work / "schedule" / "prefect.yaml"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(yaml.safe_dump(config, sort_keys=False))
    topology.prefect(
        "--no-prompt", "deploy", "--name", "pretrain-then-finetune", "--prefect-file", str(copy)
    )
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    def runs():
        with get_client(sync_client=True) as client:
            names = DeploymentFilter(name=DeploymentFilterName(any_=["pretrain-then-finetune"]))
            return client.read_flow_runs(
                deployment_filter=names, sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=20
            )

    def running():
        return [run for run in runs() if run.state.name == "Running"]

    first = wait_for(running, 180, "the first firing to run", 2.0)[0]

    def second_firing():
        later = [r for r in runs() if r.expected_start_time > first.expected_start_time]
        due = [r for r in later if r.state.name != "Scheduled"]
        return due[0] if due else None

    second = wait_for(second_firing, 150, "the second firing", 2.0)
    time.sleep(5)  # room for a wrongly started second run to show
    states = {str(run.id): run.state.name for run in runs() if run.state.name != "Scheduled"}
    return {
        "first_run": str(first.id),
        "first_run_state_at_second_firing": topology.state(str(first.id)),
        "second_run": str(second.id),
        "second_run_state": topology.state(str(second.id)),
        "runs_running_at_once": sum(state == "Running" for state in states.values()),
        "states": states,
        "firings": [str(run.expected_start_time) for run in (first, second)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("work/topology"))
    parser.add_argument(
        "--faults", nargs="+", choices=FAULTS, default=FAULTS, help="default: all, in this order"
    )
    args = parser.parse_args(argv)
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    marker = secrets.token_hex(8)
    os.environ[MARKER] = marker
    videos, outputs = work / "videos", work / "outputs"
    make_videos(videos)
    started = time.monotonic()
    report: dict = {"marker": marker}
    reference_log = work / "reference.log"
    reference = start_process(
        [
            str(Path(sys.executable).with_name("videolights")),
            "extract",
            "--videos",
            str(videos),
            "--out",
            str(outputs / "reference"),
            "--model-size",
            "tiny",
            "--device",
            "cpu",
            "--encoders",
            "clip",
        ],
        os.environ | {MARKER: marker},
        reference_log,
    )
    postgres = Postgres()
    topology = None
    try:
        postgres.start()
        topology = Topology(work, postgres, marker)
        topology.server.start()
        report["ports"] = {"postgres": postgres.port, "prefect": topology.server.port}
        os.environ.update(topology.env)  # this process watches states through the same server
        topology.prefect("work-pool", "create", POOL, "--type", "process")
        for name in WORKERS:
            topology.start_worker(name)
        topology.prefect("--no-prompt", "deploy", "--all")
        wait_for(topology.all_workers_online, 120, "both workers online")
        report["seconds_to_topology"] = round(time.monotonic() - started, 1)
        if reference.wait(600):
            raise RuntimeError(f"the reference extraction failed; see {reference_log}")

        reference_out = outputs / "reference"
        if "worker_killed" in args.faults:
            fault = kill_a_worker_mid_run(topology, videos, outputs / "killed")
            report["worker_killed"] = fault | compare(outputs / "killed", reference_out, videos)
        if "two_runs_one_folder" in args.faults:
            fault = two_runs_one_folder(topology, videos, outputs / "concurrent")
            same = compare(outputs / "concurrent", reference_out, videos / "part-1")
            report["two_runs_one_folder"] = fault | same
        if "server_restarted" in args.faults:
            fault = restart_the_server(topology, videos, outputs / "restart")
            same = compare(outputs / "restart", reference_out, videos / "part-2")
            report["server_restarted"] = fault | same
        if "schedule" in args.faults:
            report["schedule"] = every_minute(topology, outputs / "scheduled")
    finally:
        if topology is not None:
            topology.stop()
        postgres.stop()
        stop_process(reference, timeout=1)
        report["seconds"] = round(time.monotonic() - started, 1)
        (work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
