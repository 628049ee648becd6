"""A submission beside its ground truth: the metrics `videolights eval` prints, and each
query's own figures (`model.eval.qvhighlights.per_query`) to sort the queries by."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.eval import evaluate_files, load_jsonl
from model.eval.qvhighlights import CLIP_LENGTH, per_query

TOP_MOMENTS = 5
# The orders the query list offers: name -> column heading.
ORDERS = {
    "r1": "R1 IoU of the top moment",
    "hit1": "HIT@1 (VeryGood)",
    "qid": "query id",
}


@dataclass(frozen=True)
class Query:
    qid: object
    query: str
    vid: str
    duration: float
    gt_windows: list
    moments: list  # the top predicted [start, end, score], in the submission's order
    predicted_saliency: list
    annotated_saliency: list  # per clip, the mean of the annotators' scores (0 unlisted)
    r1_iou: float  # NaN without windows
    hit1: bool | None

    def sort_key(self, order: str) -> tuple:
        """Worst first: the lowest IoU (or a HIT@1 miss, then the lowest IoU); no figure last."""
        iou = math.inf if math.isnan(self.r1_iou) else self.r1_iou
        if order == "r1":
            return (iou, str(self.qid))
        if order == "hit1":
            return (self.hit1 is not False, iou, str(self.qid))
        return (str(self.qid),)


def annotated_saliency(row: dict) -> list[float]:
    """The mean annotator score of each clip of the video (clips not listed score 0)."""
    scores = np.zeros(max(1, int(row["duration"] / CLIP_LENGTH)))
    for clip, values in zip(row.get("relevant_clip_ids", []), row["saliency_scores"], strict=True):
        if clip < len(scores):
            scores[clip] = float(np.mean(values))
    return scores.round(3).tolist()


def metric_blocks(metrics: dict) -> list[tuple[str, list[tuple[str, float]]]]:
    """The metrics in their printed order: (block, [(metric, value)]), nested names joined."""

    def rows(values: dict, prefix: tuple = ()) -> list[tuple[str, float]]:
        found = []
        for key, value in values.items():
            if isinstance(value, dict):
                found += rows(value, (*prefix, key))
            else:
                found.append((" / ".join((*prefix, key)), value))
        return found

    return [(block, rows(values)) for block, values in metrics.items()]


class PredictionSet:
    def __init__(self, predictions, gt):
        self.path = predictions
        submission, ground_truth = load_jsonl(predictions), load_jsonl(gt)
        self.metrics = evaluate_files(predictions, gt)
        figures = per_query(submission, ground_truth)
        gt_by_qid = {row["qid"]: row for row in ground_truth}
        self.queries = {}
        for entry in submission:
            row = gt_by_qid[entry["qid"]]
            own = figures[entry["qid"]]
            self.queries[str(entry["qid"])] = Query(
                qid=entry["qid"],
                query=row.get("query", ""),
                vid=row["vid"],
                duration=float(row["duration"]),
                gt_windows=row.get("relevant_windows", []),
                moments=entry.get("pred_relevant_windows", [])[:TOP_MOMENTS],
                predicted_saliency=entry.get("pred_saliency_scores", []),
                annotated_saliency=annotated_saliency(row) if "saliency_scores" in row else [],
                r1_iou=own.get("R1-IoU", math.nan),
                hit1=own.get("Hit1-VeryGood"),
            )

    def ordered(self, order: str) -> list[Query]:
        return sorted(self.queries.values(), key=lambda query: query.sort_key(order))

    def metric_blocks(self) -> list[tuple[str, list[tuple[str, float]]]]:
        return metric_blocks(self.metrics)
