"""`videolights train` and `videolights predict --annotations` as a user runs them."""

import json
import shutil

import numpy as np

from flows.cli import main
from pipeline.store import write_video_features
from tests.cli.conftest import feature_arguments


def train_argv(features, out, *extra):
    argv = ["train", "--config", str(features["config"])]
    argv += ["--train-annotations", str(features["train"]), *feature_arguments(features)]
    return [*argv, "--out", str(out), "--epochs", "1", "--device", "cpu", *extra]


def test_skip_missing_features_skips_and_records_what_stops_a_run_without_it(
    features, tmp_path, capsys
):
    copied = dict(features, root=tmp_path / "features")
    shutil.copytree(features["root"], copied["root"])
    copied["video_dirs"] = [copied["root"] / "clip_features"]
    copied["text_dirs"] = [copied["root"] / "clip_text_features"]
    missing = copied["root"] / "clip_features" / "v3.npz"  # v3: a training sample
    missing.unlink()

    assert main(train_argv(copied, tmp_path / "strict")) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"videolights train: {missing}: feature file not found"
    )

    out = tmp_path / "skipping"
    assert main(train_argv(copied, out, "--skip-missing-features")) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 1
    skipped = json.loads((out / "run.json").read_text())["skipped_samples"]
    assert skipped["count"] == 1 and str(missing) in skipped["reasons"][0]


def test_predict_annotations_gives_the_predictions_training_validated(
    trained, features, tmp_path, capsys
):
    out = tmp_path / "preds.jsonl"
    argv = ["predict", "--checkpoint", str(trained.best_checkpoint), "--device", "cpu"]
    argv += ["--annotations", str(features["val"]), *feature_arguments(features)]
    assert main([*argv, "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"submission: {out}\n"
    validated = (trained.out / "best_val_preds.jsonl").read_text().splitlines()
    predicted = out.read_text().splitlines()
    assert [json.loads(line)["qid"] for line in predicted] == [8, 9, 10, 11]
    assert list(map(json.loads, predicted)) == list(map(json.loads, validated))


def test_init_from_a_checkpoint_that_does_not_fit(trained, features, tmp_path, capsys):
    checkpoint = str(trained.best_checkpoint)
    other_config = train_argv(features, tmp_path / "a", "--init-from", checkpoint)
    other_config[1:3] = ["--config", "qvhighlights"]  # deeper than the small config
    assert main(other_config) == 2
    message = capsys.readouterr().err.splitlines()[-1]
    assert message.startswith(f"videolights train: --init-from {checkpoint}: a model of another")
    assert "weights it lacks, e.g. decoder.layers.2." in message

    wider = dict(features, video_dirs=[tmp_path / "wider" / "clip_features"])
    for row in map(json.loads, features["train"].read_text().splitlines()):
        write_video_features(tmp_path / "wider", "clip", row["vid"], np.ones((20, 24), np.float32))
    assert main(train_argv(wider, tmp_path / "b", "--init-from", checkpoint)) == 2
    message = capsys.readouterr().err.splitlines()[-1]
    assert (
        f"the checkpoint {checkpoint} was trained on video features clip_features (16)" in message
    )
    assert message.endswith(
        "this training run gives video features clip_features (24) "
        "and text features clip_text_features (8)"
    )


def test_a_feature_file_with_nan_values_is_named(features, tmp_path, capsys):
    copied = dict(features, root=tmp_path / "features")
    shutil.copytree(features["root"], copied["root"])
    copied["video_dirs"] = [copied["root"] / "clip_features"]
    copied["text_dirs"] = [copied["root"] / "clip_text_features"]
    poisoned = np.load(copied["root"] / "clip_features" / "v3.npz")["features"]
    poisoned[2, 5] = np.nan
    write_video_features(copied["root"], "clip", "v3", poisoned)

    assert main(train_argv(copied, tmp_path / "run")) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"videolights train: {copied['root'] / 'clip_features' / 'v3.npz'}: "
        f"features holds NaN or infinite values (1 of {poisoned.size})"
    )


def test_a_diverging_run_ends_in_one_message(features, tmp_path, capsys):
    assert main(train_argv(features, tmp_path / "run", "--lr", "1e30", "--batch-size", "2")) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("videolights train: not finite at epoch 1, step ")
