"""The `pretrain` and `finetune` flows: one `model.train.train` run each.

    prefect deployment run finetune/finetune --param train_annotations=train.jsonl \
        --param 'video_feature_dirs=["f/slowfast_features", "f/clip_features"]' \
        --param 'text_feature_dirs=["f/clip_text_features"]' --param init_from=pre/model_best.ckpt

Both build `model.train.TrainSettings` (validated on creation) before any work and return the
run's checkpoint paths, so that a pipeline can pass one run's checkpoint to the next and the
lineage stays visible in the runs' parameters and results. They differ only in their defaults:
pretraining on the synthetic set with the `pretrain` preset, finetuning from a checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from flows.params import WORK, Device, ExistingPath, OutPath, PositiveFloat, PositiveInt


class TrainRun(BaseModel):
    """A training run's outputs: the folder and its checkpoints, and the best validation
    metrics (empty without validation)."""

    out: Path
    best_checkpoint: Path
    last_checkpoint: Path
    metrics: dict
    epochs: int


@task(cache_policy=NO_CACHE)
def train_model(settings) -> TrainRun:
    from model.train import train

    result = train(settings)
    return TrainRun(
        out=result.out,
        best_checkpoint=result.best_checkpoint,
        last_checkpoint=result.last_checkpoint,
        metrics=dict(result.metrics),
        epochs=result.epochs,
    )


def run_training(stage: str, **values) -> TrainRun:
    """Validate the settings, train, and show where the checkpoints are."""
    from model.train import TrainSettings

    values["video_feature_dirs"] = tuple(values["video_feature_dirs"])
    values["text_feature_dirs"] = tuple(values["text_feature_dirs"])
    run = train_model(TrainSettings(**values))
    rows = "\n".join(f"| {name} | {value:.2f} |" for name, value in run.metrics.items())
    create_markdown_artifact(
        f"# {stage}\n\n- out: `{run.out}`\n- best checkpoint: `{run.best_checkpoint}`\n"
        f"- last checkpoint: `{run.last_checkpoint}`\n- epochs: {run.epochs}\n"
        + (f"\n| metric | value |\n|---|---|\n{rows}\n" if rows else ""),
        key=f"{stage}-checkpoints",
        description=f"The {stage} run's checkpoints and best validation metrics.",
    )
    return run


@flow(name="pretrain", persist_result=True, result_serializer="json")
def pretrain(
    train_annotations: ExistingPath,
    video_feature_dirs: list[ExistingPath],
    text_feature_dirs: list[ExistingPath],
    out: OutPath = WORK / "pretrain",
    config: str = "pretrain",
    val_annotations: ExistingPath | None = None,
    epochs: PositiveInt | None = None,
    batch_size: PositiveInt | None = None,
    lr: PositiveFloat | None = None,
    eval_every: PositiveInt | None = None,
    seed: int | None = None,
    resume: bool = False,
    device: Device = "auto",
) -> TrainRun:
    """Pretrain VideoLights on the synthetic set (Parquet or its JSONL); None keeps the
    config's value."""
    return run_training("pretrain", **locals())  # the parameters, as validated by Prefect


@flow(name="finetune", persist_result=True, result_serializer="json")
def finetune(
    train_annotations: ExistingPath,
    video_feature_dirs: list[ExistingPath],
    text_feature_dirs: list[ExistingPath],
    init_from: ExistingPath | None = None,
    out: OutPath = WORK / "finetune",
    config: str = "qvhighlights",
    val_annotations: ExistingPath | None = None,
    epochs: PositiveInt | None = None,
    batch_size: PositiveInt | None = None,
    lr: PositiveFloat | None = None,
    eval_every: PositiveInt | None = None,
    seed: int | None = None,
    resume: bool = False,
    device: Device = "auto",
) -> TrainRun:
    """Finetune VideoLights on annotated queries, starting from `init_from` (a checkpoint of
    `pretrain`) when given; None keeps the config's value."""
    return run_training("finetune", **locals())  # the parameters, as validated by Prefect
