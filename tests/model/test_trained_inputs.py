"""A checkpoint records what its model was trained on (feature folders in concatenation order,
their widths, clip length, preset), and `predict` makes exactly those inputs or says, with exit
status 2, what the checkpoint expects and what it got.

The run here trains on CLIP features only with a config based on the `qvhighlights` preset,
which lists SlowFast + CLIP: the demo's situation (folders other than the preset's list)."""

import json
import shutil

import numpy as np
import pytest
import torch

from flows.cli import main
from model.checkpoints import load_checkpoint
from pipeline.store import write_text_features, write_video_features
from tests.model.conftest import BUNNY_ROWS, bunny_features, train_one_epoch, write_jsonl


@pytest.fixture(scope="module")
def clip_only(tmp_path_factory, bundled_video, small_config):
    root = tmp_path_factory.mktemp("clip_only")
    bunny = bunny_features(root, bundled_video, ("clip",))
    features = bunny["features"]
    checkpoint = train_one_epoch(
        root / "run",
        bunny["queries"],
        [features / "clip_features"],
        [features / "clip_text_features"],
        small_config,
    )
    return {"checkpoint": checkpoint, "features": features, "video": bunny["video"]}


def predict(checkpoint, video, out, *extra):
    return main(
        [
            "predict",
            "--checkpoint",
            str(checkpoint),
            "--video",
            str(video),
            "--query",
            "the rabbit wakes up",
            "--model-size",
            "tiny",
            "--device",
            "cpu",
            "--out",
            str(out),
            *extra,
        ]
    )


def width(path, key):
    with np.load(path) as archive:
        return archive[key].shape[1]


def test_the_checkpoint_records_the_folders_trained_on_not_the_preset_s_list(clip_only):
    checkpoint = load_checkpoint(clip_only["checkpoint"])
    features = clip_only["features"]
    assert checkpoint["trained_on"] == {
        "video": [["clip_features", width(features / "clip_features/bunny.npz", "features")]],
        "text": [
            [
                "clip_text_features",
                width(features / "clip_text_features/qid0.npz", "last_hidden_state"),
            ]
        ],
        "clip_length": 2.0,
        "preset": "small",  # the YAML config's name
    }
    assert list(checkpoint["config"]["video_features"]) == ["clip_features"]


def test_predict_video_extracts_exactly_the_features_the_checkpoint_names(clip_only, tmp_path):
    assert predict(clip_only["checkpoint"], clip_only["video"], tmp_path / "a") == 0
    extracted = (tmp_path / "a" / "predictions.jsonl").read_text()
    assert len(json.loads(extracted)["pred_saliency_scores"]) == 15
    features = ["--features", str(clip_only["features"])]
    assert predict(clip_only["checkpoint"], clip_only["video"], tmp_path / "b", *features) == 0
    assert (tmp_path / "b" / "predictions.jsonl").read_text() == extracted


def test_features_of_another_width_exit_2_saying_what_the_checkpoint_expects(
    clip_only, tmp_path, capsys
):
    features = tmp_path / "features"
    shutil.copytree(clip_only["features"], features)
    write_video_features(features, "clip", "bunny", np.ones((15, 7), np.float32))
    expected = width(clip_only["features"] / "clip_features/bunny.npz", "features")
    status = predict(
        clip_only["checkpoint"], clip_only["video"], tmp_path, "--features", str(features)
    )
    assert status == 2
    error = capsys.readouterr().err
    assert f"was trained on video features clip_features ({expected})" in error
    assert "gives video features clip_features (7)" in error
    assert "Traceback" not in error and error.count("videolights predict:") == 1


def test_missing_feature_folders_exit_2_naming_the_expected_features(clip_only, tmp_path, capsys):
    (tmp_path / "features").mkdir()
    status = predict(
        clip_only["checkpoint"],
        clip_only["video"],
        tmp_path,
        "--features",
        str(tmp_path / "features"),
    )
    assert status == 2
    error = capsys.readouterr().err
    assert "was trained on video features clip_features" in error
    assert str(tmp_path / "features" / "clip_features" / "bunny.npz") in error


def test_a_checkpoint_trained_on_other_widths_exits_2_before_extracting(
    tmp_path, bundled_video, small_config, capsys
):
    features = tmp_path / "features"
    rng = np.random.default_rng(0)
    write_video_features(features, "clip", "bunny", rng.normal(size=(15, 16)))
    for row in BUNNY_ROWS:
        text = rng.normal(size=(5, 8))
        write_text_features(features, "clip", row["qid"], text, text[0])
    checkpoint = train_one_epoch(
        tmp_path / "run",
        write_jsonl(tmp_path / "queries.jsonl", BUNNY_ROWS),
        [features / "clip_features"],
        [features / "clip_text_features"],
        small_config,
    )
    assert predict(checkpoint, bundled_video, tmp_path / "out") == 2
    error = capsys.readouterr().err
    assert "was trained on video features clip_features (16) and text features " in error
    assert "clip_text_features (8)" in error
    assert "extraction with --model-size tiny gives video features clip_features (" in error
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_from_before_the_record_is_refused_when_its_preset_does_not_fit(
    clip_only, tmp_path, capsys
):
    """What the checkpoints saved before the record hold: the preset's list."""
    checkpoint = load_checkpoint(clip_only["checkpoint"])
    del checkpoint["trained_on"]
    checkpoint["config"]["video_features"] = ["slowfast_features", "clip_features"]
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    assert predict(old, clip_only["video"], tmp_path / "out") == 2
    error = capsys.readouterr().err
    assert "does not record its features" in error
    assert "names video features slowfast_features + clip_features" in error
    assert "Traceback" not in error
