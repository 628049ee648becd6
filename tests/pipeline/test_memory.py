"""Streaming keeps memory bounded: decoding a long video never holds the whole video."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

MINUTES = 5
BOUND_MB = 250

MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    from pipeline.decode import decode_clips
    from pipeline.plans import make_plan
    from pipeline.probe import probe

    path = sys.argv[1]
    info = probe(path)
    plans = [make_plan(kind, info) for kind in ("image", "slowfast")]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clips = sum(1 for _ in decode_clips(path, plans, info))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"clips": clips, "growth_mb": (after - before) / 1024}))
    """
)


def noise(index, width, height):
    return np.random.default_rng(index).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_peak_memory_stays_bounded_for_a_long_video(make_video):
    path = make_video("long.mp4", MINUTES * 60 * 30, fps=30, width=160, height=120, frame=noise)
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    measured = json.loads(result.stdout)
    assert measured["clips"] == MINUTES * 30
    # Holding every sampled frame would take 150 clips x 33 frames x 224 x 224 x 3 = 745 MB.
    assert measured["growth_mb"] < BOUND_MB
