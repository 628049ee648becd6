"""Reading and checking prediction and annotation files before any metric is computed.

A bad line or a bad entry raises `SubmissionError`, whose message names the file or the qid and
the problem, instead of the `KeyError`/`IndexError`/`AssertionError` the official evaluator
stops with.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class SubmissionError(ValueError):
    """A submission or ground-truth file that cannot be evaluated."""


def load_jsonl(path: str | Path) -> list[dict]:
    """One JSON object per non-blank line; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise SubmissionError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise SubmissionError(f"{path}:{number}: expected a JSON object per line")
            rows.append(row)
    if not rows:
        raise SubmissionError(f"{path}: no entries")
    return rows


def require_matching_qids(submission: list[dict], ground_truth: list[dict]) -> None:
    """Refuse a submission whose qid set differs from the ground truth's (as the official
    evaluator does), or that lists a qid twice (the official evaluator silently merges such
    entries inconsistently: mAP pools their windows, R1 and HD use the last one)."""
    for rows, name in ((submission, "submission"), (ground_truth, "ground truth")):
        missing = [index for index, row in enumerate(rows) if "qid" not in row]
        if missing:
            raise SubmissionError(f"{name}: entry {missing[0]} has no 'qid'")
        seen: set = set()
        for row in rows:
            if row["qid"] in seen:
                raise SubmissionError(f"{name}: qid {row['qid']!r} appears more than once")
            seen.add(row["qid"])
    predicted = {row["qid"] for row in submission}
    expected = {row["qid"] for row in ground_truth}
    if predicted != expected:
        unknown = sorted(map(repr, predicted - expected))[:5]
        absent = sorted(map(repr, expected - predicted))[:5]
        raise SubmissionError(
            "the submission's qids differ from the ground truth's: "
            f"{len(predicted - expected)} unknown (e.g. {', '.join(unknown) or '-'}), "
            f"{len(expected - predicted)} missing (e.g. {', '.join(absent) or '-'})"
        )


def ragged_array(
    qids: list, rows: list, field: str, width: int | None = None, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query lists as one padded array, checked on the way.

    rows: for each query a non-empty list of numbers (`width` None) or of lists whose first
    `width` items are numbers, of which the first `limit` are kept. Returns (N, M) or
    (N, M, width) floats (NaN padding) and the (N, M) validity mask. A row that is not such a
    list, or holds a non-finite number, raises `SubmissionError` naming its qid.
    """
    rows = [row[:limit] if isinstance(row, list) else row for row in rows]
    for qid, row in zip(qids, rows, strict=True):
        if not isinstance(row, list) or not row:
            raise SubmissionError(f"qid {qid!r}: {field} is empty or not a list")
    shape = f"a list of [{', '.join(['start', 'end', 'score'][:width])}]" if width else "numbers"

    def as_array(items: list) -> np.ndarray | None:
        try:
            array = np.array(items, dtype=float)
        except (TypeError, ValueError):
            if not width:
                return None
            # Longer items (e.g. windows with extra fields) are cut to `width`, slowly.
            items = [item[:width] if isinstance(item, list | tuple) else item for item in items]
            try:
                array = np.array(items, dtype=float)
            except (TypeError, ValueError):
                return None
        if width is None:
            return array if array.ndim == 1 else None
        if array.ndim != 2 or array.shape[1] < width:
            return None
        return array[:, :width]

    flat = as_array([item for row in rows for item in row])
    if flat is None:
        bad = next(i for i, row in enumerate(rows) if as_array(row) is None)
        raise SubmissionError(f"qid {qids[bad]!r}: {field} must be {shape}")
    lengths = np.array([len(row) for row in rows])
    finite = np.isfinite(flat) if width is None else np.isfinite(flat).all(-1)
    if not finite.all():
        bad = np.repeat(np.arange(len(rows)), lengths)[np.argmin(finite)]
        raise SubmissionError(f"qid {qids[bad]!r}: {field} has a non-finite value")
    valid = np.arange(lengths.max())[None, :] < lengths[:, None]
    padded = np.full(valid.shape + flat.shape[1:], np.nan)
    padded[valid] = flat
    return padded, valid


def require_ordered(qids: list, windows: np.ndarray, valid: np.ndarray, field: str) -> None:
    """Every valid [start, end] window has start <= end (the official evaluator would compute
    meaningless IoUs for reversed windows)."""
    reversed_rows = ((windows[..., 0] > windows[..., 1]) & valid).any(1)
    if reversed_rows.any():
        bad = int(np.argmax(reversed_rows))
        raise SubmissionError(f"qid {qids[bad]!r}: {field} has a window that starts after it ends")
