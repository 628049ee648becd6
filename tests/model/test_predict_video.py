"""`videolights predict --video`: extraction with the training features' encoders, moments and
saliency per query, a PNG; the same answer from precomputed features."""

import json

import pytest
import torch

from flows.cli import main
from model.checkpoints import load_checkpoint
from tests.model.conftest import bunny_features, train_one_epoch


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, bundled_video, small_config):
    root = tmp_path_factory.mktemp("video")
    bunny = bunny_features(root, bundled_video, ("clip", "slowfast"))
    features = bunny["features"]
    checkpoint = train_one_epoch(
        root / "run",
        bunny["queries"],
        (features / "slowfast_features", features / "clip_features"),
        (features / "clip_text_features",),
        small_config,
    )
    return {"checkpoint": checkpoint, "features": features, "video": bunny["video"]}


def run_predict(checkpoint, out, *extra, name_checkpoint=True):
    named = ["--checkpoint", str(checkpoint["checkpoint"])] if name_checkpoint else []
    status = main(
        [
            "predict",
            *named,
            "--video",
            str(checkpoint["video"]),
            "--query",
            "the rabbit wakes up",
            "--query",
            "a bird",
            "--model-size",
            "tiny",
            "--device",
            "cpu",
            "--out",
            str(out),
            *extra,
        ]
    )
    assert status == 0
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def test_predict_from_a_video_extracts_and_answers_each_query(checkpoint, tmp_path, capsys):
    predictions = run_predict(checkpoint, tmp_path / "out")
    assert [p["query"] for p in predictions] == ["the rabbit wakes up", "a bird"]
    for prediction in predictions:
        assert len(prediction["pred_relevant_windows"]) == 10
        assert len(prediction["pred_saliency_scores"]) == 15
        assert all(0 <= s <= e <= 30 for s, e, _ in prediction["pred_relevant_windows"])
    assert (tmp_path / "out" / "query0.png").read_bytes()[:4] == b"\x89PNG"
    assert "saliency per clip" in capsys.readouterr().out


def test_precomputed_features_give_the_same_predictions(checkpoint, tmp_path):
    extracted = run_predict(checkpoint, tmp_path / "a")
    precomputed = run_predict(checkpoint, tmp_path / "b", "--features", str(checkpoint["features"]))
    assert extracted == precomputed


def test_without_checkpoint_the_environment_s_one_is_used(checkpoint, tmp_path, monkeypatch):
    named = run_predict(checkpoint, tmp_path / "a")
    monkeypatch.setenv("VIDEOLIGHTS_CHECKPOINT", str(checkpoint["checkpoint"]))
    assert run_predict(checkpoint, tmp_path / "b", name_checkpoint=False) == named


def test_without_any_checkpoint_the_error_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VIDEOLIGHTS_CHECKPOINT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    status = main(["predict", "--video", "any.mp4", "--query", "a bird", "--out", str(tmp_path)])
    assert status == 2
    error = capsys.readouterr().err
    assert str(tmp_path / ".cache/videolights/videolights.ckpt") in error
    assert "import-checkpoint" in error


def test_a_checkpoint_from_before_the_record_falls_back_to_its_preset_s_features(
    checkpoint, tmp_path
):
    """Checkpoints saved before the feature record name the preset's list (here the folders
    trained on): when their widths fit the model, prediction goes on with them."""
    old = load_checkpoint(checkpoint["checkpoint"])
    del old["trained_on"]
    torch.save(old, tmp_path / "old.ckpt")
    features = ("--features", str(checkpoint["features"]))
    recorded = run_predict(checkpoint, tmp_path / "a", *features)
    old_checkpoint = checkpoint | {"checkpoint": tmp_path / "old.ckpt"}
    assert run_predict(old_checkpoint, tmp_path / "b", *features) == recorded
