"""`videolights eval --submission PRED.jsonl --gt GT.jsonl [--out METRICS.json]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score a submission (QVHighlights, moment-only sets, TVSum)",
        description="Score predictions in the QVHighlights submission format.",
    )
    parser.add_argument("--submission", required=True, type=Path, help="predictions, JSONL")
    parser.add_argument("--gt", required=True, type=Path, help="ground truth, JSONL")
    parser.add_argument("--out", type=Path, help="also write the metrics here (JSON)")
    parser.add_argument(
        "--dataset",
        default="auto",
        choices=("auto", "qvhighlights", "moments", "tvsum"),
        help="metric family; auto reads it from the ground truth's fields",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from model.eval import SubmissionError, evaluate_files
    from pipeline.store import atomic_write_text

    try:
        metrics = evaluate_files(args.submission, args.gt, args.dataset)
    except SubmissionError as error:
        print(f"videolights eval: {error}", file=sys.stderr)
        return 2
    text = json.dumps(metrics, indent=4)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0
