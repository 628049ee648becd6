"""Interval arithmetic: n = floor(T / 10) intervals, 5 clips each, deterministic query ids."""

import pytest

from synth.intervals import Interval, num_intervals, query_id, split_intervals


@pytest.mark.parametrize(
    ("duration", "count", "last"),
    [
        (9.9, 0, None),
        (10.0, 1, (0.0, 10.0, (0, 1, 2, 3, 4))),
        (59.9, 5, (40.0, 50.0, (20, 21, 22, 23, 24))),
        (150.0, 15, (140.0, 150.0, (70, 71, 72, 73, 74))),
    ],
)
def test_intervals_for_9_9_10_59_9_and_150_seconds(duration, count, last):
    intervals = split_intervals(duration)
    assert len(intervals) == num_intervals(duration) == count
    for index, interval in enumerate(intervals):
        assert (interval.index, interval.start, interval.end) == (
            index,
            10.0 * index,
            10.0 * index + 10,
        )
        assert interval.clip_ids == tuple(range(5 * index, 5 * index + 5))
        assert interval.middle == 10.0 * index + 5
    if last is not None:
        assert (intervals[-1].start, intervals[-1].end, intervals[-1].clip_ids) == last


def test_a_duration_a_hair_short_of_an_interval_counts_it():
    # A 300-frame 30 fps video measures 9.99967 s after rounding its timestamps.
    assert num_intervals(9.9995) == 1
    assert num_intervals(9.98) == 0


def test_other_interval_lengths_keep_whole_clips():
    intervals = split_intervals(30.0, interval=4.0)
    assert len(intervals) == 7
    assert intervals[1].clip_ids == (2, 3)
    assert [i.clip_ids for i in split_intervals(5.0, interval=1.0, clip_length=1.0)] == [
        (0,),
        (1,),
        (2,),
        (3,),
        (4,),
    ]


@pytest.mark.parametrize("interval", [0.0, -10.0, 5.0, 3.0])
def test_an_interval_that_is_not_a_whole_number_of_clips_is_refused(interval):
    with pytest.raises(ValueError, match="multiple of the clip length"):
        split_intervals(60.0, interval=interval)


def test_query_ids_are_vid_start_end():
    assert query_id("bunny", Interval(2, 20.0, 30.0, (10, 11, 12, 13, 14))) == "bunny_20_30"
    assert query_id("v-1", Interval(0, 2.5, 7.5, ())) == "v-1_2.5_7.5"
