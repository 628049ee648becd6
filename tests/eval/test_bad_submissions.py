"""Bad submissions are refused with a message naming the qid (or file and line) and the problem."""

import math

import pytest

from model.eval import evaluate_files
from model.eval.qvhighlights import evaluate
from model.eval.submission import SubmissionError


@pytest.fixture
def gt(make_query):
    return [
        make_query(1, [[0, 10]], duration=8, clip_ids=[0], scores=[[4, 4, 4]]),
        make_query(2, [[2, 6]], duration=8, clip_ids=[1], scores=[[4, 4, 4]]),
    ]


def good(make_prediction, qid):
    return make_prediction(qid, [[0, 10, 1.0]], saliency=[1, 0, 0, 0])


def test_differing_qid_sets_are_refused(gt, make_prediction):
    with pytest.raises(SubmissionError, match="1 unknown .*3.*1 missing .*2"):
        evaluate([good(make_prediction, 1), good(make_prediction, 3)], gt)


def test_duplicate_qids_are_refused(gt, make_prediction):
    sub = [good(make_prediction, 1), good(make_prediction, 1), good(make_prediction, 2)]
    with pytest.raises(SubmissionError, match="qid 1 appears more than once"):
        evaluate(sub, gt)


@pytest.mark.parametrize(
    ("windows", "problem"),
    [
        ([[6, 2, 1.0]], "starts after it ends"),
        ([[0, math.nan, 1.0]], "non-finite"),
        ([[0, 4]], r"must be a list of \[start, end, score\]"),
        ([], "empty"),
    ],
)
def test_bad_windows_name_the_qid_and_the_problem(gt, make_prediction, windows, problem):
    sub = [good(make_prediction, 1), make_prediction(2, windows, saliency=[1, 0, 0, 0])]
    with pytest.raises(SubmissionError, match=f"qid 2: .*{problem}"):
        evaluate(sub, gt)


def test_missing_field_after_the_first_entry_names_the_qid(gt, make_prediction):
    sub = [good(make_prediction, 1), make_prediction(2, [[0, 10, 1.0]])]
    with pytest.raises(SubmissionError, match="qid 2: no pred_saliency_scores"):
        evaluate(sub, gt)


def test_nan_saliency_is_refused(gt, make_prediction):
    sub = [good(make_prediction, 1), make_prediction(2, [[0, 10, 1.0]], saliency=[math.nan])]
    with pytest.raises(SubmissionError, match="qid 2: pred_saliency_scores has a non-finite"):
        evaluate(sub, gt)


def test_ground_truth_clip_ids_past_the_video_end_are_refused(make_query, make_prediction):
    gt = [make_query(1, [[0, 10]], duration=8, clip_ids=[4], scores=[[4, 4, 4]])]
    with pytest.raises(SubmissionError, match="ground truth qid 1: relevant_clip_ids outside"):
        evaluate([good(make_prediction, 1)], gt)


def test_malformed_line_names_the_file_and_line(tmp_path):
    submission = tmp_path / "pred.jsonl"
    submission.write_text('{"qid": 1}\n{"qid": 2,\n')
    gt = tmp_path / "gt.jsonl"
    gt.write_text('{"qid": 1}\n')
    with pytest.raises(SubmissionError, match=r"pred\.jsonl:2: not valid JSON"):
        evaluate_files(submission, gt)
