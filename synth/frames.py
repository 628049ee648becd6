"""The frames Algorithm 1 needs from a video, from one decoding pass (`pipeline.decode`).

Two image plans share the pass:
- `clip`: one frame per 2 s clip, the frame nearest the clip's centre (the `default` preset,
  as the extractors sample it); an interval's clip frames are its 5 clips' frames;
- `middle`: one target per interval, at its exact middle, the representative frame by default.
  The target rides with the clip that contains it (for [0, 10): clip 2, whose centre frame it
  is when the interval holds an odd number of clips, so it is converted once).
`representative="sharpest"` instead takes, among the interval's clip frames, the one whose
Laplacian has the largest variance (the usual focus measure), and needs no second plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from pipeline.decode import decode_clips
from pipeline.plans import FrameSpec, SamplingPlan, make_plan
from pipeline.probe import VideoInfo
from synth.intervals import Interval

REPRESENTATIVES = ("middle", "sharpest")
GREY = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class Representative:
    """The frame that interval `interval` is captioned from, its target time (s), and the clip
    whose frame it is (the same pixels), if any."""

    interval: int
    time: float
    frame: np.ndarray
    clip: int | None = None


@dataclass
class ClipFrame:
    """Clip `index`'s frame (H, W, 3) uint8, and the representatives chosen once it arrived."""

    index: int
    frame: np.ndarray
    representatives: list[Representative] = field(default_factory=list)


def sharpness(frame: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the grey image: larger is sharper."""
    grey = frame.astype(np.float32) @ GREY
    laplacian = (
        4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    )
    return float(laplacian.var())


def carrier_clip(interval: Interval, clip_length: float, num_clips: int) -> int:
    """The clip whose decoding also picks the interval's middle frame: the one containing it."""
    return min(int(interval.middle // clip_length), num_clips - 1)


def frame_plans(
    info: VideoInfo,
    intervals: list[Interval],
    clip_length: float,
    representative: str,
    spec: FrameSpec | None = None,
) -> list[SamplingPlan]:
    """The clip plan, plus the middle plan when representatives are the middle frames."""
    spec = spec or FrameSpec()
    clips = make_plan("image", info, "default", clip_length, spec, name="clip")
    if representative != "middle":
        return [clips]
    middles: list[tuple[float, ...]] = [() for _ in range(clips.num_clips)]
    for interval in intervals:
        middles[carrier_clip(interval, clip_length, clips.num_clips)] += (interval.middle,)
    return [clips, SamplingPlan("middle", tuple(middles), "nearest", spec)]


class _Sharpest:
    """Follows each interval's sharpest clip frame so far (the first of equally sharp ones) and
    gives its representative at the interval's last clip."""

    def __init__(self, intervals: list[Interval], centres: list[float]):
        self.owner = {clip: interval for interval in intervals for clip in interval.clip_ids}
        self.centres = centres
        self.best: dict[int, tuple[float, int, np.ndarray]] = {}

    def offer(self, index: int, frame: np.ndarray) -> list[Representative]:
        interval = self.owner.get(index)
        if interval is None:  # a clip after the last whole interval
            return []
        score = sharpness(frame)
        if interval.index not in self.best or score > self.best[interval.index][0]:
            self.best[interval.index] = (score, index, frame)
        if index != interval.clip_ids[-1]:
            return []
        _, chosen, best = self.best.pop(interval.index)
        return [Representative(interval.index, self.centres[chosen], best, chosen)]


def interval_frames(
    info: VideoInfo,
    intervals: list[Interval],
    clip_length: float = 2.0,
    representative: str = "middle",
    spec: FrameSpec | None = None,
) -> Iterator[ClipFrame]:
    """Every clip's frame in order, each interval's representative attached to the clip at
    which it is known. Raises `pipeline.errors.VideoError` on a bad video."""
    if representative not in REPRESENTATIVES:
        raise ValueError(f"representative must be one of {REPRESENTATIVES}, got {representative!r}")
    plans = frame_plans(info, intervals, clip_length, representative, spec)
    centres = [times[0] for times in plans[0].times]
    carried: dict[int, list[Interval]] = {}
    for interval in intervals:
        carried.setdefault(carrier_clip(interval, clip_length, len(centres)), []).append(interval)
    sharpest = _Sharpest(intervals, centres)
    for clip in decode_clips(info.path, plans, info):
        frame = clip.frames["clip"][0]
        if representative == "middle":
            middles = zip(carried.get(clip.index, []), clip.frames.get("middle", []), strict=True)
            chosen = [
                Representative(
                    i.index, i.middle, image, clip.index if np.array_equal(image, frame) else None
                )
                for i, image in middles
            ]
        else:
            chosen = sharpest.offer(clip.index, frame)
        yield ClipFrame(clip.index, frame, chosen)
