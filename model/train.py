"""Training: pretraining on the synthetic set, finetuning, evaluation, checkpoints and resume.

    result = train(TrainSettings(config="qvhighlights", train_annotations=..., out=...))

Every epoch ends with `{out}/model_latest.ckpt` (model, optimizer, scheduler, epoch, RNG and
data-order states), so `resume=True` continues an interrupted run exactly where it stopped;
every `eval_every` epochs the validation split is scored with `model.eval` and the best model,
by the reference's weighted metric, is kept as `{out}/model_best.ckpt`. The config, settings,
versions and the metrics history are written beside them.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from extractors.registry import resolve_device
from model.checkpoints import (
    CheckpointMismatchError,
    TrainedInputs,
    build_model,
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from model.config import OptimConfig, TrainConfig, load_config
from model.data import MomentDataset, make_collate, read_annotations
from model.eval import moment_only, qvhighlights, tvsum
from model.losses import total_loss
from model.predict import predict_dataset, write_submission
from pipeline.store import atomic_write_json

log = logging.getLogger(__name__)

LATEST, BEST = "model_latest.ckpt", "model_best.ckpt"
# The reference's model selection: weights of the brief metrics (QVHighlights).
QVH_SELECTION = {
    "MR-full-R1@0.3": 0.3,
    "MR-full-R1@0.5": 0.5,
    "MR-full-R1@0.7": 0.7,
    "MR-full-mAP@0.5": 0.5,
    "MR-full-mAP@0.75": 0.75,
    "MR-full-mAP": 0.25,
    "MR-long-mAP": 0.25,
    "MR-middle-mAP": 0.25,
    "MR-short-mAP": 0.25,
}
MOMENT_SELECTION = {
    "MR-full-R1@0.3": 0.3,
    "MR-full-R1@0.5": 0.5,
    "MR-full-R1@0.7": 0.7,
    "MR-full-mIoU": 0.5,
}


MIXED_PRECISION = ("auto", "off", "bf16")


@dataclass(frozen=True)
class TrainSettings:
    """One training run; None overrides keep the config's value."""

    train_annotations: Path
    video_feature_dirs: tuple[Path, ...]
    text_feature_dirs: tuple[Path, ...]
    out: Path
    config: str | Path = "qvhighlights"
    val_annotations: Path | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    eval_every: int | None = None
    seed: int | None = None
    init_from: Path | None = None
    resume: bool = False
    skip_missing_features: bool = False
    device: str = "auto"
    mixed_precision: str = "auto"  # bf16 autocast: "auto" on a GPU only, "bf16" anywhere, "off"

    def __post_init__(self):
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"mixed precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}"
            )
        if not self.video_feature_dirs or not self.text_feature_dirs:
            raise ValueError("give at least one video and one text feature folder")
        for number, name in ((self.epochs, "epochs"), (self.batch_size, "batch size")):
            if number is not None and number < 1:
                raise ValueError(f"{name} must be at least 1, got {number}")
        if self.init_from is not None and not Path(self.init_from).is_file():
            raise ValueError(f"--init-from {self.init_from}: no such checkpoint")

    def resolved_config(self) -> TrainConfig:
        config = load_config(self.config)
        optim = {
            key: value
            for key, value in {
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "lr": self.lr,
                "eval_every": self.eval_every,
                "seed": self.seed,
            }.items()
            if value is not None
        }
        data = config.data
        if self.skip_missing_features:
            data = replace(data, skip_missing_features=True)
        return replace(
            config,
            optim=replace(config.optim, **optim),
            data=data,
            # The folders given are the features trained on, whatever the preset lists.
            video_features=tuple(Path(d).name for d in self.video_feature_dirs),
            text_features=tuple(Path(d).name for d in self.text_feature_dirs),
        )

    def uses_autocast(self, device: torch.device) -> bool:
        return self.mixed_precision == "bf16" or (
            self.mixed_precision == "auto" and device.type == "cuda"
        )


class TrainingDivergedError(ValueError):
    """A training step met NaN or infinite values (`what`): the run stops before spreading them."""

    def __init__(self, epoch: int, step: int, batch, what: str):
        queries = ", ".join(str(sample.qid) for sample in batch.samples)
        super().__init__(
            f"not finite at epoch {epoch + 1}, step {step + 1} (queries {queries}): {what}. "
            "The last checkpoint holds the weights before this epoch; check these queries' "
            "annotations and features, or lower the learning rate"
        )


@dataclass
class TrainResult:
    out: Path
    best_checkpoint: Path
    last_checkpoint: Path
    metrics: dict = field(default_factory=dict)
    epochs: int = 0


def make_optimizer(model: torch.nn.Module, optim: OptimConfig) -> torch.optim.AdamW:
    """AdamW, fused: one kernel over all parameters (10 ms a step instead of 43 on a CPU for
    VideoLights-B)."""
    return torch.optim.AdamW(
        model.parameters(), optim.lr, weight_decay=optim.weight_decay, fused=True
    )


def make_scheduler(optimizer, optim: OptimConfig) -> torch.optim.lr_scheduler.StepLR:
    """The learning rate divided by 10 every `lr_drop` epochs (stepped once per epoch)."""
    return torch.optim.lr_scheduler.StepLR(optimizer, optim.lr_drop)


def make_loader(dataset: MomentDataset, optim: OptimConfig, order: torch.Generator):
    """A fresh uniform permutation of the samples every epoch, in batches (the last one short),
    as the reference's loader; drawn from `order` (`make_order_generator`), so that the order does
    not depend on how many random numbers the dropout draws."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=optim.batch_size,
        shuffle=True,
        generator=order,
        collate_fn=make_collate(dataset),
    )


def make_order_generator() -> torch.Generator:
    """The epochs' order generator, seeded from torch's global stream once the weights are drawn,
    as the reference's loader seeds each epoch's order. Seeded with the run's seed itself it would
    replay the numbers that drew the first layer's weights: the order, a function of them."""
    return torch.Generator().manual_seed(int(torch.randint(2**63 - 1, ())))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def selection_score(metrics: dict, evaluation: str) -> float:
    """The reference's weighted average of the brief metrics (NaN groups left out)."""
    if evaluation == "tvsum":
        return metrics["HL-top5-mAP"]
    weights = QVH_SELECTION if evaluation == "qvhighlights" else MOMENT_SELECTION
    present = {k: w for k, w in weights.items() if k in metrics and not math.isnan(metrics[k])}
    return sum(metrics[k] * w for k, w in present.items()) / sum(present.values())


def evaluate_predictions(predictions: list[dict], rows: list[dict], evaluation: str) -> dict:
    """The brief metrics of predictions against their annotation rows."""
    if evaluation == "tvsum":
        return dict(tvsum.evaluate(predictions, rows)["brief"])
    brief = dict(moment_only.evaluate(predictions, rows)["brief"])
    if evaluation == "qvhighlights":
        brief |= qvhighlights.evaluate(predictions, rows)["brief"]
    return brief


def _load_initial_weights(model, path: Path, trained_on: TrainedInputs) -> None:
    """`--init-from`: the weights of a checkpoint made on the same feature types; raises
    CheckpointMismatchError when its features or its architecture do not fit."""
    checkpoint = load_checkpoint(path)
    pretrained = TrainedInputs.of_checkpoint(checkpoint, path)
    pretrained.check(trained_on.video, trained_on.text, "this training run")
    ours, theirs = model.state_dict(), checkpoint["model"]
    differences = [
        f"{len(names)} {what}, e.g. {min(names)}"
        for what, names in (
            ("weights it lacks", ours.keys() - theirs.keys()),
            ("weights this model lacks", theirs.keys() - ours.keys()),
            (
                "weights of another shape",
                {k for k in ours.keys() & theirs.keys() if ours[k].shape != theirs[k].shape},
            ),
        )
        if names
    ]
    if differences:
        raise CheckpointMismatchError(
            f"--init-from {path}: a model of another architecture ({'; '.join(differences)})"
        )
    model.load_state_dict(theirs)


def train(settings: TrainSettings) -> TrainResult:
    """Train (or resume) one run; see the module docstring."""
    config = settings.resolved_config()
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.optim.seed)
    device = resolve_device(settings.device)

    rows = read_annotations(settings.train_annotations)
    dataset = MomentDataset(
        rows,
        settings.video_feature_dirs,
        settings.text_feature_dirs,
        config.data,
        True,
        seed=config.optim.seed,
    )
    val_set = None
    if settings.val_annotations is not None:
        val_set = MomentDataset(
            read_annotations(settings.val_annotations),
            settings.video_feature_dirs,
            settings.text_feature_dirs,
            config.data,
            False,
        )
    first = dataset[0]
    video_dim, text_dim = first.video.shape[1], first.text.shape[1]
    model = build_model(config, video_dim, text_dim).to(device)
    optimizer = make_optimizer(model, config.optim)
    scheduler = make_scheduler(optimizer, config.optim)
    order = make_order_generator()
    state = {"epoch": 0, "best_score": -math.inf, "best_metrics": {}, "history": []}

    trained_on = TrainedInputs.of_training(config, *dataset.feature_widths())
    if settings.init_from is not None:
        _load_initial_weights(model, Path(settings.init_from), trained_on)
    if settings.resume and (out / LATEST).is_file():
        checkpoint = load_checkpoint(out / LATEST)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        order.set_state(checkpoint["order_rng"])
        restore_rng_states(checkpoint["rng"])
        dataset.random.setstate(checkpoint["data_rng"])
        state = checkpoint["state"]

    _write_run_record(out, settings, config, video_dim, text_dim, dataset.skipped)
    loader = make_loader(dataset, config.optim, order)
    base = {
        "config": config.to_dict(),
        "video_dim": video_dim,
        "text_dim": text_dim,
        "trained_on": trained_on.to_dict(),
    }
    board = SummaryWriter(out / "tensorboard")
    for epoch in range(state["epoch"], config.optim.epochs):
        loss, terms = _train_epoch(
            model, loader, optimizer, config, device, epoch, settings.uses_autocast(device)
        )
        scheduler.step()
        record = {"epoch": epoch + 1, "loss": loss, "loss_terms": terms}
        if val_set is not None and (
            (epoch + 1) % config.optim.eval_every == 0 or epoch + 1 == config.optim.epochs
        ):
            predictions = predict_dataset(model, val_set, device, config)
            metrics = evaluate_predictions(predictions, val_set.rows, config.evaluation)
            score = selection_score(metrics, config.evaluation)
            record |= {"metrics": metrics, "score": score}
            if score > state["best_score"]:
                state |= {"best_score": score, "best_metrics": metrics}
                save_checkpoint(
                    out / BEST, base | {"model": model.state_dict(), "epoch": epoch + 1}
                )
                write_submission(predictions, out / "best_val_preds.jsonl")
        _log_board(board, record)
        state["history"].append(record)
        state["epoch"] = epoch + 1
        save_checkpoint(
            out / LATEST,
            base
            | {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "order_rng": order.get_state(),
                "rng": rng_states(),
                "data_rng": dataset.random.getstate(),
                "state": state,
            },
        )
        if (epoch + 1) % config.optim.checkpoint_every == 0:
            save_checkpoint(
                out / f"model_e{epoch + 1:04d}.ckpt", base | {"model": model.state_dict()}
            )
        atomic_write_json(out / "history.json", state["history"])
        log.info("epoch %d: %s", epoch + 1, record)

    board.close()
    if not (out / BEST).is_file():  # no validation: the last model is the one to use
        save_checkpoint(out / BEST, base | {"model": model.state_dict(), "epoch": state["epoch"]})
    return TrainResult(out, out / BEST, out / LATEST, state["best_metrics"], state["epoch"])


def _train_epoch(
    model, loader, optimizer, config: TrainConfig, device, epoch: int, mixed: bool
) -> tuple[float, dict[str, float]]:
    """The mean over the epoch's steps of the total loss and of each weighted term (as the
    reference's train log gives them)."""
    model.train()
    total, sums, batches = 0.0, defaultdict(float), 0
    for batch in tqdm(loader, desc=f"epoch {epoch + 1}", leave=False):
        try:
            loss, terms = train_step(model, batch, optimizer, config, device, epoch, mixed)
        except FloatingPointError as error:
            raise TrainingDivergedError(epoch, batches, batch, str(error)) from None
        total += loss
        for name, value in terms.items():
            sums[name] += value
        batches += 1
    batches = max(batches, 1)
    return total / batches, {name: value / batches for name, value in sums.items()}


def train_step(
    model, batch, optimizer, config: TrainConfig, device, epoch: int, mixed: bool = False
) -> tuple[float, dict[str, float]]:
    """One optimisation step on a batch: the total loss and each weighted term. Raises
    FloatingPointError, naming what is NaN or infinite, before a step that would spread it."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed):
        outputs = model(**batch.inputs(device))
        if not torch.isfinite(outputs["pred_spans"]).all():
            raise FloatingPointError("the model's outputs")
        loss, terms = total_loss(outputs, batch.targets.to(device), config.loss, epoch)
    not_finite = [f"{name} {value}" for name, value in terms.items() if not math.isfinite(value)]
    if not_finite:
        raise FloatingPointError(", ".join(not_finite))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.optim.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
    optimizer.step()
    return float(loss.detach()), terms


def _log_board(board, record: dict) -> None:
    board.add_scalar("train/loss", record["loss"], record["epoch"])
    for name, value in record["loss_terms"].items():
        board.add_scalar(f"train/{name}", value, record["epoch"])
    for name, value in record.get("metrics", {}).items():
        if not math.isnan(value):
            board.add_scalar(f"val/{name}", value, record["epoch"])


def _write_run_record(out: Path, settings, config: TrainConfig, video_dim, text_dim, skipped):
    from extractors.run import versions

    atomic_write_json(out / "config.json", config.to_dict())
    atomic_write_json(
        out / "run.json",
        {
            "settings": {k: str(v) if v is not None else None for k, v in asdict(settings).items()},
            "video_dim": video_dim,
            "text_dim": text_dim,
            "versions": versions(),
            "skipped_samples": {"count": len(skipped), "reasons": skipped},
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
