"""The clip grid rule: L = max(1, ceil(T/c - 0.001))."""

import numpy as np
import pytest

from pipeline.grid import num_clips


@pytest.mark.parametrize(
    ("duration", "clips"),
    [(150.0, 75), (30.0, 15), (31.0, 16), (1.0, 1), (0.04, 1), (0.0, 1), (2.0, 1), (2.01, 2)],
)
def test_clip_counts_from_the_specification(duration, clips):
    assert num_clips(duration) == clips


def test_a_duration_a_hair_over_a_whole_number_of_clips_adds_no_clip():
    assert num_clips(30.0019) == 15  # 15.00095 - 0.001 rounds up to 15
    assert num_clips(30.0021) == 16


def test_one_second_clips_for_charades():
    assert num_clips(30.4, clip_length=1.0) == 31


@pytest.mark.parametrize("fps", [23.976, 24, 25, 29.97, 30, 50, 60])
@pytest.mark.parametrize("frames", [1, 2, 47, 48, 49, 4500])
def test_every_frame_falls_in_exactly_one_existing_clip(fps, frames):
    clips = num_clips(frames / fps)  # the last frame at (frames - 1) / fps lasts one frame
    times = np.arange(frames)[:, None] / fps
    starts = 2.0 * np.arange(clips)[None, :]  # clip k covers [2k, 2k + 2)
    containing = ((starts <= times) & (times < starts + 2.0)).sum(axis=1)
    assert (containing == 1).all(), np.flatnonzero(containing != 1)
    # and no clip lies past the video: the last one starts before the last frame ends
    assert starts[0, -1] < frames / fps


def test_clip_length_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        num_clips(10.0, clip_length=0)
