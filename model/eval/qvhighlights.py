"""QVHighlights metrics, figure for figure those of the official evaluator.

The official evaluator is jayleicn/moment_detr `standalone_eval/eval.py`. Its behaviours, kept
here on purpose (tests check each on hand-computed cases):
- R1 scores the first listed predicted window (not the best-scored) against the GT window it
  overlaps most; the IoU divides by the hull of the two windows.
- mAP uses the first 10 listed windows, ranks them by score (stable for ties) and matches them
  greedily; IoU thresholds are inclusive (IoU >= t), t in 0.5, 0.55, ..., 0.95.
- short / middle / long keep only the GT windows whose length is in (0, 10], (10, 30] or
  (30, 150] seconds and drop queries left with none; predictions are not filtered.
- Highlight GT has int(duration / 2) clips x 3 annotators; clips not listed score 0. A clip is
  positive at Fair / Good / VeryGood when its score is >= 2 / 3 / 4.
- HIT@1 takes the first clip of highest predicted score (over the whole predicted list) and
  counts a hit when any annotator marks it positive; a clip past the video's end is a miss.
- HD mAP cuts or zero-pads the predicted scores to the clip count; per-annotator AP, averaged.
- Every figure is float(f"{100 * x:.2f}").
MR metrics are computed when the first entry has `pred_relevant_windows`, HD metrics when it
has `pred_saliency_scores`, as in the official code; the other entries must then have them too.
Beside the official layout, `MR-mIoU` (mean IoU of the R1 pairs per length group) is added.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from model.eval.average_precision import cross_iou, detection_ap, paired_iou, ranking_ap
from model.eval.submission import (
    SubmissionError,
    ragged_array,
    require_matching_qids,
    require_ordered,
)

MAP_THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))
LENGTH_GROUPS = {"short": (0.0, 10.0), "middle": (10.0, 30.0), "long": (30.0, 150.0), "full": None}
HD_LEVELS = {"Fair": 2, "Good": 3, "VeryGood": 4}
MAX_PRED_WINDOWS = 10
CLIP_LENGTH = 2.0


def percent(value: float) -> float:
    """The official rounding: a percentage with two decimals."""
    return float(f"{100 * value:.2f}")


def _require_field(submission: list[dict], field: str) -> list:
    for entry in submission:
        if field not in entry:
            raise SubmissionError(f"qid {entry['qid']!r}: no {field}")
    return [entry[field] for entry in submission]


@dataclass(frozen=True)
class MomentBatch:
    """Predicted and GT windows of Q queries, padded.

    first: (Q, 2) the first listed predicted window; pred: (Q, P, 2) the first P <= 10 windows
    in descending score order with pred_valid (Q, P); gt: (Q, G, 2) with gt_valid (Q, G)."""

    first: np.ndarray
    pred: np.ndarray
    pred_valid: np.ndarray
    gt: np.ndarray
    gt_valid: np.ndarray

    @classmethod
    def build(cls, submission: list[dict], gt_by_qid: dict) -> MomentBatch:
        qids = [entry["qid"] for entry in submission]
        field = "pred_relevant_windows"
        scored, pred_valid = ragged_array(
            qids, _require_field(submission, field), field, width=3, limit=MAX_PRED_WINDOWS
        )
        require_ordered(qids, scored, pred_valid, field)
        field = "relevant_windows"
        gt_rows = [gt_by_qid[qid].get(field) for qid in qids]
        gt, gt_valid = ragged_array(qids, gt_rows, f"ground truth {field}", width=2)
        require_ordered(qids, gt, gt_valid, f"ground truth {field}")
        rank = np.argsort(np.where(pred_valid, -scored[..., 2], np.inf), axis=1, kind="stable")
        pred = np.take_along_axis(scored[..., :2], rank[..., None], axis=1)
        return cls(scored[:, 0, :2], pred, pred_valid, gt, gt_valid)

    def keep_gt(self, gt_valid: np.ndarray) -> MomentBatch:
        """The queries with at least one GT window left in `gt_valid`, restricted to those."""
        rows = gt_valid.any(1)
        return MomentBatch(
            self.first[rows], self.pred[rows], self.pred_valid[rows], self.gt[rows], gt_valid[rows]
        )


def recall_at_one(batch: MomentBatch) -> np.ndarray:
    """IoU of each query's first predicted window with its best-overlapping GT window: (Q,)."""
    ious = cross_iou(batch.first[:, None, :], batch.gt)[:, 0, :]
    ious = np.where(batch.gt_valid, ious, -np.inf)
    chosen = batch.gt[np.arange(len(ious)), np.argmax(ious, axis=1)]
    return paired_iou(batch.first, chosen)


def moment_metrics(batch: MomentBatch) -> dict:
    """MR-mAP (per threshold and average), MR-R1 (per threshold) and MR-mIoU of one group.

    A group without queries gets NaN figures, as the official evaluator gives them."""
    if len(batch.first) == 0:
        nan = float("nan")
        mean_ap = dict.fromkeys([*map(str, MAP_THRESHOLDS), "average"], nan)
        return {
            "MR-mAP": mean_ap,
            "MR-R1": dict.fromkeys(map(str, MAP_THRESHOLDS), nan),
            "MR-mIoU": nan,
        }
    thresholds = np.array(MAP_THRESHOLDS)
    ap = detection_ap(cross_iou(batch.pred, batch.gt), batch.pred_valid, batch.gt_valid, thresholds)
    ap_by_threshold = ap.mean(0)
    mean_ap = {str(t): percent(v) for t, v in zip(MAP_THRESHOLDS, ap_by_threshold, strict=True)}
    mean_ap["average"] = percent(np.mean(ap_by_threshold))
    iou = recall_at_one(batch)
    recall = {str(t): percent(np.mean(iou >= t)) for t in MAP_THRESHOLDS}
    return {"MR-mAP": mean_ap, "MR-R1": recall, "MR-mIoU": percent(np.mean(iou))}


def evaluate_moments(submission: list[dict], gt_by_qid: dict) -> dict:
    """Moment retrieval metrics per length group: {"short": {...}, ..., "full": {...}}."""
    batch = MomentBatch.build(submission, gt_by_qid)
    lengths = batch.gt[..., 1] - batch.gt[..., 0]
    results = {}
    for name, bounds in LENGTH_GROUPS.items():
        in_group = batch.gt_valid
        if bounds is not None:
            in_group = in_group & (lengths > bounds[0]) & (lengths <= bounds[1])
        results[name] = moment_metrics(batch.keep_gt(in_group))
    return results


def highlight_labels(ground_truth: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """GT saliency of every clip, (Q, C, 3) scores 0..4 (unlisted clips 0), and the (Q, C) mask
    of real clips: int(duration / 2) per video."""
    qids = [gt["qid"] for gt in ground_truth]
    try:
        durations = np.array([gt["duration"] for gt in ground_truth], dtype=float)
        clip_ids = [list(gt["relevant_clip_ids"]) for gt in ground_truth]
        scores = [gt["saliency_scores"] for gt in ground_truth]
    except (KeyError, TypeError, ValueError) as error:
        raise SubmissionError(f"ground truth: bad highlight annotation ({error!r})") from None
    num_clips = (durations / CLIP_LENGTH).astype(int)
    ids, ids_valid = ragged_array(qids, clip_ids, "ground truth relevant_clip_ids")
    values, _ = ragged_array(qids, scores, "ground truth saliency_scores", width=3)
    outside = ids_valid & ((ids < 0) | (ids >= num_clips[:, None]) | (ids != np.round(ids)))
    short = num_clips < 1
    if outside.any() or short.any() or values.shape[:2] != ids.shape:
        bad = int(np.argmax(outside.any(1) | short)) if outside.any() or short.any() else 0
        raise SubmissionError(
            f"ground truth qid {qids[bad]!r}: relevant_clip_ids outside the {num_clips[bad]} clips"
            f" of a {durations[bad]:g} s video, or not one saliency triple per id"
        )
    clip_valid = np.arange(max(num_clips))[None, :] < num_clips[:, None]
    labels = np.zeros(clip_valid.shape + (3,))
    rows = np.repeat(np.arange(len(qids)), ids_valid.sum(1))
    labels[rows, ids[ids_valid].astype(int)] = values[ids_valid]
    return labels, clip_valid


def positive_at_levels(labels: np.ndarray) -> np.ndarray:
    """(Q, C, 3) scores -> (Q, levels, C, 3): positive at Fair, Good, VeryGood."""
    minimums = np.array(list(HD_LEVELS.values()))
    return labels[:, None, :, :] >= minimums[None, :, None, None]


def top_clip_positive(predicted, predicted_valid, positive, num_clips: int) -> np.ndarray:
    """Whether each annotator marks each query's top predicted clip positive at each level:
    (Q, levels, 3). Padded clips are never positive, so a top clip past the end is a miss."""
    top_clip = np.argmax(np.where(predicted_valid, predicted, -np.inf), axis=1)
    top_positive = positive[np.arange(len(top_clip)), :, np.minimum(top_clip, num_clips - 1)]
    return top_positive & (top_clip < num_clips)[:, None, None]


def evaluate_highlights(submission: list[dict], gt_by_qid: dict) -> dict:
    """HL-mAP and HL-Hit1 at Fair, Good and VeryGood: {"HL-min-Fair": {...}, ...}."""
    qids = [entry["qid"] for entry in submission]
    field = "pred_saliency_scores"
    predicted, predicted_valid = ragged_array(qids, _require_field(submission, field), field)
    labels, clip_valid = highlight_labels([gt_by_qid[qid] for qid in qids])
    num_queries, num_clips = clip_valid.shape

    # Cut or zero-pad the predictions to each video's clip count.
    scores = np.zeros((num_queries, max(num_clips, predicted.shape[1])))
    scores[:, : predicted.shape[1]] = np.where(predicted_valid, predicted, 0.0)
    scores = scores[:, :num_clips]

    positive = positive_at_levels(labels)
    ap = ranking_ap(
        positive.transpose(0, 1, 3, 2).reshape(num_queries, -1, num_clips), scores, clip_valid
    )
    ap = ap.reshape(num_queries, len(HD_LEVELS), 3)
    top_positive = top_clip_positive(predicted, predicted_valid, positive, num_clips)
    return {
        f"HL-min-{name}": {
            "HL-mAP": percent(np.mean(ap[:, level])),
            "HL-Hit1": percent(np.mean(top_positive[:, level].max(-1))),
        }
        for level, name in enumerate(HD_LEVELS)
    }


def evaluate(submission: list[dict], ground_truth: list[dict]) -> OrderedDict:
    """All QVHighlights metrics, in the official evaluator's layout (brief block first, then the
    per-group blocks sorted by name), plus `MR-mIoU` inside each length group."""
    require_matching_qids(submission, ground_truth)
    gt_by_qid = {row["qid"]: row for row in ground_truth}
    groups: dict = {}
    brief: OrderedDict = OrderedDict()
    if "pred_relevant_windows" in submission[0]:
        moments = evaluate_moments(submission, gt_by_qid)
        groups.update(moments)
        moment_brief = {
            "MR-full-mAP": moments["full"]["MR-mAP"]["average"],
            "MR-full-mAP@0.5": moments["full"]["MR-mAP"]["0.5"],
            "MR-full-mAP@0.75": moments["full"]["MR-mAP"]["0.75"],
            "MR-short-mAP": moments["short"]["MR-mAP"]["average"],
            "MR-middle-mAP": moments["middle"]["MR-mAP"]["average"],
            "MR-long-mAP": moments["long"]["MR-mAP"]["average"],
            "MR-full-R1@0.5": moments["full"]["MR-R1"]["0.5"],
            "MR-full-R1@0.7": moments["full"]["MR-R1"]["0.7"],
        }
        brief.update(sorted(moment_brief.items()))
    if "pred_saliency_scores" in submission[0]:
        highlights = evaluate_highlights(submission, gt_by_qid)
        groups.update(highlights)
        for group, values in highlights.items():
            for key, value in values.items():
                brief[f"{group}-{key.split('-')[1]}"] = value
    if not groups:
        raise SubmissionError(
            "the submission has neither pred_relevant_windows nor pred_saliency_scores"
        )
    metrics: OrderedDict = OrderedDict(brief=brief)
    metrics.update(sorted(groups.items()))
    return metrics


def per_query(submission: list[dict], ground_truth: list[dict]) -> dict:
    """Each query's own figures, as the metrics above count them: `R1-IoU`, the IoU of its first
    predicted window with its best-overlapping GT window (when both have windows), and
    `Hit1-VeryGood`, whether its top predicted clip is VeryGood for some annotator (when both
    have saliency). {qid: {name: value}}."""
    require_matching_qids(submission, ground_truth)
    gt_by_qid = {row["qid"]: row for row in ground_truth}
    figures: dict = {entry["qid"]: {} for entry in submission}
    first = submission[0]
    if "pred_relevant_windows" in first and "relevant_windows" in ground_truth[0]:
        iou = recall_at_one(MomentBatch.build(submission, gt_by_qid))
        for entry, value in zip(submission, iou, strict=True):
            figures[entry["qid"]]["R1-IoU"] = float(value)
    if "pred_saliency_scores" in first and "saliency_scores" in ground_truth[0]:
        qids = list(figures)
        predicted, valid = ragged_array(
            qids, _require_field(submission, "pred_saliency_scores"), "pred_saliency_scores"
        )
        labels, clip_valid = highlight_labels([gt_by_qid[qid] for qid in qids])
        positive = positive_at_levels(labels)
        hits = top_clip_positive(predicted, valid, positive, clip_valid.shape[1]).max(-1)
        for qid, hit in zip(qids, hits[:, list(HD_LEVELS).index("VeryGood")], strict=True):
            figures[qid]["Hit1-VeryGood"] = bool(hit)
    return figures
