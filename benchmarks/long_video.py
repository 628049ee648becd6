"""What scoring a long video in windows costs: the model's part of `predict --video`.

    python benchmarks/long_video.py [--minutes 10] [--rounds 3]

VideoLights-B at full size (random weights; 3586-wide video and 1280-wide text features, the
`qvhighlights-b` preset) scores one query on a video of --minutes minutes in 150 s windows
(`model.predict.predict_in_windows`: half-overlapping windows, NMS, averaged saliency), against
one 150 s window, the longest the model takes. Both interleaved, the median of --rounds. The
features' extraction, which is the same per clip either way, is not included: the README's
extraction benchmark gives its rate.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from timing import interleaved

from model.checkpoints import build_model
from model.config import load_config
from model.data import collate_inputs
from model.predict import predict_batch, predict_in_windows, window_starts

VIDEO_DIMS, TEXT_DIMS, TOKENS = (2304, 512, 768), (512, 768), 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = load_config("qvhighlights-b")
    data = config.data
    model = build_model(config, sum(VIDEO_DIMS) + 2, sum(TEXT_DIMS)).eval()
    device = torch.device("cpu")
    rng = np.random.default_rng(0)
    clips = int(args.minutes * 60 / data.clip_length)
    videos = [rng.normal(size=(clips, d)).astype(np.float32) for d in VIDEO_DIMS]
    texts = [rng.normal(size=(TOKENS, d)).astype(np.float32) for d in TEXT_DIMS]

    def score(samples):
        return predict_batch(model, collate_inputs(samples), device, data.clip_length)

    def run(length: int):
        row = {"qid": 0, "query": "q", "vid": "v", "duration": length * data.clip_length}
        return lambda: predict_in_windows([v[:length] for v in videos], texts, row, data, score)

    window = data.max_video_clips
    seconds, results = interleaved({"windows": run(clips), "one window": run(window)}, args.rounds)
    whole, one = (statistics.median(seconds[name]) for name in ("windows", "one window"))
    print(f"{args.minutes:g} min = {clips} clips, {len(window_starts(clips, window))} windows")
    scored = len(results["windows"]["pred_saliency_scores"])
    print(f"  in windows:       {whole:.3f} s ({scored} clips scored)")
    print(f"  one 150 s window: {one:.3f} s")
    print(
        f"  ratio: {whole / one:.2f} windows' time; per clip {whole / clips * 1000:.1f} ms "
        f"against {one / window * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
