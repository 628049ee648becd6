"""Degenerate captions, dropped before rows are written, each reason counted.

- `empty`: nothing left after stripping;
- `too_short`: fewer than `min_words` words (default 3);
- `repeated`: a video of two or more captioned intervals whose captions are all the same
  (compared lower-cased, whitespace collapsed): the captioner saw nothing that changes.
A caption is counted under the first reason it meets, in that order.
"""

from __future__ import annotations

FILTERS = ("empty", "too_short", "repeated")
MIN_WORDS = 3


def normalize_caption(text: str) -> str:
    return " ".join(text.lower().split())


def drop_reasons(captions: list[str], min_words: int = MIN_WORDS) -> list[str | None]:
    """The captions of one video's intervals -> per caption, why it is dropped, or None."""
    normalized = [normalize_caption(text) for text in captions]
    repeated = len(normalized) >= 2 and len(set(normalized)) == 1
    reasons = []
    for text in normalized:
        if not text:
            reasons.append("empty")
        elif len(text.split()) < min_words:
            reasons.append("too_short")
        elif repeated:
            reasons.append("repeated")
        else:
            reasons.append(None)
    return reasons
