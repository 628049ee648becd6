"""`videolights probe DIR --out manifest.parquet` and `videolights clips VIDEO`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.grid import DEFAULT_CLIP_LENGTH


def register(subparsers) -> None:
    probe = subparsers.add_parser(
        "probe",
        help="scan a folder of videos and write their manifest",
        description="Probe every video under DIR (recursively) and write a Parquet manifest.",
    )
    probe.add_argument("videos", type=Path, help="a folder of videos, or one video")
    probe.add_argument("--out", type=Path, required=True, help="manifest path (.parquet)")
    add_clip_length_argument(probe)
    probe.set_defaults(handler=run_probe)

    clips = subparsers.add_parser(
        "clips",
        help="decode one video into clips and print its clip table",
        description="Decode a video once for the image and SlowFast plans; print one row per clip.",
    )
    clips.add_argument("video", type=Path)
    clips.add_argument("--preset", default="default", choices=("default", "qvhighlights"))
    add_clip_length_argument(clips)
    clips.set_defaults(handler=run_clips)


def positive_seconds(text: str) -> float:
    seconds = float(text)  # a ValueError: argparse reports "invalid positive_seconds value"
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return seconds


def add_clip_length_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clip-length",
        type=positive_seconds,
        default=DEFAULT_CLIP_LENGTH,
        help="seconds per clip (default 2; 1 for Charades-STA)",
    )


def run_probe(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipeline.index import build_manifest, find_videos, write_manifest

    table = build_manifest(
        find_videos(args.videos), args.clip_length, progress=lambda p: tqdm(p, desc="probe")
    )
    write_manifest(table, args.out)
    failed = [row for row in table.to_pylist() if row["status"] == "failed"]
    print(f"{table.num_rows} videos, {table.num_rows - len(failed)} ok, {len(failed)} failed")
    for row in failed:
        print(f"  failed: {row['path']}: {row['error']}", file=sys.stderr)
    print(f"manifest: {args.out}")
    return 3 if failed else 0


def clip_table(video: Path, preset: str = "default", clip_length: float = 2.0):
    """The probe, and one row per clip: its span, the frames each plan sampled and their mean
    colour."""
    from pipeline.decode import decode_clips
    from pipeline.plans import make_plan
    from pipeline.probe import probe

    info = probe(video)
    plans = [make_plan(kind, info, preset, clip_length) for kind in ("image", "slowfast")]
    rows = []
    for clip in decode_clips(video, plans, info):
        start = clip.index * clip_length
        rows.append(
            {
                "clip": clip.index,
                "start": start,
                "end": min(start + clip_length, info.duration),
                "image": clip.frames["image"].shape,
                "slowfast": clip.frames["slowfast"].shape,
                "mean_rgb": clip.frames["image"].reshape(-1, 3).mean(0).round(1).tolist(),
            }
        )
    return info, rows


def run_clips(args: argparse.Namespace) -> int:
    info, rows = clip_table(args.video, args.preset, args.clip_length)
    print(
        f"{info.video_id}: {info.codec} {info.width}x{info.height} {info.fps:g} fps, "
        f"{info.duration:.3f} s, {len(rows)} clips ({args.preset} preset)"
    )
    print(f"{'clip':>4}  {'span (s)':>13}  {'image':>16}  {'slowfast':>18}  mean RGB")
    for row in rows:
        span = f"{row['start']:6.2f}-{row['end']:6.2f}"
        print(
            f"{row['clip']:>4}  {span:>13}  {str(row['image']):>16}  {str(row['slowfast']):>18}"
            f"  {row['mean_rgb']}"
        )
    return 0
