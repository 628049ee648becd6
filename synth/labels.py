"""Algorithm 1, step 4: from a caption's similarities to every clip of its video, the labels of
its row. Pure numpy.

`interval` (the paper's, the default): the window is the captioned interval; its clips are the
relevant clips and their similarities are the saliency scores.

`similarity` (after SG-DETR, arXiv 2410.01615, eq. 16-18): with mu and sigma the mean and
(population) standard deviation of the similarities of the interval's own clips,
- a clip is positive when its similarity exceeds tau = mu - 3 sigma;
- the window starts as the interval and grows, one clip at a time to each side, over the
  contiguous positive clips (the interval's own clips always belong to it: with 5 clips no value
  lies more than 1.8 sigma from their mean);
- each clip of the window is graded 1 to 4: 1 plus the number of the thresholds
  mu - 1.5 sigma, mu, mu + 1.5 sigma that its similarity reaches; the grades are its saliency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.intervals import Interval

LABELS = ("interval", "similarity")


@dataclass(frozen=True)
class Labels:
    """A row's labels: one window [start, end] in seconds, the relevant clip ids and one
    saliency score per relevant clip."""

    window: tuple[float, float]
    clip_ids: tuple[int, ...]
    saliency: tuple[float, ...]


def interval_labels(similarities: np.ndarray, interval: Interval) -> Labels:
    """similarities (L,) over the video's clips -> the interval's window and clip scores."""
    ids = list(interval.clip_ids)
    return Labels(
        window=(interval.start, interval.end),
        clip_ids=tuple(ids),
        saliency=tuple(float(s) for s in similarities[ids]),
    )


def grades(values: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """1 + how many of mu - 1.5 sigma, mu, mu + 1.5 sigma each value reaches: 1 .. 4."""
    thresholds = np.array([mu - 1.5 * sigma, mu, mu + 1.5 * sigma])
    return 1 + (np.asarray(values)[:, None] >= thresholds[None, :]).sum(axis=1)


def grow_window(similarities: np.ndarray, first: int, last: int, tau: float) -> tuple[int, int]:
    """Extend clips [first, last] to each side while the neighbour's similarity exceeds tau."""
    while first > 0 and similarities[first - 1] > tau:
        first -= 1
    while last < len(similarities) - 1 and similarities[last + 1] > tau:
        last += 1
    return first, last


def similarity_labels(similarities: np.ndarray, interval: Interval, clip_length: float) -> Labels:
    """similarities (L,) over every clip of the video -> the grown window and graded clips. The
    window lies on the clip grid: a last clip cut by the video's end still ends a whole clip
    length after its start, as the trainer normalises windows by clips x clip length."""
    own = similarities[list(interval.clip_ids)]
    mu, sigma = float(own.mean()), float(own.std())
    first, last = interval.clip_ids[0], interval.clip_ids[-1]
    first, last = grow_window(similarities, first, last, tau=mu - 3 * sigma)
    ids = np.arange(first, last + 1)
    return Labels(
        window=(first * clip_length, (last + 1) * clip_length),
        clip_ids=tuple(int(i) for i in ids),
        saliency=tuple(float(g) for g in grades(similarities[ids], mu, sigma)),
    )


def make_labels(
    strategy: str, similarities: np.ndarray, interval: Interval, clip_length: float
) -> Labels:
    if strategy == "interval":
        return interval_labels(similarities, interval)
    if strategy == "similarity":
        return similarity_labels(similarities, interval, clip_length)
    raise ValueError(f"labels must be one of {LABELS}, got {strategy!r}")
