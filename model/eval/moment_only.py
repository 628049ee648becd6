"""Moment-only metrics (Charades-STA, TACoS, ...): R1 at IoU 0.3 / 0.5 / 0.7 and mIoU.

The top-1 prediction is the first listed window, scored against the GT window it overlaps most,
with the same IoU and inclusive thresholds as the QVHighlights R1.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from model.eval.qvhighlights import MomentBatch, percent, recall_at_one
from model.eval.submission import SubmissionError, require_matching_qids

R1_THRESHOLDS = (0.3, 0.5, 0.7)


def evaluate(submission: list[dict], ground_truth: list[dict]) -> OrderedDict:
    """R1 at 0.3 / 0.5 / 0.7 and mIoU: a `brief` block and a `full` block, in percent."""
    require_matching_qids(submission, ground_truth)
    if "pred_relevant_windows" not in submission[0]:
        raise SubmissionError("a moment-only submission needs pred_relevant_windows")
    gt_by_qid = {row["qid"]: row for row in ground_truth}
    iou = recall_at_one(MomentBatch.build(submission, gt_by_qid))
    recall = {str(t): percent(np.mean(iou >= t)) for t in R1_THRESHOLDS}
    mean_iou = percent(np.mean(iou))
    brief = OrderedDict((f"MR-full-R1@{t}", value) for t, value in recall.items())
    brief["MR-full-mIoU"] = mean_iou
    return OrderedDict(brief=brief, full={"MR-R1": recall, "MR-mIoU": mean_iou})
