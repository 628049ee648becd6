"""`videolights extract ...` and `videolights weights fetch NAME --to DIR`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import add_clip_length_argument


def register(subparsers) -> None:
    from extractors.weights import SOURCES

    extract = subparsers.add_parser(
        "extract",
        help="extract CLIP / SlowFast / BLIP-2 features in the QVHighlights layout",
        description="Decode each video once and write per-clip features of every encoder.",
    )
    extract.add_argument("--videos", type=Path, required=True, help="a folder of videos, or one")
    extract.add_argument("--out", type=Path, required=True, help="feature root folder")
    extract.add_argument("--encoders", default="clip,slowfast", help="comma-separated")
    extract.add_argument("--queries", type=Path, help="QVHighlights JSONL: also text features")
    extract.add_argument("--model-size", default="full", choices=("full", "tiny"))
    extract.add_argument("--preset", default="default", choices=("default", "qvhighlights"))
    add_clip_length_argument(extract)
    extract.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    add_precision_argument(extract)
    extract.add_argument("--weights", type=Path, help="a folder (or file) holding the weights")
    extract.add_argument(
        "--random-weights", action="store_true", help="full-size random weights (benchmarks)"
    )
    extract.add_argument("--seed", type=int, default=0)
    extract.add_argument(
        "--verify-weights",
        action="store_true",
        help="hash every weight file against its recorded checksum (by default only their sizes "
        "and modification times are compared)",
    )
    extract.add_argument(
        "--overwrite",
        action="store_true",
        help="extract every video again, also into a folder made with other settings",
    )
    extract.set_defaults(handler=run_extract)

    weights = subparsers.add_parser("weights", help="download encoder weights (needs internet)")
    actions = weights.add_subparsers(dest="action", required=True)
    fetch = actions.add_parser("fetch", help="download weights and record their checksum")
    fetch.add_argument("name", choices=tuple(SOURCES))
    fetch.add_argument("--to", type=Path, default=Path.home() / ".cache/videolights/weights")
    fetch.set_defaults(handler=run_fetch)


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16", "fp16"),  # registry.PRECISIONS; no torch import at start
        help="auto: fp16 on a GPU, bf16 on a CPU with native bf16 (AVX512-BF16, AMX), else fp32",
    )


def run_extract(args: argparse.Namespace) -> int:
    from extractors.run import ExtractSettings, extract

    settings = ExtractSettings(
        encoders=tuple(name.strip() for name in args.encoders.split(",") if name.strip()),
        model_size=args.model_size,
        preset=args.preset,
        clip_length=args.clip_length,
        device=args.device,
        precision=args.precision,
        weights=args.weights,
        random_weights=args.random_weights,
        seed=args.seed,
        verify_weights=args.verify_weights,
    )
    report = extract(args.videos, args.out, settings, args.queries, args.overwrite)
    print(
        f"{report.videos} videos: {report.extracted} extracted, {report.skipped} already done, "
        f"{len(report.failures)} failed; {report.clips} clips in {report.seconds:.1f} s "
        f"({report.clips_per_second:.1f} clips/s); {report.text_files} text feature files"
    )
    for path, reason in report.failures.items():
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 3 if report.failures else 0


def run_fetch(args: argparse.Namespace) -> int:
    from extractors.weights import fetch

    path = fetch(args.name, args.to)
    print(f"{args.name}: {path} (checksum recorded in {path.parent / 'checksums.json'})")
    return 0
