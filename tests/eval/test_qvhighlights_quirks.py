"""Each documented behaviour of the official evaluator, on cases small enough to work by hand."""

import math

from model.eval.qvhighlights import evaluate


def test_r1_scores_the_first_listed_window_and_map_ranks_by_score(make_query, make_prediction):
    gt = [make_query(1, [[0, 10]])]
    # The first listed window misses; the best-scored one is exact.
    sub = [make_prediction(1, [[20, 30, 0.1], [0, 10, 0.9]])]
    metrics = evaluate(sub, gt)
    assert metrics["full"]["MR-R1"]["0.5"] == 0.0
    assert metrics["full"]["MR-mAP"]["average"] == 100.0


def test_r1_compares_with_the_best_overlapping_ground_truth_window(make_query, make_prediction):
    gt = [make_query(1, [[0, 10], [20, 30]])]
    metrics = evaluate([make_prediction(1, [[20, 30, 1.0]])], gt)
    assert metrics["full"]["MR-R1"]["0.95"] == 100.0


def test_map_ignores_windows_after_the_tenth(make_query, make_prediction):
    gt = [make_query(1, [[0, 10]])]
    misses = [[100, 110, 0.5]] * 10
    metrics = evaluate([make_prediction(1, misses + [[0, 10, 0.9]])], gt)
    assert metrics["full"]["MR-mAP"]["average"] == 0.0


def test_iou_thresholds_are_inclusive(make_query, make_prediction):
    gt = [make_query(1, [[0, 10]])]
    metrics = evaluate([make_prediction(1, [[0, 5, 1.0]])], gt)  # IoU exactly 0.5
    assert metrics["full"]["MR-R1"]["0.5"] == 100.0
    assert metrics["full"]["MR-R1"]["0.55"] == 0.0
    assert metrics["full"]["MR-mAP"]["0.5"] == 100.0
    assert metrics["full"]["MR-mAP"]["0.55"] == 0.0


def test_map_matches_each_ground_truth_window_once(make_query, make_prediction):
    gt = [make_query(1, [[0, 10], [50, 60]])]
    # Ranked: exact (TP), duplicate of it (FP), second window (TP).
    sub = [make_prediction(1, [[0, 10, 0.9], [0, 10, 0.8], [50, 60, 0.7]])]
    metrics = evaluate(sub, gt)
    # Recall 0.5 at precision 1, recall 1 at precision 2/3: AP = 0.5 * 1 + 0.5 * 2/3.
    assert metrics["full"]["MR-mAP"]["0.5"] == 83.33


def test_length_groups_filter_ground_truth_windows_not_predictions(make_query, make_prediction):
    gt = [make_query(1, [[0, 6], [20, 60]]), make_query(2, [[100, 140]])]
    sub = [make_prediction(1, [[20, 60, 1.0]]), make_prediction(2, [[100, 140, 1.0]])]
    metrics = evaluate(sub, gt)
    # short keeps only query 1 with its 6 s window, which the prediction misses.
    assert metrics["short"]["MR-mAP"]["average"] == 0.0
    assert metrics["short"]["MR-R1"]["0.5"] == 0.0
    # long keeps both queries with their long windows, both found.
    assert metrics["long"]["MR-mAP"]["average"] == 100.0
    # full: query 1 has recall 1/2 at precision 1 -> AP 0.5; query 2 AP 1.
    assert metrics["full"]["MR-mAP"]["average"] == 75.0


def test_a_length_group_without_queries_gets_nan_figures(make_query, make_prediction):
    metrics = evaluate([make_prediction(1, [[0, 40, 1.0]])], [make_query(1, [[0, 40]])])
    assert math.isnan(metrics["brief"]["MR-short-mAP"])
    assert math.isnan(metrics["short"]["MR-R1"]["0.5"])
    assert metrics["brief"]["MR-long-mAP"] == 100.0


def highlight_case(make_query, make_prediction, saliency, scores, clip_ids=(0, 2, 3), duration=8):
    gt = [make_query(1, [[0, 2]], duration=duration, clip_ids=clip_ids, scores=scores)]
    return evaluate([make_prediction(1, saliency=saliency)], gt)


def test_highlight_ap_weights_each_score_threshold_once(make_query, make_prediction):
    # Fair labels [1, 0, 1, 1]; scores 0.9, 0.8, 0.5, 0.5. Thresholds: 0.9 -> P 1, R 1/3;
    # 0.8 -> P 1/2, R 1/3; 0.5 (tie) -> P 3/4, R 1. Recall grows at 0.9 and 0.5:
    # AP = mean(1, 3/4) = 0.875 (a recall-weighted AP would give 0.8333).
    metrics = highlight_case(make_query, make_prediction, [0.9, 0.8, 0.5, 0.5], [[2, 2, 2]] * 3)
    assert metrics["HL-min-Fair"] == {"HL-mAP": 87.5, "HL-Hit1": 100.0}
    # No clip reaches Good: every annotator's AP is 0 and the top clip is no hit.
    assert metrics["HL-min-Good"] == {"HL-mAP": 0.0, "HL-Hit1": 0.0}


def test_highlight_ap_is_one_when_every_clip_is_positive(make_query, make_prediction):
    metrics = highlight_case(
        make_query, make_prediction, [0.1, 0.2, 0.3, 0.4], [[4, 4, 4]] * 4, clip_ids=(0, 1, 2, 3)
    )
    assert metrics["HL-min-VeryGood"]["HL-mAP"] == 100.0


def test_short_saliency_lists_are_zero_padded(make_query, make_prediction):
    # Scores [0.9] pad to [0.9, 0, 0, 0]; Fair labels [0, 1, 1, 1].
    # Thresholds 0.9 -> P 0, R 0; 0 -> P 3/4, R 1: AP = 3/4. The top clip 0 is no hit.
    metrics = highlight_case(
        make_query, make_prediction, [0.9], [[2, 2, 2]] * 3, clip_ids=(1, 2, 3)
    )
    assert metrics["HL-min-Fair"] == {"HL-mAP": 75.0, "HL-Hit1": 0.0}


def test_clip_count_is_int_of_half_the_duration(make_query, make_prediction):
    # duration 9 s -> 4 clips: the 5th predicted score is cut, so its top score is a miss
    # for HIT@1 (past the end) and ignored by the AP.
    metrics = highlight_case(
        make_query,
        make_prediction,
        [0.4, 0.3, 0.2, 0.1, 0.9],
        [[2, 2, 2]],
        clip_ids=(0,),
        duration=9,
    )
    assert metrics["HL-min-Fair"] == {"HL-mAP": 100.0, "HL-Hit1": 0.0}


def test_hit_at_one_takes_the_first_of_tied_top_scores(make_query, make_prediction):
    metrics = highlight_case(
        make_query, make_prediction, [1.0, 1.0, 0.0, 0.0], [[4, 4, 4]], clip_ids=(1,)
    )
    assert metrics["HL-min-Fair"]["HL-Hit1"] == 0.0


def test_hit_at_one_counts_a_hit_when_any_annotator_agrees(make_query, make_prediction):
    metrics = highlight_case(
        make_query, make_prediction, [1.0, 0.0, 0.0, 0.0], [[0, 0, 3]], clip_ids=(0,)
    )
    assert metrics["HL-min-Good"]["HL-Hit1"] == 100.0
    # Per annotator: AP 0, 0 and 1; the mean over annotators is 1/3.
    assert metrics["HL-min-Good"]["HL-mAP"] == 33.33


def test_brief_block_comes_first_with_the_official_key_order(make_query, make_prediction):
    gt = [
        make_query(1, [[0, 4], [20, 40], [60, 130]], duration=150, clip_ids=[0], scores=[[4, 4, 4]])
    ]
    sub = [make_prediction(1, [[0, 4, 1.0]], saliency=[1.0] + [0.0] * 74)]
    metrics = evaluate(sub, gt)
    assert list(metrics) == [
        "brief",
        "HL-min-Fair",
        "HL-min-Good",
        "HL-min-VeryGood",
        "full",
        "long",
        "middle",
        "short",
    ]
    assert list(metrics["brief"])[:2] == ["MR-full-R1@0.5", "MR-full-R1@0.7"]
    assert list(metrics["brief"])[-1] == "HL-min-VeryGood-Hit1"


def test_only_moment_metrics_when_the_first_entry_has_no_saliency(make_query, make_prediction):
    metrics = evaluate([make_prediction(1, [[0, 10, 1.0]])], [make_query(1, [[0, 10]])])
    assert not any(key.startswith("HL") for key in metrics)
