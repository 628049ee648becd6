"""Extraction speed: our batched single pass against the reference tools' way.

    python benchmarks/extract.py [--video PATH] [--blip2-frames 4]

Full-size CLIP ViT-B/32 and SlowFast R50 with random weights (speed does not depend on the
weights), on the bundled real video:
  ours       one decode for both encoders, clips batched per encoder (extractors.run);
  reference  one decode per encoder, one frame (CLIP) or one clip (SlowFast) per forward call.
Prints clips/s of both, the ratio (goal >= 3x) and our share of time decoding vs encoding; then
clips/s of the full-size BLIP-2 image path (ViT-g + Q-Former) on a few frames.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from extractors.registry import build_encoder
from extractors.run import ExtractReport, ExtractSettings, encode_video
from pipeline.decode import decode_clips
from pipeline.plans import make_plan
from pipeline.probe import probe

BUNDLED = Path(__file__).resolve().parent.parent / "tests/data/videos/big_buck_bunny_0_30.webm"


def reference_way(info, encoders) -> None:
    """One decode per encoder, one sample per call."""
    for encoder in encoders.values():
        plan = make_plan(encoder.plan_kind, info, spec=encoder.spec)
        for clip in decode_clips(info.path, [plan], info):
            encoder.encode_clips(clip.frames[plan.name][None])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=BUNDLED)
    parser.add_argument("--blip2-frames", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    info = probe(args.video)
    clips = info.num_clips()
    encoders = {
        name: build_encoder(name, "full", device="cpu", random_weights=True)
        for name in ("clip", "slowfast")
    }
    settings = ExtractSettings(encoders=tuple(encoders), random_weights=True, device="cpu")
    report = ExtractReport()
    started = time.perf_counter()
    encode_video(info, encoders, settings, report)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    reference_way(info, encoders)
    theirs = time.perf_counter() - started
    print(f"{info.video_id}: {clips} clips, CLIP + SlowFast full size, random weights, CPU")
    print(f"  ours (one decode, batched):        {clips / ours:6.2f} clips/s")
    print(f"  reference way (per encoder, 1/call): {clips / theirs:6.2f} clips/s")
    print(f"  ratio: {theirs / ours:.2f}x  (goal >= 3x)")
    decoding, encoding = report.decode_seconds / ours, report.encode_seconds / ours
    print(f"  our time: decoding {decoding:.0%}, encoding {encoding:.0%}")

    blip2 = build_encoder("blip2", "full", device="cpu", random_weights=True)
    frames = np.random.default_rng(0).integers(
        0, 256, (args.blip2_frames, 1, 224, 224, 3), np.uint8
    )
    blip2.encode_clips(frames[:1])
    started = time.perf_counter()
    blip2.encode_clips(frames)
    rate = args.blip2_frames / (time.perf_counter() - started)
    print(f"  BLIP-2 image path (ViT-g + Q-Former): {rate:.2f} clips/s")


if __name__ == "__main__":
    main()
