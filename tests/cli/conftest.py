"""A tiny trained run on planted features, for the commands that need a checkpoint."""

import pytest

from model.train import TrainSettings, train
from tests.model.conftest import planted_rows, write_jsonl

SMALL_CONFIG = (
    "base: qvhighlights\n"
    "model: {encoder_layers: 1, decoder_layers: 2, ffn_dim: 256}\n"
    "optim: {batch_size: 8, eval_every: 1, eval_batch_size: 16}\n"
)


@pytest.fixture(scope="session")
def features(tmp_path_factory):
    """12 planted samples (8 to train on, 4 to validate), their feature folders, a config."""
    root = tmp_path_factory.mktemp("planted")
    rows = planted_rows(root, 12)
    config = root / "small.yaml"
    config.write_text(SMALL_CONFIG)
    return {
        "root": root,
        "train": write_jsonl(root / "train.jsonl", rows[:8]),
        "val": write_jsonl(root / "val.jsonl", rows[8:]),
        "video_dirs": [root / "clip_features"],
        "text_dirs": [root / "clip_text_features"],
        "config": config,
    }


@pytest.fixture(scope="session")
def trained(features, tmp_path_factory):
    """One epoch on the planted features, validated (best_val_preds.jsonl) once."""
    return train(
        TrainSettings(
            train_annotations=features["train"],
            val_annotations=features["val"],
            video_feature_dirs=tuple(features["video_dirs"]),
            text_feature_dirs=tuple(features["text_dirs"]),
            out=tmp_path_factory.mktemp("run"),
            config=features["config"],
            epochs=1,
            device="cpu",
        )
    )


def feature_arguments(features) -> list[str]:
    return [
        "--video-feature-dirs",
        *map(str, features["video_dirs"]),
        "--text-feature-dirs",
        *map(str, features["text_dirs"]),
    ]
