"""Vectorised IoU and average precision, with the exact semantics of the official evaluator.

Every function works on padded batches (one row per query, a validity mask for the padding),
so a whole split is scored with a few dozen numpy operations instead of a Python loop per
query. Sums run in the same order as the official code; the results agree with it to the last
bit except where numpy's pairwise summation of 8 or more terms groups additions differently,
a difference of a few ulps that cannot move a figure rounded to two decimals.
"""

from __future__ import annotations

import numpy as np


def cross_iou(windows_a: np.ndarray, windows_b: np.ndarray) -> np.ndarray:
    """IoU of every window in a with every window in b, per row.

    windows_a: (Q, A, 2), windows_b: (Q, B, 2) as [start, end]. Returns (Q, A, B).
    The union is len_a + len_b - intersection (0/0 gives NaN, as in the official code).
    """
    start_a, end_a = windows_a[..., :, None, 0], windows_a[..., :, None, 1]
    start_b, end_b = windows_b[..., None, :, 0], windows_b[..., None, :, 1]
    intersection = np.clip(np.minimum(end_a, end_b) - np.maximum(start_a, start_b), 0, None)
    union = (end_a - start_a) + (end_b - start_b) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return intersection / union


def paired_iou(windows_a: np.ndarray, windows_b: np.ndarray) -> np.ndarray:
    """IoU of window a[i] with b[i]: (N, 2), (N, 2) -> (N,).

    The official R1 divides by the hull (max end - min start), which equals the union whenever
    the windows overlap and gives 0 otherwise; the hull is kept so that rounding matches.
    """
    intersection = np.maximum(
        0.0,
        np.minimum(windows_a[:, 1], windows_b[:, 1]) - np.maximum(windows_a[:, 0], windows_b[:, 0]),
    )
    hull = np.maximum(windows_a[:, 1], windows_b[:, 1]) - np.minimum(
        windows_a[:, 0], windows_b[:, 0]
    )
    return np.divide(intersection, hull, out=np.zeros_like(intersection), where=hull != 0)


def detection_ap(
    iou: np.ndarray, pred_valid: np.ndarray, gt_valid: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """Average precision of ranked windows against ground-truth windows, per query and threshold.

    iou: (Q, P, G), predictions already in descending score order; pred_valid (Q, P) and
    gt_valid (Q, G) mark real entries (valid predictions first; every row has one valid GT).
    thresholds: (T,). Returns (Q, T).

    Greedy matching as in ActivityNet's evaluator: each prediction, best score first, takes the
    unmatched GT window of highest IoU if that IoU >= the threshold (ties go to the GT listed
    last, as `argsort()[::-1]` orders them); then VOC all-point interpolated AP.
    """
    num_queries, num_preds, num_gts = iou.shape
    hit = np.where(gt_valid[:, None, :], iou, -np.inf)  # (Q, P, G)
    taken = np.zeros((num_queries, len(thresholds), num_gts), dtype=bool)
    true_positive = np.zeros((num_queries, len(thresholds), num_preds), dtype=bool)
    for p in range(num_preds):
        candidates = (hit[:, None, p, :] >= thresholds[None, :, None]) & ~taken  # (Q, T, G)
        best_last = (
            num_gts
            - 1
            - np.argmax(np.where(candidates, hit[:, None, p, :], -np.inf)[..., ::-1], axis=-1)
        )
        matched = candidates.any(-1) & pred_valid[:, None, p]
        true_positive[..., p] = matched
        rows, cols = np.nonzero(matched)
        taken[rows, cols, best_last[rows, cols]] = True

    false_positive = pred_valid[:, None, :] & ~true_positive
    tp_count = np.cumsum(true_positive, axis=-1, dtype=float)
    fp_count = np.cumsum(false_positive, axis=-1, dtype=float)
    num_positive = gt_valid.sum(-1, dtype=float)[:, None, None]
    recall = tp_count / num_positive
    with np.errstate(invalid="ignore"):
        precision = tp_count / (tp_count + fp_count)

    pad = np.zeros(recall.shape[:-1] + (1,))
    recall = np.concatenate([pad, recall, pad + 1.0], axis=-1)
    precision = np.concatenate([pad, precision, pad], axis=-1)
    envelope = np.maximum.accumulate(precision[..., ::-1], axis=-1)[..., ::-1]
    steps = np.diff(recall, axis=-1)
    terms = np.where(steps != 0, steps * envelope[..., 1:], 0.0)
    return _sequential_sum(terms)


def ranking_ap(labels: np.ndarray, scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Average precision of a ranking, as the official `get_ap` computes it.

    labels (R, K, C) bool: K label sets per row sharing the ranking given by scores (R, C);
    valid (R, C) marks real clips. Returns (R, K).
    A label set that is all 0 scores 0, all 1 scores 1. Otherwise the precision at each distinct
    score (tied scores form one threshold), made non-increasing in recall, is averaged over the
    thresholds at which recall grows, each threshold weighted once whatever the size of the
    recall step (sklearn's precision_recall_curve followed by the official mean).
    """
    num_rows, num_cols = scores.shape
    order = np.argsort(np.where(valid, -scores, np.inf), axis=-1, kind="stable")
    sorted_scores = np.take_along_axis(scores, order, -1)
    sorted_valid = np.take_along_axis(valid, order, -1)[:, None, :]  # (R, 1, C)
    sorted_labels = np.take_along_axis(labels, order[:, None, :], -1) & sorted_valid

    last = np.zeros((num_rows, 1), dtype=bool)
    next_valid = np.concatenate([sorted_valid[:, 0, 1:], last], -1)
    next_score = np.concatenate([sorted_scores[:, 1:], last], -1)
    threshold_end = (sorted_valid[:, 0] & (~next_valid | (sorted_scores != next_score)))[:, None]

    tp_count = np.cumsum(sorted_labels, axis=-1)
    precision = np.where(threshold_end, tp_count / np.arange(1, num_cols + 1), 0.0)
    envelope = np.maximum.accumulate(precision[..., ::-1], axis=-1)[..., ::-1]
    tp_at_ends = np.where(threshold_end, tp_count, 0)
    tp_before = np.maximum.accumulate(
        np.concatenate([np.zeros(tp_at_ends.shape[:-1] + (1,), int), tp_at_ends[..., :-1]], -1),
        axis=-1,
    )
    counted = threshold_end & (tp_count > tp_before)
    # sklearn lists thresholds from high recall to low, and the mean follows that order.
    total = _sequential_sum(np.where(counted, envelope, 0.0)[..., ::-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = total / counted.sum(-1)

    num_positive = sorted_labels.sum(-1)
    ap = np.where(num_positive == 0, 0.0, ap)
    return np.where(num_positive == sorted_valid.sum(-1), 1.0, ap)


def _sequential_sum(terms: np.ndarray) -> np.ndarray:
    """Sum over the last axis left to right (what numpy does for fewer than 8 terms)."""
    total = np.zeros(terms.shape[:-1])
    for k in range(terms.shape[-1]):
        total = total + terms[..., k]
    return total
