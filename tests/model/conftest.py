"""A planted-signal dataset: query topic k lights up feature 8 + k inside the GT window; two
queries on the bundled video (`bunny`), its tiny features, and checkpoints trained briefly."""

import json
import shutil

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


BUNNY_ROWS = [
    {
        "qid": 0,
        "query": "a bird on a branch",
        "vid": "bunny",
        "duration": 30.0,
        "relevant_windows": [[10, 16]],
        "relevant_clip_ids": [5, 6, 7],
        "saliency_scores": [[2, 3, 4]] * 3,
    },
    {
        "qid": 1,
        "query": "the rabbit wakes up",
        "vid": "bunny",
        "duration": 30.0,
        "relevant_windows": [[20, 26]],
        "relevant_clip_ids": [10, 11, 12],
        "saliency_scores": [[4, 4, 4]] * 3,
    },
]


def bunny_features(root, bundled_video, encoders: tuple[str, ...]) -> dict:
    """The bundled video as `bunny`, BUNNY_ROWS and their tiny features under `root`."""
    videos = root / "videos"
    videos.mkdir()
    shutil.copy(bundled_video, videos / "bunny.webm")
    queries = write_jsonl(root / "queries.jsonl", BUNNY_ROWS)
    features = root / "features"
    extract(videos, features, ExtractSettings(encoders, model_size="tiny", device="cpu"), queries)
    return {"video": videos / "bunny.webm", "queries": queries, "features": features}


def train_one_epoch(out, annotations, video_dirs, text_dirs, config, batch_size: int = 2):
    """The best checkpoint of one epoch of training (for the tests of what uses checkpoints)."""
    settings = TrainSettings(
        train_annotations=annotations,
        video_feature_dirs=tuple(video_dirs),
        text_feature_dirs=tuple(text_dirs),
        out=out,
        config=config,
        epochs=1,
        batch_size=batch_size,
        device="cpu",
    )
    return train(settings).best_checkpoint


def train_on_videos(videos, queries, root, config):
    """Tiny-encoder features of `videos` and `queries` in {root}/features, and a checkpoint
    trained one epoch on them (SlowFast + CLIP, as `config`'s preset): (checkpoint, features)."""
    features = root / "features"
    extract(videos, features, ExtractSettings(model_size="tiny", device="cpu"), queries)
    video_dirs = (features / "slowfast_features", features / "clip_features")
    checkpoint = train_one_epoch(
        root / "run", queries, video_dirs, (features / "clip_text_features",), config
    )
    return checkpoint, features
