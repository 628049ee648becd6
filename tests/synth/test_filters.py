"""Degenerate captions and the reason each is dropped for."""

from synth.filters import drop_reasons


def test_empty_and_short_captions_are_dropped_with_their_reason():
    captions = ["", "   ", "a dog", "a dog runs", "two men play football"]
    assert drop_reasons(captions) == ["empty", "empty", "too_short", None, None]


def test_the_same_caption_for_every_interval_drops_them_all():
    assert drop_reasons(["A man is walking", "a man  is walking "]) == ["repeated", "repeated"]
    # One interval only: nothing to compare with.
    assert drop_reasons(["a man is walking"]) == [None]
    # Not every interval the same: kept.
    assert drop_reasons(["a man is walking", "a man is walking", "a dog"]) == [
        None,
        None,
        "too_short",
    ]


def test_the_first_reason_wins():
    assert drop_reasons(["a dog", "a dog"]) == ["too_short", "too_short"]
    assert drop_reasons(["", ""]) == ["empty", "empty"]
    assert drop_reasons(["one two"], min_words=2) == [None]
