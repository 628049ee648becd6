"""Charades-STA style R1/mIoU and TVSum top-5 mAP on hand-computed cases."""

import pytest

from model.eval import moment_only, tvsum


def test_moment_only_recall_and_mean_iou(make_query, make_prediction):
    gt = [make_query(q, [[0, 10]]) for q in (1, 2, 3)]
    sub = [
        make_prediction(1, [[5, 10, 1.0]]),  # IoU 0.5
        make_prediction(2, [[0, 10, 1.0]]),  # IoU 1
        make_prediction(3, [[0, 3, 1.0], [0, 10, 0.5]]),  # first listed: IoU 0.3
    ]
    metrics = moment_only.evaluate(sub, gt)
    assert metrics["brief"] == {
        "MR-full-R1@0.3": 100.0,
        "MR-full-R1@0.5": 66.67,
        "MR-full-R1@0.7": 33.33,
        "MR-full-mIoU": 60.0,
    }


def tvsum_row(qid, domain, label):
    return {"qid": qid, "vid": qid, "duration": 2 * len(label), "domain": domain, "label": label}


def test_tvsum_top5_map_per_domain_and_overall():
    # Video a, annotators A = [1,2,3,4,5,5] (positives: > 3, clips 3,4,5) and B = [3,3,1,1,1,1]
    # (lower median 1, positives clips 0,1). Ranking by score: clips 3,4,2,1,0 in the top 5.
    # A: top-5 labels 1,1,0,0,0 -> AP 1. B: 0,0,0,1,1 -> 0.5*(0+1/4)/2 + 0.5*(1/4+2/5)/2 = 0.225.
    label_a = [[1, 3], [2, 3], [3, 1], [4, 1], [5, 1], [5, 1]]
    # Video b, one annotator [1, 5]: positive clip 1, ranked second -> 1*(0 + 1/2)/2 = 0.25.
    gt = [tvsum_row("a", "XX", label_a), tvsum_row("b", "YY", [[1], [5]])]
    sub = [
        {"qid": "a", "pred_saliency_scores": [0.1, 0.2, 0.3, 0.9, 0.8, 0.05]},
        {"qid": "b", "pred_saliency_scores": [0.9, 0.1, 0.7]},  # the extra score is cut
    ]
    metrics = tvsum.evaluate(sub, gt)
    assert metrics["domains"] == {"XX": 61.25, "YY": 25.0}
    assert metrics["brief"]["HL-top5-mAP"] == pytest.approx((61.25 + 25.0) / 2, abs=0.006)


def test_tvsum_refuses_fewer_scores_than_clips():
    gt = [tvsum_row("a", "XX", [[1], [5], [3]])]
    with pytest.raises(ValueError, match="qid 'a': 2 saliency scores for a video of 3 clips"):
        tvsum.evaluate([{"qid": "a", "pred_saliency_scores": [1.0, 0.0]}], gt)
