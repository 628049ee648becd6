"""The `evaluate` flow: metrics of a submission, or of a checkpoint's predictions, against
ground truth, written as JSON and shown as a markdown artifact.

    prefect deployment run evaluate/evaluate --param submission=preds.jsonl --param gt=val.jsonl

With `checkpoint` (and the feature folders) instead of `submission`, the predictions are made
first with `model.predict.predict`, so that a pipeline can score the checkpoint it just trained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from flows.params import WORK, Device, ExistingPath, OutPath
from model.eval import DATASETS, evaluate_files
from pipeline.store import atomic_write_text


class EvaluateRun(BaseModel):
    """Where the submission and the metrics are, and the headline (`brief`) figures."""

    submission: Path
    metrics_file: Path
    brief: dict[str, float]


@task(cache_policy=NO_CACHE)
def predict(checkpoint, annotations, video_dirs, text_dirs, out: Path, device: str) -> Path:
    from model.predict import predict as predict_submission

    return predict_submission(checkpoint, annotations, video_dirs, text_dirs, out, device=device)


@task(cache_policy=NO_CACHE)
def score(submission: Path, gt: Path, dataset: str, out: Path) -> dict:
    metrics = evaluate_files(submission, gt, dataset)
    atomic_write_text(out, json.dumps(metrics, indent=4) + "\n")
    return metrics


def metrics_markdown(brief: dict, submission: Path, gt: Path, metrics_file: Path) -> str:
    rows = "\n".join(f"| {name} | {value:.2f} |" for name, value in brief.items())
    return (
        f"# Evaluation\n\n- submission: `{submission}`\n- ground truth: `{gt}`\n"
        f"- all metrics: `{metrics_file}`\n\n| metric | value |\n|---|---|\n{rows}\n"
    )


def check_inputs(submission, checkpoint, video_feature_dirs, text_feature_dirs) -> None:
    if (submission is None) == (checkpoint is None):
        raise ValueError("give either a submission or a checkpoint to predict with, not both")
    if checkpoint is not None and not (video_feature_dirs and text_feature_dirs):
        raise ValueError("predicting with a checkpoint needs video and text feature folders")


@flow(name="evaluate", persist_result=True, result_serializer="json")
def evaluate(
    gt: ExistingPath,
    submission: ExistingPath | None = None,
    checkpoint: ExistingPath | None = None,
    video_feature_dirs: list[ExistingPath] | None = None,
    text_feature_dirs: list[ExistingPath] | None = None,
    dataset: Literal[DATASETS] = "auto",
    out: OutPath = WORK / "evaluate",
    device: Device = "auto",
) -> EvaluateRun:
    """Score `submission` (or `checkpoint`'s predictions on the queries of `gt`) against `gt`;
    writes `{out}/metrics.json` (and `{out}/submission.jsonl` when predicting)."""
    check_inputs(submission, checkpoint, video_feature_dirs, text_feature_dirs)
    if checkpoint is not None:
        submission = predict(
            checkpoint,
            gt,
            video_feature_dirs,
            text_feature_dirs,
            out / "submission.jsonl",
            device,
        )
    metrics_file = out / "metrics.json"
    brief = dict(score(submission, gt, dataset, metrics_file)["brief"])
    create_markdown_artifact(
        metrics_markdown(brief, submission, gt, metrics_file),
        key="evaluation-metrics",
        description="The headline metrics of this evaluation.",
    )
    return EvaluateRun(submission=submission, metrics_file=metrics_file, brief=brief)
