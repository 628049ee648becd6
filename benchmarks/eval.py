"""Time `videolights eval` against the official QVHighlights evaluator, as a user runs them:
whole processes, start-up and file reading included.

    python benchmarks/eval.py --official PATH/TO/moment_detr [--submission PRED] [--gt GT]

PATH/TO/moment_detr is a checkout of jayleicn/moment_detr; its `standalone_eval/eval.py` runs
as its own `eval_sample.sh` runs it (needs scikit-learn: `pip install -e ".[bench]"`). The two
commands alternate, `--repeat` rounds; the best wall time of each, the ratio, the peak resident
memory of each process, and whether the figures are the same are printed. Without --official
only ours is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "qvhighlights"


def run_process(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one process (waited for with wait4, which reports
    that process's own maximum)."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited with {process.returncode}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, help="a jayleicn/moment_detr checkout")
    parser.add_argument("--submission", type=Path, default=DATA / "qd_detr_val_preds.jsonl")
    parser.add_argument("--gt", type=Path, default=DATA / "highlight_val_release.jsonl")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    submission, gt = args.submission.resolve(), args.gt.resolve()

    out = Path(tempfile.mkdtemp(prefix="eval-bench-"))
    ours_argv = [sys.executable, "-m", "flows.cli", "eval", "--submission", str(submission)]
    ours_argv += ["--gt", str(gt), "--out", str(out / "ours.json")]
    ours_env = os.environ | {"PYTHONPATH": str(ROOT)}
    commands = {"videolights eval": (ours_argv, ROOT, ours_env)}
    if args.official is not None:
        checkout = args.official.resolve()
        official_argv = [sys.executable, "standalone_eval/eval.py"]
        official_argv += ["--submission_path", str(submission), "--gt_path", str(gt)]
        official_argv += ["--save_path", str(out / "official.json")]
        official_env = os.environ | {"PYTHONPATH": str(checkout)}
        commands["official evaluator"] = (official_argv, checkout, official_env)

    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, (argv, cwd, env) in commands.items():
            runs[name].append(run_process(argv, cwd, env))

    print(f"{submission.name} against {gt.name}: {sum(1 for _ in submission.open())} queries")
    print(f"best of {args.repeat} interleaved runs, whole processes:")
    best = {name: min(seconds for seconds, _ in times) for name, times in runs.items()}
    for name, times in runs.items():
        memory = max(mib for _, mib in times)
        print(f"  {name:20} {best[name]:7.3f} s   peak RSS {memory:6.0f} MiB")
    if args.official is None:
        return
    ours = json.loads((out / "ours.json").read_text())
    for group in ("short", "middle", "long", "full"):  # ours adds MR-mIoU per group
        ours.get(group, {}).pop("MR-mIoU", None)
    same = ours == json.loads((out / "official.json").read_text())
    ratio = best["official evaluator"] / best["videolights eval"]
    print(f"  speed-up: {ratio:.1f}x (goal >= 20x); identical figures: {same}")


if __name__ == "__main__":
    main()
