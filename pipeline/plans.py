"""Sampling plans: which frames each kind of encoder needs from each clip.

A plan lists, per clip, target times (seconds after the first frame) and how a target becomes
a frame: `nearest` takes the frame whose time is nearest the target (the earlier one on a tie),
`last_before` the last frame strictly before it (the first frame if none is), which is what
ffmpeg's `fps` filter (round=near) selects for its output slot.

Presets (c = clip length, T = duration, [a, b) = clip k cut at the video's end):
- `default`: image encoders take the frame nearest the clip's centre (a + b) / 2; SlowFast takes
  32 frames evenly spaced over the clip, at a + (j + 1/2)(b - a)/32.
- `qvhighlights`, how the released QVHighlights features were sampled (HERO's extractor):
  image encoders read ffmpeg `fps=1/c`, whose slot k is the last frame before (k + 1/2) c;
  SlowFast reads ffmpeg `fps=30` (slot m: the last frame before (m + 1/2)/30), cuts it into
  60-frame clips (the last padded with its last frame), and takes slots
  int(linspace(0, 64 * fps / 30 - 1, 32)) clamped to 59 of each: for a 30 fps source the last
  samples repeat slot 59, for a 24 fps source only the first 1.67 s of a clip are seen.
The slow pathway of SlowFast takes every 4th of the 32 frames; that is the encoder's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.grid import DEFAULT_CLIP_LENGTH, num_clips
from pipeline.probe import VideoInfo

KINDS = ("image", "slowfast")
PRESETS = ("default", "qvhighlights")
PICKS = ("nearest", "last_before")
SLOWFAST_FRAMES = 32
HERO_RATE = 30.0


@dataclass(frozen=True)
class FrameSpec:
    """How a sampled frame is shaped: short side scaled to `size`, then a centre crop to
    size x size when `crop`."""

    size: int = 224
    crop: bool = True

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f"frame size must be positive, got {self.size}")

    def output_shape(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) of a frame of the given size after scaling and cropping."""
        if self.crop:
            return self.size, self.size
        scale = self.size / min(width, height)
        return max(1, round(height * scale)), max(1, round(width * scale))


@dataclass(frozen=True)
class SamplingPlan:
    """times[k] holds clip k's target times in seconds after the first frame."""

    name: str
    times: tuple[tuple[float, ...], ...]
    pick: str = "nearest"
    spec: FrameSpec = FrameSpec()

    def __post_init__(self):
        if self.pick not in PICKS:
            raise ValueError(f"pick must be one of {PICKS}, got {self.pick!r}")

    @property
    def num_clips(self) -> int:
        return len(self.times)


def _clip_bounds(duration: float, clips: int, clip_length: float) -> tuple[np.ndarray, np.ndarray]:
    starts = np.arange(clips) * clip_length
    ends = np.minimum(starts + clip_length, max(duration, starts[-1] + 1e-6))
    return starts, ends


def _default_times(kind: str, duration: float, clips: int, clip_length: float) -> np.ndarray:
    starts, ends = _clip_bounds(duration, clips, clip_length)
    per_clip = 1 if kind == "image" else SLOWFAST_FRAMES
    fractions = (np.arange(per_clip) + 0.5) / per_clip
    return starts[:, None] + fractions[None, :] * (ends - starts)[:, None]


def _qvhighlights_times(kind: str, fps: float, clips: int, clip_length: float) -> np.ndarray:
    if kind == "image":
        return ((np.arange(clips) + 0.5) * clip_length)[:, None]
    slots_per_clip = round(HERO_RATE * clip_length)
    window = SLOWFAST_FRAMES * 2 * fps / HERO_RATE - 1
    offsets = np.clip(np.linspace(0, window, SLOWFAST_FRAMES), 0, slots_per_clip - 1).astype(int)
    slots = np.arange(clips)[:, None] * slots_per_clip + offsets[None, :]
    return (slots + 0.5) / HERO_RATE


def make_plan(
    kind: str,
    info: VideoInfo,
    preset: str = "default",
    clip_length: float = DEFAULT_CLIP_LENGTH,
    spec: FrameSpec | None = None,
    name: str | None = None,
) -> SamplingPlan:
    """The plan of an encoder kind ("image" or "slowfast") for one video."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    clips = num_clips(info.duration, clip_length)
    if preset == "default":
        times, pick = _default_times(kind, info.duration, clips, clip_length), "nearest"
    else:
        times, pick = _qvhighlights_times(kind, info.fps, clips, clip_length), "last_before"
    return SamplingPlan(
        name=name or kind,
        times=tuple(tuple(float(t) for t in row) for row in times),
        pick=pick,
        spec=spec or FrameSpec(),
    )
