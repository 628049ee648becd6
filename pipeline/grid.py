"""The clip grid: clip k covers [k*c, (k+1)*c) seconds after a video's first frame."""

from __future__ import annotations

import math

DEFAULT_CLIP_LENGTH = 2.0
# A duration a hair over a whole number of clips (container rounding) adds no clip.
TOLERANCE = 0.001


def num_clips(duration: float, clip_length: float = DEFAULT_CLIP_LENGTH) -> int:
    """L = max(1, ceil(T/c - 0.001)): 150 s -> 75 clips, 30 s -> 15, 31 s -> 16, 1 s -> 1."""
    if clip_length <= 0:
        raise ValueError(f"clip length must be positive, got {clip_length}")
    return max(1, math.ceil(duration / clip_length - TOLERANCE))
