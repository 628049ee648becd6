"""`videolights synth ...` and the `synth-generate` console script: the same arguments, thin over
`synth.generate.generate`. Exit status: 0 success, 2 usage error or missing weights, 3 some
videos or captions failed (each recorded in the summary)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from extractors.cli import add_precision_argument
from pipeline.cli import add_clip_length_argument
from pipeline.errors import run_command

DESCRIPTION = (
    "Make the synthetic pretraining set (Algorithm 1): caption every 10 s interval of each "
    "video with BLIP-2, score the caption against each 2 s clip, write Parquet shards to OUT."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--videos", type=Path, required=True, help="a folder of videos, or one")
    parser.add_argument("--out", type=Path, required=True, help="output folder of Parquet shards")
    parser.add_argument("--model-size", default="full", choices=("full", "tiny"))
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    add_precision_argument(parser)
    parser.add_argument("--weights", type=Path, help="a folder holding the model folders")
    parser.add_argument(
        "--random-weights", action="store_true", help="full-size random weights (benchmarks)"
    )
    parser.add_argument("--labels", default="interval", choices=("interval", "similarity"))
    parser.add_argument("--interval", type=float, default=10.0, help="seconds per caption")
    add_clip_length_argument(parser)
    parser.add_argument("--similarity", default="blip2", choices=("blip2", "clip"), help="phi")
    parser.add_argument(
        "--representative", default="middle", choices=("middle", "sharpest"), help="frame choice"
    )
    parser.add_argument("--num-beams", type=int, default=3)
    parser.add_argument("--min-tokens", type=int, default=10, help="minimum new caption tokens")
    parser.add_argument("--max-tokens", type=int, default=30, help="maximum new caption tokens")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per caption batch")
    parser.add_argument("--min-words", type=int, default=3, help="shorter captions are dropped")
    parser.add_argument("--limit", type=int, help="only the first N videos (sorted by path)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jsonl", type=Path, help="also write QVHighlights-style JSONL here")
    parser.add_argument(
        "--text-features", type=Path, help="also write the captions' CLIP and BLIP-2 features"
    )


def register(subparsers) -> None:
    synth = subparsers.add_parser(
        "synth", help="make the synthetic pretraining set", description=DESCRIPTION
    )
    add_arguments(synth)
    synth.set_defaults(handler=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from synth.caption import DecodingSettings
    from synth.generate import SynthSettings, generate, summary_path

    settings = SynthSettings(
        model_size=args.model_size,
        device=args.device,
        precision=args.precision,
        weights=args.weights,
        random_weights=args.random_weights,
        labels=args.labels,
        interval=args.interval,
        clip_length=args.clip_length,
        similarity=args.similarity,
        representative=args.representative,
        decoding=DecodingSettings(args.num_beams, args.min_tokens, args.max_tokens),
        caption_batch_size=args.batch_size,
        min_words=args.min_words,
        limit=args.limit,
        seed=args.seed,
    )
    report = generate(args.videos, args.out, settings, args.jsonl, args.text_features)
    filtered = ", ".join(f"{count} {reason}" for reason, count in report.filtered.items())
    print(
        f"{report.videos} videos: {report.processed} done, {report.skipped} already done, "
        f"{len(report.too_short)} shorter than one interval, {len(report.failures)} failed; "
        f"{report.intervals} intervals captioned, {report.rows} rows written "
        f"({report.rows_total} in the output), filtered: {filtered}; "
        f"{report.seconds:.1f} s ({report.rows_per_second:.2f} rows/s)"
    )
    for path, reason in report.failures.items():
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    for qid, reason in report.caption_failures.items():
        print(f"  caption failed: {qid}: {reason}", file=sys.stderr)
    print(f"output: {args.out} (summary: {summary_path(args.out)})")
    return 3 if report.failed else 0


def synth_generate_main(argv: list[str] | None = None) -> int:
    """The `synth-generate` console script."""
    parser = argparse.ArgumentParser(prog="synth-generate", description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(handler=run_synth)
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(synth_generate_main())
