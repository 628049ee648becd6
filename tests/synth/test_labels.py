"""Both labelling strategies on hand-built similarity arrays."""

import numpy as np
import pytest

from synth.intervals import Interval
from synth.labels import grades, grow_window, interval_labels, make_labels, similarity_labels

SECOND = Interval(1, 10.0, 20.0, (5, 6, 7, 8, 9))


def test_interval_labels_are_the_interval_and_its_clip_similarities():
    similarities = np.arange(15, dtype=np.float32) / 10
    labels = interval_labels(similarities, SECOND)
    assert labels.window == (10.0, 20.0)
    assert labels.clip_ids == (5, 6, 7, 8, 9)
    assert labels.saliency == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])


def test_grades_count_the_thresholds_reached():
    # mu = 0.5, sigma = 0.1: thresholds 0.35, 0.5, 0.65.
    values = np.array([0.2, 0.35, 0.49, 0.5, 0.64, 0.65, 0.9])
    assert grades(values, 0.5, 0.1).tolist() == [1, 2, 2, 3, 3, 4, 4]


def test_similarity_window_grows_over_contiguous_positives():
    # Own clips 5..9: values 0.5, 0.6, 0.5, 0.6, 0.5 -> mu 0.54, sigma 0.04899, tau 0.393.
    similarities = np.array(
        [0.9, 0.1, 0.45, 0.40, 0.39, 0.5, 0.6, 0.5, 0.6, 0.5, 0.395, 0.3, 0.9, 0.9, 0.9]
    )
    labels = similarity_labels(similarities, SECOND, clip_length=2.0)
    # Left: 0.39 (clip 4) is not above tau, so the window starts at clip 5. Right: 0.395
    # (clip 10) is, 0.3 (clip 11) is not; clips 12-14 are positive but not contiguous.
    assert labels.clip_ids == (5, 6, 7, 8, 9, 10)
    assert labels.window == (10.0, 22.0)
    # Thresholds mu - 1.5 sigma = 0.4665, mu = 0.54, mu + 1.5 sigma = 0.6135.
    assert labels.saliency == (2.0, 3.0, 2.0, 3.0, 2.0, 1.0)


def test_similarity_window_can_grow_to_both_ends_of_the_video():
    similarities = np.array([0.7, 0.75, 0.8, 0.8, 0.9, 0.8, 0.9, 0.8, 0.85, 0.72])
    interval = Interval(0, 4.0, 14.0, (2, 3, 4, 5, 6))
    # Own clips 0.8, 0.8, 0.9, 0.8, 0.9: mu 0.84, sigma 0.049, tau 0.693: every clip is
    # positive.
    labels = similarity_labels(similarities, interval, clip_length=2.0)
    assert labels.clip_ids == tuple(range(10))
    assert labels.window == (0.0, 20.0)
    # Thresholds 0.7665, 0.84, 0.9135.
    assert labels.saliency == (1.0, 1.0, 2.0, 2.0, 3.0, 2.0, 3.0, 2.0, 3.0, 1.0)
    assert grow_window(similarities, 2, 6, tau=0.85) == (2, 6)


def test_equal_similarities_give_the_interval_with_top_grades():
    similarities = np.full(10, 0.3)
    labels = similarity_labels(similarities, Interval(0, 0.0, 10.0, (0, 1, 2, 3, 4)), 2.0)
    assert labels.clip_ids == (0, 1, 2, 3, 4)
    assert labels.saliency == (4.0,) * 5


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="labels must be one of"):
        make_labels("nearest", np.zeros(5), SECOND, 2.0)
