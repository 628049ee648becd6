"""How fast `videolights browse` pages a large synthetic set.

    python benchmarks/browse.py [--videos 10000] [--rounds 5] [--out DIR]

Generates a synthetic set of `--videos` videos (30 to 150 s, so 3 to 15 intervals and 15 to 75
clips each; shards of 16 videos, as the synth flow writes them) with random captions and curves,
then times, interleaved round by round: a list page and a video page of the viewer (in process,
through Starlette's test client: routing, Parquet, templates), and, as the baseline, what a
viewer without the index does for a page: read the whole set (`synth.schema.read_rows`) and
take the page's rows. Goal: under 300 ms per page.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from timing import interleaved  # this folder's, before it leaves sys.path

# Run as `python benchmarks/browse.py`, this folder comes first on sys.path and `import browse`
# would find this file instead of the package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

from browse.app import build_app  # noqa: E402
from browse.sources import Sources  # noqa: E402
from pipeline.grid import num_clips  # noqa: E402
from synth.intervals import split_intervals  # noqa: E402
from synth.schema import ShardWriter, read_rows  # noqa: E402

WORDS = ("a", "man", "woman", "dog", "car", "street", "kitchen", "cooks", "walks", "runs", "table")
SHARD_VIDEOS = 16


def rows_of(vid: str, duration: float, rng: random.Random) -> list[dict]:
    clips = num_clips(duration)
    similarities = [rng.uniform(-0.3, 0.4) for _ in range(clips)]
    return [
        {
            "qid": f"{vid}_{interval.start:g}_{interval.end:g}",
            "query": " ".join(rng.choices(WORDS, k=rng.randint(5, 12))),
            "vid": vid,
            "duration": duration,
            "relevant_windows": [[interval.start, interval.end]],
            "relevant_clip_ids": list(interval.clip_ids),
            "saliency_scores": [[similarities[c]] for c in interval.clip_ids],
            "interval_index": interval.index,
            "interval_start": interval.start,
            "interval_end": interval.end,
            "frame_time": interval.middle,
            "clip_similarities": similarities,
            "labels": "interval",
            "captioner": "benchmark",
            "similarity_model": "benchmark",
            "decoding": {"num_beams": 3, "min_new_tokens": 10, "max_new_tokens": 30},
            "config_hash": "benchmark",
        }
        for interval in split_intervals(duration)
    ]


def generate(folder: Path, videos: int, seed: int = 0) -> int:
    """A synthetic set of `videos` videos in `folder`; returns its row count."""
    rng = random.Random(seed)
    writer = ShardWriter(folder, "benchmark")
    names = [f"video{k:06d}" for k in range(videos)]
    rng.shuffle(names)  # shards are not in name order, as with real folders
    for start in range(0, videos, SHARD_VIDEOS):
        chunk = names[start : start + SHARD_VIDEOS]
        rows = [row for vid in chunk for row in rows_of(vid, rng.uniform(30, 150), rng)]
        writer.write(rows, chunk)
    return writer.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, help="keep the generated set here")
    args = parser.parse_args()
    from starlette.testclient import TestClient

    with tempfile.TemporaryDirectory() as temporary:
        folder = (args.out or Path(temporary)) / "synth"
        started = time.perf_counter()
        rows = generate(folder, args.videos)
        print(
            f"generated {args.videos} videos, {rows} rows in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        client = TestClient(build_app(Sources(synth=folder)))
        print(f"viewer start (index of the set): {time.perf_counter() - started:.2f} s")
        rng = random.Random(1)
        pages = -(-args.videos // 50)

        def list_page():
            response = client.get(f"/synth?page={rng.randrange(pages)}")
            assert response.status_code == 200

        def video_page():
            response = client.get(f"/synth/video{rng.randrange(args.videos):06d}")
            assert response.status_code == 200

        def whole_set_page():
            table = read_rows(folder)
            page = rng.randrange(pages) * 50
            return table.slice(page * 10, 500).to_pylist()

        list_page(), video_page()  # the first render compiles the templates
        seconds, _ = interleaved(
            {"list page": list_page, "video page": video_page, "baseline": whole_set_page},
            args.rounds,
        )
    baseline = statistics.median(seconds["baseline"])
    print(f"\n{'':34} {'median ms':>10} {'max ms':>8} {'baseline / this':>16}")
    for name, label in (
        ("list page", "list page (50 videos)"),
        ("video page", "video page (rows, curves, player)"),
        ("baseline", "baseline: read the set per page"),
    ):
        median = statistics.median(seconds[name])
        print(
            f"{label:34} {1000 * median:10.1f} {1000 * max(seconds[name]):8.1f}"
            f" {baseline / median:16.1f}"
        )
    worst = max(max(seconds["list page"]), max(seconds["video page"]))
    verdict = "met" if worst < 0.3 else "NOT met"
    print(f"\nslowest page {1000 * worst:.0f} ms (goal < 300 ms): {verdict}")


if __name__ == "__main__":
    main()
