"""`make demo`: the main job on the embedded defaults, from a fresh clone.

Starts the embedded Prefect server (SQLite under work/prefect), serves the deployments of
prefect.yaml (`videolights serve`), runs `pretrain-then-finetune` on the bundled real video with
the tiny random-weight encoders on the CPU through `prefect deployment run ... --watch`, prints
the metrics and where every output is, stops everything it started, and prints the commands to
try next on its outputs (`next_steps`).

The finetuning and validation queries are the same four hand-written ones
(tests/data/annotations): the figures show that every stage ran end to end, not how good a model
is. The runs stay recorded in work/prefect; `PREFECT_HOME=work/prefect prefect server start`
shows them in the UI later.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from flows.params import WORK
from flows.serve import ROOT, served
from flows.server import PrefectServer

DEPLOYMENT = "pretrain-then-finetune/pretrain-then-finetune"
VIDEOS = ROOT / "tests" / "data" / "videos"
VIDEO = VIDEOS / "big_buck_bunny_0_30.webm"
QUERY = "a rabbit wakes up"
ANNOTATIONS = ROOT / "tests" / "data" / "annotations" / "big_buck_bunny_0_30.jsonl"


def parameters(out: Path) -> dict:
    return {
        "videos": VIDEOS,
        "finetune_annotations": ANNOTATIONS,
        "val_annotations": ANNOTATIONS,
        "out": out,
        "model_size": "tiny",
        "device": "cpu",
        "pretrain_epochs": 3,
        "finetune_epochs": 5,
        "batch_size": 4,
    }


def run_deployment(env: dict[str, str], values: dict) -> int:
    """`prefect deployment run NAME --param k=v ... --watch`, its output on this terminal."""
    params = [arg for key, value in values.items() for arg in ("--param", f"{key}={value}")]
    command = [sys.executable, "-m", "prefect", "deployment", "run", DEPLOYMENT, *params]
    return subprocess.run([*command, "--watch"], env=env, cwd=ROOT).returncode


def report(lineage: Path, logs: list[Path]) -> bool:
    """Print each finished step's outputs, the metrics, or the step that failed and why."""
    if not lineage.is_file():
        print(f"\nThe run stopped before writing {lineage}; see the logs below.")
        record = {"steps": []}
    else:
        record = json.loads(lineage.read_text())
    print(f"\nOutputs (lineage: {lineage}):")
    results = {step["step"]: step["result"] for step in record["steps"]}
    for step, result in results.items():
        print(f"  {step}:")
        items = result.items() if isinstance(result, dict) else [("files written", result)]
        for key, value in items:
            if isinstance(value, float):
                value = f"{value:.2f}"
            if key != "brief":
                print(f"    {key}: {value}")
    brief = results.get("evaluate", {}).get("brief", {})
    if brief:
        print("\nMetrics (tiny random-weight encoders, finetuning queries reused for validation):")
        for name, value in brief.items():
            print(f"  {name:24} {value:7.2f}")
    failed = record.get("failed")
    if failed:
        print(f"\nFailed at step {failed['step']!r}: {failed['error']}")
    print("\nLogs: " + ", ".join(str(log) for log in logs))
    return bool(brief) and not failed


def shown(path: Path) -> str:
    """A path as a user types it: relative to the working directory when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def next_steps(out: Path) -> list[str]:
    """Commands that work on the demo's outputs in `out`, printed at its end."""
    script = Path(sys.executable).with_name("videolights")
    videolights = shown(script) if script.is_file() else "videolights"
    values = parameters(out)
    predict = [videolights, "predict", "--checkpoint", shown(out / "finetune" / "model_best.ckpt")]
    predict += ["--video", shown(VIDEO), "--query", QUERY, "--model-size", values["model_size"]]
    predict += ["--device", values["device"], "--out", shown(out / "predict")]
    browse = [videolights, "browse", shown(out)]  # its lineage.json names what to show
    return [shlex.join(predict), shlex.join(browse)]


def main(work: Path = WORK) -> int:
    work = work.resolve()
    out = work / "demo"
    started = time.monotonic()
    with PrefectServer(work / "prefect") as server:
        print(f"Prefect server: {server.api_url} (home {server.home})")
        env = server.client_environment() | {"PREFECT_RUNNER_POLL_FREQUENCY": "2"}
        serve_log = out / "serve.log"
        with served(env, serve_log):
            print(f"Serving the deployments of prefect.yaml (log: {serve_log})")
            status = run_deployment(env, parameters(out))
    ok = report(out / "lineage.json", [server.log, serve_log]) and status == 0
    print(f"\nDemo {'finished' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s.")
    if ok:
        print("\nTry next:\n" + "".join(f"  {command}\n" for command in next_steps(out)), end="")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
