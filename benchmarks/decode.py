"""Decoding cost: one pass for every plan against a bare decode and against one pass per plan.

    python benchmarks/decode.py [--seconds 150] [--video PATH ...]

Times, per video, the best of --repeat interleaved rounds of
  (a) a bare decode of every frame (no conversion),
  (b) our single pass producing the image and SlowFast plans' frames (decode_clips),
  (c) one pass per encoder for CLIP, SlowFast and BLIP-2, as the reference tools decode,
and prints (b)/(a) (goal <= 1.15) and (c)/(b) (goal >= 2.5). Without --video it generates a
150 s, 30 fps, 640x360 H.264 video and also uses the bundled real one.
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from timing import interleaved

from pipeline.decode import decode_clips
from pipeline.plans import make_plan
from pipeline.probe import probe

BUNDLED = Path(__file__).resolve().parent.parent / "tests/data/videos/big_buck_bunny_0_30.webm"


def generate(path: Path, seconds: float, fps: int = 30, width: int = 640, height: int = 360):
    """A moving gradient with noise, so that the encoder has real work per frame."""
    rng = np.random.default_rng(0)
    base = np.add.outer(np.arange(height), np.arange(width)).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for index in range(int(seconds * fps)):
            luma = base + np.uint8(index % 256) + rng.integers(0, 8, base.shape, dtype=np.uint8)
            image = np.stack([luma, np.roll(luma, index, axis=1), luma[::-1]], axis=-1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def bare_decode(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def consume(path: Path, plans, info) -> int:
    return sum(1 for _ in decode_clips(path, plans, info))


def measure(path: Path, repeat: int) -> None:
    info = probe(path)
    clip, slowfast = make_plan("image", info, name="clip"), make_plan("slowfast", info)
    blip2 = make_plan("image", info, name="blip2")
    seconds, _ = interleaved(
        {
            "bare": lambda: bare_decode(path),
            "single": lambda: consume(path, [clip, slowfast, blip2], info),
            "per_plan": lambda: sum(
                consume(path, [plan], info) for plan in (clip, slowfast, blip2)
            ),
        },
        repeat,
    )
    bare, single, per_plan = (min(seconds[name]) for name in ("bare", "single", "per_plan"))
    print(
        f"{path.name}: {info.num_frames} frames {info.width}x{info.height}, "
        f"{info.num_clips()} clips\n"
        f"  (a) bare decode        {bare:7.2f} s  ({info.num_frames / bare:6.0f} frames/s)\n"
        f"  (b) single pass        {single:7.2f} s\n"
        f"  (c) one pass per plan  {per_plan:7.2f} s\n"
        f"  (b)/(a) = {single / bare:.2f}  (goal <= 1.15)    "
        f"(c)/(b) = {per_plan / single:.2f}  (goal >= 2.5)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, nargs="*", help="videos to time instead")
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.video:
        for path in args.video:
            measure(path, args.repeat)
        return
    with tempfile.TemporaryDirectory() as folder:
        generated = generate(Path(folder) / "generated_640x360_30fps.mp4", args.seconds)
        for path in (generated, BUNDLED):
            measure(path, args.repeat)


if __name__ == "__main__":
    main()
