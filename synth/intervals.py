"""Algorithm 1, step 1: a video of duration T becomes n = floor(T / I) intervals of I seconds.

Interval i covers [i*I, (i+1)*I) and the clips of the 2 s grid inside it: with I = 10 and c = 2,
clips 5i .. 5i+4. The tail after the last whole interval (T - n*I seconds) gives no interval, and
a video shorter than one interval gives none at all. As in `pipeline.grid`, a duration a hair
under a whole number of intervals (container rounding: 9.9995 s) still counts that interval.

    split_intervals(59.9)  ->  5 intervals, [0, 10) .. [40, 50), clips 0-4 .. 20-24
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.grid import DEFAULT_CLIP_LENGTH, TOLERANCE

DEFAULT_INTERVAL = 10.0


@dataclass(frozen=True)
class Interval:
    """Interval `index` of a video: [start, end) seconds after the first frame, and the ids of
    the clips it covers."""

    index: int
    start: float
    end: float
    clip_ids: tuple[int, ...]

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


def check_lengths(interval: float, clip_length: float = DEFAULT_CLIP_LENGTH) -> None:
    """An interval must be a positive whole number of clips, so that its window and its clip
    ids describe the same seconds."""
    if clip_length <= 0:
        raise ValueError(f"clip length must be positive, got {clip_length}")
    clips = interval / clip_length
    if interval <= 0 or abs(clips - round(clips)) > 1e-9 or round(clips) < 1:
        raise ValueError(
            f"the interval ({interval:g} s) must be a positive multiple of the clip length "
            f"({clip_length:g} s)"
        )


def num_intervals(duration: float, interval: float = DEFAULT_INTERVAL) -> int:
    """n = floor(T / I): 9.9 s -> 0, 10 s -> 1, 59.9 s -> 5, 150 s -> 15."""
    return max(0, math.floor(duration / interval + TOLERANCE))


def split_intervals(
    duration: float, interval: float = DEFAULT_INTERVAL, clip_length: float = DEFAULT_CLIP_LENGTH
) -> list[Interval]:
    """The whole intervals of a video of `duration` seconds, in order."""
    check_lengths(interval, clip_length)
    per_interval = round(interval / clip_length)
    return [
        Interval(
            index=i,
            start=i * interval,
            end=(i + 1) * interval,
            clip_ids=tuple(range(i * per_interval, (i + 1) * per_interval)),
        )
        for i in range(num_intervals(duration, interval))
    ]


def format_seconds(seconds: float) -> str:
    """10.0 -> "10", 2.5 -> "2.5": the form used in query ids."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def query_id(vid: str, interval: Interval) -> str:
    """The deterministic query id `{vid}_{start}_{end}`, as the reference generator wrote it."""
    return f"{vid}_{format_seconds(interval.start)}_{format_seconds(interval.end)}"
