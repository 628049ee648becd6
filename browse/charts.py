"""Geometry of the server-drawn SVG charts: a time axis of `WIDTH` units for the whole video."""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH = 1000.0
HEIGHT = 80.0
MARGIN = 6.0


def x_of(seconds: float, duration: float) -> float:
    return round(WIDTH * min(max(seconds, 0.0), duration) / duration, 2) if duration > 0 else 0.0


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    seconds: float  # where clicking the point seeks to: the clip's start
    value: float


@dataclass(frozen=True)
class Curve:
    points: list[Point]
    low: float
    high: float

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)


def curve(values: list[float], duration: float, clip_length: float, low=None, high=None) -> Curve:
    """One point per clip, at the clip's centre; values scaled into the chart's height."""
    finite = [v for v in values if math.isfinite(v)] or [0.0]
    low = min(finite) if low is None else low
    high = max(finite) if high is None else high
    span = (high - low) or 1.0
    points = []
    for index, value in enumerate(values):
        start = index * clip_length
        level = (value - low) / span if math.isfinite(value) else 0.0
        y = round(HEIGHT - MARGIN - level * (HEIGHT - 2 * MARGIN), 2)
        points.append(Point(x_of(start + clip_length / 2, duration), y, start, value))
    return Curve(points, low, high)


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    start: float
    end: float
    label: str


def bars(windows: list, duration: float) -> list[Bar]:
    """[start, end(, score)] windows as spans of the time axis."""
    spans = []
    for window in windows:
        start, end = float(window[0]), float(window[1])
        label = f"{window[2]:.3f}" if len(window) > 2 else ""
        x = x_of(start, duration)
        spans.append(Bar(x, max(round(x_of(end, duration) - x, 2), 1.0), start, end, label))
    return spans
