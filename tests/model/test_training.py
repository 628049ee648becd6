"""Training learns a planted signal, resumes exactly, and predicts in the official format."""

import json
import math

import pytest
import torch

from model.checkpoints import load_checkpoint
from model.eval.qvhighlights import evaluate
from model.predict import predict
from model.train import TrainingDivergedError, TrainSettings, train
from pipeline.store import FeatureFileError
from tests.model.conftest import planted_rows, write_jsonl


def settings(planted, out, config, **overrides):
    return TrainSettings(
        train_annotations=planted["train"],
        val_annotations=planted["val"],
        video_feature_dirs=planted["video_dirs"],
        text_feature_dirs=planted["text_dirs"],
        out=out,
        config=config,
        device="cpu",
        **overrides,
    )


@pytest.fixture(scope="module")
def trained(planted, small_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    # 40 epochs: over seeds (a different CPU's rounding acts like one), R1@0.5 at epoch 20
    # ranged from 29 to 96, at 30 from 71 to 100, at 40 from 75 to 100 (seeds 1, 3, 4 and the
    # preset's 2018), with VeryGood HIT@1 at 87.5 or more from epoch 30 on.
    return train(settings(planted, out, small_config, epochs=40))


def test_training_learns_the_planted_moments_and_highlights(trained):
    history = json.loads((trained.out / "history.json").read_text())
    best = trained.metrics
    # 3 to 5 of 20 clips are positive: a random ranking has an AP near 0.2 and a HIT@1 near
    # 0.2; a random 6-10 s window rarely reaches IoU 0.5 with the planted one. (80 epochs reach
    # R1@0.5 and VeryGood HIT@1 >= 90: benchmarks/planted_signal.py.)
    assert best["HL-min-Fair-mAP"] > 90
    assert best["HL-min-VeryGood-Hit1"] > 80
    assert best["MR-full-R1@0.5"] > 60
    assert history[-1]["loss"] < history[0]["loss"]


def test_history_gives_each_weighted_loss_term_per_epoch(trained):
    """Per epoch, the mean of each weighted term over the steps, named as in the reference's
    train log; they add up to the epoch's mean total loss."""
    history = json.loads((trained.out / "history.json").read_text())
    for record in history:
        terms = record["loss_terms"]
        assert {"loss_saliency", "loss_span", "loss_giou", "loss_label", "loss_span_0"} <= set(
            terms
        )
        assert sum(terms.values()) == pytest.approx(record["loss"], rel=1e-5)


def test_predictions_use_the_official_format(trained, planted, tmp_path):
    path = predict(
        trained.best_checkpoint,
        planted["val"],
        planted["video_dirs"],
        planted["text_dirs"],
        tmp_path / "preds.jsonl",
        device="cpu",
    )
    predictions = [json.loads(line) for line in path.read_text().splitlines()]
    ground_truth = [json.loads(line) for line in planted["val"].read_text().splitlines()]
    first = predictions[0]
    assert len(first["pred_relevant_windows"]) == 10
    scores = [w[2] for w in first["pred_relevant_windows"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= w[0] <= w[1] <= 40 and w[0] % 2 == 0 for w in first["pred_relevant_windows"])
    assert len(first["pred_saliency_scores"]) == 20
    assert "brief" in evaluate(predictions, ground_truth)


def test_resume_continues_to_the_same_weights(planted, small_config, tmp_path):
    straight = train(settings(planted, tmp_path / "straight", small_config, epochs=2, eval_every=1))
    train(settings(planted, tmp_path / "split", small_config, epochs=1, eval_every=1))
    resumed = train(
        settings(planted, tmp_path / "split", small_config, epochs=2, eval_every=1, resume=True)
    )
    assert resumed.epochs == 2
    a = load_checkpoint(straight.last_checkpoint)["model"]
    b = load_checkpoint(resumed.last_checkpoint)["model"]
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_train_draws_the_epoch_order_after_the_weights(planted, small_config, tmp_path):
    """Two models of different sizes take different amounts of the seed's random numbers, so
    an order drawn after the weights differs between them; an order generator seeded with the
    run's seed itself would give both the same epochs (the fault fix (7) removed)."""
    wider = tmp_path / "wider.yaml"
    wider.write_text(small_config.read_text().replace("ffn_dim: 256", "ffn_dim: 512"))
    orders = [
        load_checkpoint(
            train(settings(planted, tmp_path / config.stem, config, epochs=1)).last_checkpoint
        )["order_rng"]
        for config in (small_config, wider)
    ]
    assert not torch.equal(*orders)


def test_init_from_starts_from_the_given_weights(planted, small_config, tmp_path):
    """With a learning rate of 0 the finetune's weights stay its initial ones: they must be the
    pretrained checkpoint's, every tensor (the two runs have the same heads)."""
    pretrained = train(settings(planted, tmp_path / "pt", small_config, epochs=1)).best_checkpoint
    finetune = settings(
        planted, tmp_path / "ft", small_config, epochs=1, lr=0.0, init_from=pretrained
    )
    weights = load_checkpoint(pretrained)["model"]
    finetuned = load_checkpoint(train(finetune).last_checkpoint)["model"]
    assert finetuned.keys() == weights.keys()
    for name, value in weights.items():
        assert torch.equal(finetuned[name], value), name


def test_missing_feature_file_is_named(planted, small_config, tmp_path):
    (planted["root"] / "clip_features" / "v3.npz").rename(planted["root"] / "v3.moved")
    try:
        with pytest.raises(FeatureFileError, match="v3.npz: feature file not found"):
            train(settings(planted, tmp_path / "bad", small_config, epochs=1))
    finally:
        (planted["root"] / "v3.moved").rename(planted["root"] / "clip_features" / "v3.npz")


def test_skip_missing_features_counts_the_skipped_samples(planted, small_config, tmp_path):
    (planted["root"] / "clip_features" / "v5.npz").rename(planted["root"] / "v5.moved")
    try:
        train(
            settings(planted, tmp_path / "skip", small_config, epochs=1, skip_missing_features=True)
        )
    finally:
        (planted["root"] / "v5.moved").rename(planted["root"] / "clip_features" / "v5.npz")
    record = json.loads((tmp_path / "skip" / "run.json").read_text())
    assert record["skipped_samples"]["count"] == 1
    assert "v5.npz" in record["skipped_samples"]["reasons"][0]


def test_a_sample_whose_clips_are_all_equally_relevant_trains_alone(tmp_path, small_config):
    """Batch 1, every clip relevant with the same scores: the batch's labels have no range
    (the reference's weights turn NaN at the first step)."""
    row = planted_rows(tmp_path, 1)[0]
    clips = round(row["duration"] / 2)
    row |= {
        "relevant_windows": [[0, row["duration"]]],
        "relevant_clip_ids": list(range(clips)),
        "saliency_scores": [[4, 3, 4]] * clips,
    }
    alone = {
        "train": write_jsonl(tmp_path / "alone.jsonl", [row]),
        "val": None,
        "video_dirs": (tmp_path / "clip_features",),
        "text_dirs": (tmp_path / "clip_text_features",),
    }
    train(settings(alone, tmp_path / "run", small_config, epochs=3, batch_size=1))
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [math.isfinite(record["loss"]) for record in history] == [True] * 3


def test_a_diverging_run_stops_naming_the_step_and_its_queries(planted, small_config, tmp_path):
    with pytest.raises(TrainingDivergedError) as raised:
        train(settings(planted, tmp_path / "run", small_config, epochs=1, lr=1e30))
    message = str(raised.value)
    assert message.startswith("not finite at epoch 1, step ")
    assert "(queries " in message and "lower the learning rate" in message


def test_bf16_mixed_precision_trains_like_fp32(planted, small_config, tmp_path):
    """The GPU's autocast path, run on the CPU: the losses and the matcher take bf16 outputs,
    and the loss curve stays within a few percent of the fp32 one."""
    curves = {}
    for mixed in ("off", "bf16"):
        out = tmp_path / mixed
        train(settings(planted, out, small_config, epochs=3, mixed_precision=mixed))
        curves[mixed] = [r["loss"] for r in json.loads((out / "history.json").read_text())]
    assert curves["bf16"] != curves["off"]  # autocast was on
    for fp32, bf16 in zip(curves["off"], curves["bf16"], strict=True):
        assert bf16 == pytest.approx(fp32, rel=0.05)
    assert curves["bf16"][-1] < curves["bf16"][0]
