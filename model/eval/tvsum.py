"""TVSum highlight detection: top-5 mAP, as UMT and QD-DETR compute it.

For each video and each of its 20 annotators, the annotator's clip scores are binarised at
"greater than their median" (torch's median: the lower of the two middle values), the clips are
ranked by predicted saliency (ties keep clip order), and the AP of the top 5 is the trapezoid
sum of precision over recall steps, starting from precision 1 at recall 0; a top 5 without a
positive scores 0. Per video the 20 APs are averaged; per domain the videos are averaged; the
overall figure is the mean of the domains.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from model.eval.qvhighlights import percent
from model.eval.submission import SubmissionError, ragged_array, require_matching_qids

TOP_K = 5


def lower_median(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """The lower of the two middle values for an even count (torch.median's convention)."""
    return np.sort(values, axis=axis).take((values.shape[axis] - 1) // 2, axis=axis)


def top_k_ap(labels: np.ndarray, scores: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """labels (C, A) annotator scores, scores (C,) predictions -> (A,) AP of the top k clips."""
    positive = labels > lower_median(labels, axis=0)
    ranked = positive[np.argsort(-scores, kind="stable")[:k]].astype(float)  # (k, A)
    hits = np.cumsum(ranked, axis=0)
    num_hits = hits[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = hits / num_hits
    precision = hits / np.arange(1, len(ranked) + 1)[:, None]
    previous_recall = np.vstack([np.zeros((1, labels.shape[1])), recall[:-1]])
    previous_precision = np.vstack([np.ones((1, labels.shape[1])), precision[:-1]])
    ap = ((recall - previous_recall) * (previous_precision + precision) / 2).sum(0)
    return np.where(num_hits == 0, 0.0, ap)


def video_ap(gt: dict, scores: np.ndarray) -> float:
    """Mean top-5 AP over the annotators of one video; predictions beyond its clips are cut."""
    qid = gt["qid"]
    try:
        labels = np.asarray(gt["label"], dtype=float)
    except (KeyError, TypeError, ValueError):
        raise SubmissionError(
            f"ground truth qid {qid!r}: 'label' must be clips x annotators"
        ) from None
    if labels.ndim != 2 or len(labels) == 0:
        raise SubmissionError(f"ground truth qid {qid!r}: 'label' must be clips x annotators")
    if len(scores) < len(labels):
        raise SubmissionError(
            f"qid {qid!r}: {len(scores)} saliency scores for a video of {len(labels)} clips"
        )
    return float(np.mean(top_k_ap(labels, scores[: len(labels)])))


def evaluate(submission: list[dict], ground_truth: list[dict]) -> OrderedDict:
    """{"brief": {"HL-top5-mAP": overall}, "domains": {domain: top-5 mAP}} in percent."""
    require_matching_qids(submission, ground_truth)
    qids = [entry["qid"] for entry in submission]
    field = "pred_saliency_scores"
    scores, valid = ragged_array(qids, [entry.get(field) for entry in submission], field)
    scores_by_qid = {qid: row[ok] for qid, row, ok in zip(qids, scores, valid, strict=True)}
    by_domain: dict[str, list[float]] = {}
    for gt in ground_truth:
        domain = gt.get("domain", "all")
        by_domain.setdefault(domain, []).append(video_ap(gt, scores_by_qid[gt["qid"]]))
    domains = OrderedDict((d, percent(np.mean(aps))) for d, aps in sorted(by_domain.items()))
    overall = percent(np.mean([np.mean(aps) for aps in by_domain.values()]))
    return OrderedDict(brief=OrderedDict({"HL-top5-mAP": overall}), domains=domains)
