"""Evaluation: QVHighlights (the official evaluator's figures), moment-only sets, TVSum."""

from model.eval.submission import SubmissionError, load_jsonl

__all__ = ["SubmissionError", "evaluate_files", "load_jsonl"]

DATASETS = ("auto", "qvhighlights", "moments", "tvsum")


def detect_dataset(ground_truth: list[dict]) -> str:
    """TVSum rows carry `label`, QVHighlights rows `saliency_scores`; others are moment-only."""
    first = ground_truth[0]
    if first.get("label") is not None:
        return "tvsum"
    if first.get("saliency_scores") is not None:
        return "qvhighlights"
    return "moments"


def evaluate_files(submission_path, gt_path, dataset: str = "auto") -> dict:
    """Metrics of a submission JSONL against a ground-truth JSONL."""
    from model.eval import moment_only, qvhighlights, tvsum

    submission, ground_truth = load_jsonl(submission_path), load_jsonl(gt_path)
    if dataset == "auto":
        dataset = detect_dataset(ground_truth)
    evaluators = {"qvhighlights": qvhighlights, "moments": moment_only, "tvsum": tvsum}
    if dataset not in evaluators:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    return evaluators[dataset].evaluate(submission, ground_truth)
