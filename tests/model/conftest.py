"""A planted-signal dataset: query topic k lights up feature 8 + k inside the GT window."""

import json

import numpy as np
import pytest

from extractors.run import ExtractSettings, extract
from model.train import TrainSettings, train
from pipeline.store import write_text_features, write_video_features

CLIPS, VIDEO_DIM, TEXT_DIM, TOPICS = 20, 16, 8, 4


def planted_rows(root, count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        topic = int(rng.integers(TOPICS))
        start, length = int(rng.integers(0, CLIPS - 6)), int(rng.integers(3, 6))
        video = rng.normal(size=(CLIPS, VIDEO_DIM)).astype(np.float32)
        video[start : start + length, 8 + topic] += 5
        text = rng.normal(size=(5, TEXT_DIM)).astype(np.float32)
        text[:, topic] += 5
        write_video_features(root, "clip", f"v{index}", video)
        write_text_features(root, "clip", index, text, text[0])
        rows.append(
            {
                "qid": index,
                "query": f"topic {topic}",
                "vid": f"v{index}",
                "duration": 2 * CLIPS,
                "relevant_windows": [[2 * start, 2 * (start + length)]],
                "relevant_clip_ids": list(range(start, start + length)),
                "saliency_scores": [[4, 3, 4]] * length,
            }
        )
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    rows = planted_rows(root, 120)
    return {
        "root": root,
        "train": write_jsonl(root / "train.jsonl", rows[:96]),
        "val": write_jsonl(root / "val.jsonl", rows[96:]),
        "video_dirs": (root / "clip_features",),
        "text_dirs": (root / "clip_text_features",),
    }


@pytest.fixture(scope="module")
def small_config(tmp_path_factory):
    """The qvhighlights preset with fewer, smaller layers so that tests train in seconds."""
    path = tmp_path_factory.mktemp("config") / "small.yaml"
    path.write_text(
        "base: qvhighlights\n"
        "model: {encoder_layers: 1, decoder_layers: 2, ffn_dim: 256, input_dropout: 0.1}\n"
        "optim: {lr: 0.0005, batch_size: 8, eval_every: 10, eval_batch_size: 16}\n"
    )
    return path


def train_on_videos(videos, queries, root, config):
    """Tiny-encoder features of `videos` and `queries` in {root}/features, and a checkpoint
    trained one epoch on them (SlowFast + CLIP, as `config`'s preset): (checkpoint, features)."""
    features = root / "features"
    extract(videos, features, ExtractSettings(model_size="tiny", device="cpu"), queries)
    result = train(
        TrainSettings(
            train_annotations=queries,
            video_feature_dirs=(features / "slowfast_features", features / "clip_features"),
            text_feature_dirs=(features / "clip_text_features",),
            out=root / "run",
            config=config,
            epochs=1,
            batch_size=2,
            device="cpu",
        )
    )
    return result.best_checkpoint, features
