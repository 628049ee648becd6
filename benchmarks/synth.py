"""Synthetic-set throughput: our batched generation against the reference generator's loop.

    python benchmarks/synth.py [--size tiny|full-vision] [--copies 4] [--video PATH ...]

Both sides use the same models (ours at `--precision auto`: bf16 on a CPU with native bf16;
the reference's in fp32) and the same videos (by default --copies copies of the bundled 30 s
video):
  (a) `synth.generate.generate`: one decoding pass per video, phi image embeddings in batches,
      captions batched across intervals and videos, one text batch per video, Parquet shards;
      the captioner uses phi's vision tower when the two hold the same weights (the full size:
      same seed; LAVIS trained every BLIP-2 with the same EVA ViT-g frozen), so each clip frame goes
      through ViT-g once;
  (b) the reference's loop (extract_feature/pretrain_data_generator_using_blip2.py): two
      decoding passes per video (the 0.1 fps caption frames and the 0.5 fps clip frames), one
      caption per call, then for each clip of the interval one phi call on one frame and the
      caption, and the whole JSONL rewritten after every video.
Prints rows/s of each (intervals captioned per second: the work before the filters) and the
speed-up (goal >= 5x). `tiny` uses the tiny random models; `full-vision` the full-size BLIP-2
vision tower and Q-Former for both the captioner and phi, with random weights and the tiny OPT
decoder (a random OPT-2.7b would only measure the CPU's memory bandwidth).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from timing import interleaved  # this folder's, before it leaves sys.path

# This file is named like the package it measures: run as a script, its own folder comes first
# on sys.path and `import synth` would find this file instead of the package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import numpy as np  # noqa: E402

from pipeline.decode import decode_clips  # noqa: E402
from pipeline.index import find_videos  # noqa: E402
from pipeline.plans import SamplingPlan, make_plan  # noqa: E402
from pipeline.probe import probe  # noqa: E402
from synth.caption import build_captioner  # noqa: E402
from synth.generate import Models, SynthSettings, generate, share_vision_tower  # noqa: E402
from synth.intervals import query_id, split_intervals  # noqa: E402
from synth.score import build_scorer  # noqa: E402

BUNDLED = Path(__file__).resolve().parent.parent / "tests/data/videos/big_buck_bunny_0_30.webm"


def load(size: str, precision: str, share: bool) -> Models:
    """The models; `share`: the captioner takes phi's vision tower when they are the same (as
    `synth.generate.load_models` does; the reference loaded two)."""
    common = {"device": "cpu", "precision": precision}
    if size == "tiny":
        captioner = build_captioner("tiny", **common)
        scorer = build_scorer("blip2", "tiny", **common)
    else:
        captioner = build_captioner("full", random_weights=True, tiny_language=True, **common)
        scorer = build_scorer("blip2", "full", random_weights=True, **common)
    return Models(captioner, scorer, shared_vision=share and share_vision_tower(captioner, scorer))


def warm_up(models: Models) -> None:
    """The first generate/forward call of a process is several times slower: keep it out."""
    frame = np.zeros((1, 224, 224, 3), np.uint8)
    caption = models.captioner.caption(frame)
    models.scorer.score(models.scorer.image_embeddings(frame), caption)


def reference_loop(paths: list[Path], models: Models, out: Path) -> int:
    """The reference generator's structure with our models; returns the rows made."""
    rows = []
    for path in paths:
        info = probe(path)
        intervals = split_intervals(info.duration)
        if not intervals:
            continue
        # Two separate loads of the video, as the two VideoProcessor calls did: one frame per
        # interval (a "clip" per 10 s slot), then one per 2 s clip.
        slots = SamplingPlan("slots", tuple((interval.middle,) for interval in intervals))
        captioned = [c.frames["slots"][0] for c in decode_clips(path, [slots], info)]
        frames = [
            c.frames["image"][0] for c in decode_clips(path, [make_plan("image", info)], info)
        ]
        for interval, image in zip(intervals, captioned, strict=True):
            caption = models.captioner.caption(image[None])[0]
            saliency = []
            for clip in interval.clip_ids:
                embedding = models.scorer.image_embeddings(frames[clip][None])
                saliency.append([float(models.scorer.score(embedding, [caption])[0, 0])])
            rows.append(
                {
                    "qid": query_id(info.video_id, interval),
                    "query": caption,
                    "vid": info.video_id,
                    "duration": info.duration,
                    "relevant_windows": [[interval.start, interval.end]],
                    "relevant_clip_ids": list(interval.clip_ids),
                    "saliency_scores": saliency,
                }
            )
        out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="tiny", choices=("tiny", "full-vision"))
    parser.add_argument("--copies", type=int, default=4, help="copies of the bundled video")
    parser.add_argument("--video", type=Path, action="append", help="use these videos instead")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per caption batch")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "videos"
        folder.mkdir()
        for index, source in enumerate(args.video or [BUNDLED] * args.copies):
            shutil.copy(source, folder / f"v{index}{source.suffix}")
        paths = find_videos(folder)
        started = time.perf_counter()
        models = load(args.size, "auto", share=True)
        reference_models = load(args.size, "fp32", share=False)
        dtype = models.captioner.provenance["dtype"]
        print(
            f"{args.size} models built in {time.perf_counter() - started:.1f} s; ours in {dtype}, "
            f"vision tower {'shared with' if models.shared_vision else 'apart from'} phi's"
        )
        warm_up(models)
        warm_up(reference_models)

        settings = SynthSettings(
            model_size="tiny", device="cpu", caption_batch_size=args.batch_size
        )
        # Best of two rounds: first calls of a process (shapes, allocators) are slow.
        seconds, results = interleaved(
            {
                "ours": lambda: generate(
                    folder, Path(tempfile.mkdtemp(dir=temporary)) / "out", settings, models=models
                ),
                "reference": lambda: reference_loop(
                    paths, reference_models, Path(temporary) / "reference.jsonl"
                ),
            },
            rounds=2,
        )
        ours, reference = min(seconds["ours"]), min(seconds["reference"])
        report, reference_rows = results["ours"], results["reference"]

    ours_rate, reference_rate = report.intervals / ours, reference_rows / reference
    print(
        f"{len(paths)} videos, {report.intervals} intervals ({report.rows} rows after filters)\n"
        f"  ours ({dtype}, batched, one pass): {ours:7.1f} s  {ours_rate:8.3g} rows/s  "
        f"(decode+phi images {report.decode_seconds:.1f} s, captions "
        f"{report.caption_seconds:.1f} s, phi texts and rows {report.score_seconds:.1f} s)\n"
        f"  reference loop (float32):          {reference:7.1f} s  {reference_rate:8.3g} rows/s\n"
        f"  speed-up: {ours_rate / reference_rate:.2f}x (goal >= 5x)"
    )


if __name__ == "__main__":
    main()
