"""Time `model.eval` against the official QVHighlights evaluator on the same submission.

    python benchmarks/eval.py --official PATH/TO/moment_detr [--submission PRED] [--gt GT]

PATH/TO/moment_detr is a checkout of jayleicn/moment_detr (its standalone_eval needs
scikit-learn: `pip install -e ".[bench]"`). Without --official only our time is printed.
Both evaluators run in this process on the same parsed JSON; the figures are compared too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

from model.eval.qvhighlights import evaluate
from model.eval.submission import load_jsonl

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "qvhighlights"


def best_time(function, repeat: int) -> tuple[float, object]:
    """Best wall time of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def official_evaluator(checkout: Path):
    sys.path.insert(0, str(checkout))
    from standalone_eval.eval import eval_submission

    def run(submission, ground_truth):
        with contextlib.redirect_stdout(io.StringIO()):  # it prints timings as it goes
            return eval_submission(submission, ground_truth, verbose=False)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, help="a jayleicn/moment_detr checkout")
    parser.add_argument("--submission", type=Path, default=DATA / "qd_detr_val_preds.jsonl")
    parser.add_argument("--gt", type=Path, default=DATA / "highlight_val_release.jsonl")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    submission, ground_truth = load_jsonl(args.submission), load_jsonl(args.gt)
    ours_s, ours = best_time(lambda: evaluate(submission, ground_truth), args.repeat)
    print(f"queries: {len(submission)}")
    print(f"model.eval:         {ours_s:8.3f} s")
    if args.official is None:
        return
    run_official = official_evaluator(args.official)
    official_s, official = best_time(lambda: run_official(submission, ground_truth), args.repeat)
    for group in ("short", "middle", "long", "full"):
        ours[group].pop("MR-mIoU", None)
    same = json.loads(json.dumps(ours)) == json.loads(json.dumps(official))
    print(f"official evaluator: {official_s:8.3f} s")
    print(f"speed-up:           {official_s / ours_s:8.1f}x  (identical figures: {same})")


if __name__ == "__main__":
    main()
