"""Extraction speed: our batched single pass against the reference tools' way.

    python benchmarks/extract.py [--video PATH] [--blip2-frames 4] [--repeat 2]

Full-size CLIP ViT-B/32 and SlowFast R50 with random weights (speed does not depend on the
weights), on the bundled real video:
  ours       one decode for both encoders, clips batched per encoder, SlowFast's batch norms
             folded, `--precision auto` (bf16 on a CPU with native bf16, fp16 on a GPU);
  ours fp32  the same in fp32, to separate what the precision gives;
  reference  one decode per encoder, one frame (CLIP) or one clip (SlowFast) per call, fp32.
Prints clips/s of each, the ratios (goal >= 3x), our share of time decoding vs encoding, and
how far our features are from fp32 ones (least cosine over the clips); then clips/s of the
full-size BLIP-2 image path (ViT-g + Q-Former) on a few frames; then what bounds SlowFast here:
the time and rate of its convolutions, against a large matrix product's rate in bf16 and fp32.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from timing import interleaved

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


def encoders_at(
    precision: str, names=("clip", "slowfast"), size: str = "full", device: str = "cpu"
) -> dict:
    """The encoders with random weights (speed does not depend on them)."""
    return {
        name: build_encoder(name, size, device=device, random_weights=True, precision=precision)
        for name in names
    }


def timed_pass(info, encoders, precision: str) -> tuple[dict, ExtractReport]:
    settings = ExtractSettings(
        encoders=tuple(encoders), random_weights=True, device="cpu", precision=precision
    )
    report = ExtractReport()
    return encode_video(info, encoders, settings, report), report


def matmul_rate(dtype: torch.dtype, size: int = 4096, repeat: int = 3) -> float:
    """GFLOP/s of a large square matrix product: what this CPU's cores reach at best."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(repeat):
        torch.mm(a, b)
    return 2 * size**3 * repeat / (time.perf_counter() - started) / 1e9


def convolution_time(encoder, frames: np.ndarray) -> tuple[float, float, float]:
    """One `encode_clips` call: (seconds in all, seconds in the Conv3d layers, their GFLOP)."""
    spans: list[float] = []
    flops = 0.0

    def start(module, inputs):
        spans.append(-time.perf_counter())

    def stop(module, inputs, output):
        nonlocal flops
        spans[-1] += time.perf_counter()
        kernel = np.prod(module.kernel_size) * module.in_channels // module.groups
        flops += 2 * output.numel() * kernel

    convolutions = [m for m in encoder.module.modules() if isinstance(m, torch.nn.Conv3d)]
    hooks = [m.register_forward_pre_hook(start) for m in convolutions]
    hooks += [m.register_forward_hook(stop) for m in convolutions]
    started = time.perf_counter()
    encoder.encode_clips(frames)
    total = time.perf_counter() - started
    for hook in hooks:
        hook.remove()
    return total, sum(spans), flops / 1e9


def least_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=BUNDLED)
    parser.add_argument("--blip2-frames", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="best of this many rounds")
    args = parser.parse_args()
    info = probe(args.video)
    clips = info.num_clips()
    exact = encoders_at("fp32")
    fast = encoders_at("auto")
    dtype = fast["clip"].provenance["dtype"]
    seconds, results = interleaved(
        {
            "ours": lambda: timed_pass(info, fast, "auto"),
            "ours_fp32": lambda: timed_pass(info, exact, "fp32"),
            "reference": lambda: reference_way(info, exact),
        },
        args.repeat,
    )
    ours, ours_fp32, theirs = (min(seconds[name]) for name in ("ours", "ours_fp32", "reference"))
    features, report = results["ours"]
    exact_features, _ = results["ours_fp32"]

    print(f"{info.video_id}: {clips} clips, CLIP + SlowFast full size, random weights, CPU")
    print(f"  ours ({dtype}, one decode, batched): {clips / ours:6.2f} clips/s")
    print(f"  ours (float32):                     {clips / ours_fp32:6.2f} clips/s")
    print(f"  reference way (float32, 1/call):    {clips / theirs:6.2f} clips/s")
    print(f"  ratio: {theirs / ours:.2f}x  (goal >= 3x); in float32 {theirs / ours_fp32:.2f}x")
    decoding, encoding = report.decode_seconds / ours, report.encode_seconds / ours
    print(f"  our time: decoding {decoding:.0%}, encoding {encoding:.0%}")
    for name in fast:
        cosine = least_cosine(features[name], exact_features[name])
        print(f"  {name}: least cosine between {dtype} and float32 features {cosine:.5f}")

    blip2 = build_encoder("blip2", "full", device="cpu", random_weights=True)
    frames = np.random.default_rng(0).integers(
        0, 256, (args.blip2_frames, 1, 224, 224, 3), np.uint8
    )
    blip2.encode_clips(frames[:1])
    started = time.perf_counter()
    blip2.encode_clips(frames)
    rate = args.blip2_frames / (time.perf_counter() - started)
    print(f"  BLIP-2 image path (ViT-g + Q-Former, {dtype}): {rate:.2f} clips/s")

    clip = np.random.default_rng(0).integers(0, 256, (1, 32, 224, 224, 3), np.uint8)
    fast["slowfast"].encode_clips(clip)
    total, convolving, gflop = convolution_time(fast["slowfast"], clip)
    print(
        f"  SlowFast ({dtype}): {total:.3f} s a clip, {convolving:.3f} s of it in {gflop:.0f} "
        f"GFLOP of convolutions ({gflop / convolving:.0f} GFLOP/s)\n"
        f"  matrix product 4096^3: bf16 {matmul_rate(torch.bfloat16):.0f} GFLOP/s, "
        f"fp32 {matmul_rate(torch.float32):.0f} GFLOP/s"
    )


if __name__ == "__main__":
    main()
