"""Predictions in the official submission format, from a model or a checkpoint.

Per query: the 10 moments sorted by foreground probability, as [start, end, score] in seconds
(clamped to the video and rounded to whole clips, as the reference's post-processing does),
and one saliency score per clip. `predict` works on an annotation file and feature folders;
`predict_video` on a video file and free-text queries, extracting the features it needs with
the encoders that made the training features.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from model.checkpoints import load_model
from model.config import TrainConfig
from model.data import (
    Batch,
    MomentDataset,
    Sample,
    assemble_inputs,
    collate_inputs,
    make_collate,
    read_annotations,
)
from model.spans import cxw_to_xx
from pipeline.store import atomic_write, atomic_write_text


@torch.inference_mode()
def predict_batch(model, batch: Batch, device, clip_length: float, with_moments: bool = True):
    outputs = model(**batch.inputs(device))
    foreground = outputs["pred_logits"].softmax(-1)[..., 0].float().cpu()
    spans = cxw_to_xx(outputs["pred_spans"].float().cpu())
    saliency = outputs["saliency_scores"].float().cpu()
    predictions = []
    for i, sample in enumerate(batch.samples):
        clips = len(sample.video)
        entry = {"qid": sample.qid, "query": sample.row.get("query"), "vid": sample.vid}
        if with_moments:
            # Spans are relative to the features' clips; the video's end bounds them.
            seconds = (spans[i] * clips * clip_length).clamp(0, sample.duration)
            seconds = torch.round(seconds / clip_length) * clip_length
            order = foreground[i].argsort(descending=True, stable=True)
            entry["pred_relevant_windows"] = [
                [float(seconds[q, 0]), float(seconds[q, 1]), round(float(foreground[i, q]), 4)]
                for q in order
            ]
        entry["pred_saliency_scores"] = [round(float(s), 4) for s in saliency[i, :clips]]
        predictions.append(entry)
    return predictions


def predict_dataset(model, dataset: MomentDataset, device, config: TrainConfig) -> list[dict]:
    """Predictions of every sample, in the config's evaluation batches; TVSum has no moments."""
    model.eval()
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.optim.eval_batch_size,
        shuffle=False,
        collate_fn=make_collate(dataset),
    )
    with_moments = config.evaluation != "tvsum"
    predictions = []
    for batch in tqdm(loader, desc="predict", leave=False):
        predictions += predict_batch(model, batch, device, dataset.config.clip_length, with_moments)
    return predictions


def write_submission(predictions: list[dict], path: Path) -> Path:
    return atomic_write_text(path, "".join(json.dumps(p) + "\n" for p in predictions))


def predict(
    checkpoint, annotations, video_feature_dirs, text_feature_dirs, out, device="auto"
) -> Path:
    """A submission JSONL for every row of `annotations`, from a checkpoint of `train`."""
    model, config, torch_device = load_model(Path(checkpoint), device)
    dataset = MomentDataset(
        read_annotations(annotations),
        video_feature_dirs,
        text_feature_dirs,
        config.data,
        training=False,
    )
    predictions = predict_dataset(model, dataset, torch_device, config)
    return write_submission(predictions, Path(out))


# Feature folders of the released layout -> the encoder that makes them.
VIDEO_ENCODERS = {
    "clip_features": "clip",
    "slowfast_features": "slowfast",
    "blip_video_features": "blip2",
}
TEXT_ENCODERS = {"clip_text_features": "clip", "blip_text_features": "blip2"}


@dataclass(frozen=True)
class VideoQuerySettings:
    """Predict moments of free-text queries in one video, extracting what is needed."""

    checkpoint: Path
    video: Path
    queries: tuple[str, ...]
    out: Path
    features: Path | None = None  # precomputed video features: {features}/{folder}/{vid}.npz
    model_size: str = "full"
    weights: Path | None = None
    preset: str = "default"
    device: str = "auto"

    def __post_init__(self):
        if not self.queries or not all(q.strip() for q in self.queries):
            raise ValueError("give at least one non-empty query")


def _encoders(names, settings: VideoQuerySettings, table: dict[str, str]) -> list:
    from extractors.registry import build_encoder

    missing = [name for name in names if name not in table]
    if missing:
        raise ValueError(f"no encoder makes {', '.join(missing)}; use precomputed --features")
    return [
        build_encoder(table[name], settings.model_size, settings.weights, settings.device)
        for name in names
    ]


def video_features(
    settings: VideoQuerySettings, config, on_clip=None
) -> tuple[list[np.ndarray], float]:
    """Per-type video features in the config's order, and the video's duration. `on_clip()`
    is called after each clip is decoded when the features are extracted."""
    from pipeline.probe import probe
    from pipeline.store import load_video_features

    info = probe(settings.video)
    if settings.features is not None:
        arrays = [
            load_video_features(settings.features / name / f"{info.video_id}.npz")
            for name in config.video_features
        ]
        return arrays, info.duration
    from extractors.run import ExtractReport, ExtractSettings, encode_video

    encoders = dict(
        zip(
            config.video_features,
            _encoders(config.video_features, settings, VIDEO_ENCODERS),
            strict=True,
        )
    )
    extract = ExtractSettings(
        encoders=tuple(VIDEO_ENCODERS[n] for n in config.video_features),
        preset=settings.preset,
        clip_length=config.data.clip_length,
        model_size=settings.model_size,
    )
    features = encode_video(info, encoders, extract, ExtractReport(), on_clip)
    # Rounded as the stored features the model was trained on are (float16).
    arrays = [
        features[name].astype(np.float16).astype(np.float32) for name in config.video_features
    ]
    return arrays, info.duration


def predict_video(settings: VideoQuerySettings) -> list[dict]:
    """Submission-format predictions for every query; writes them as JSONL and one PNG per
    query (saliency curve, top moments shaded) into settings.out."""
    model, config, device = load_model(Path(settings.checkpoint), settings.device)
    videos, duration = video_features(settings, config)
    text_encoders = _encoders(config.text_features, settings, TEXT_ENCODERS)
    per_encoder = [encoder.encode_texts(list(settings.queries)) for encoder in text_encoders]
    samples = []
    for index, query in enumerate(settings.queries):
        video, text = assemble_inputs(videos, [f[index].tokens for f in per_encoder], config.data)
        row = {"qid": index, "query": query, "vid": Path(settings.video).stem, "duration": duration}
        samples.append(Sample(index, row["vid"], duration, video, text, row))
    predictions = predict_batch(model, collate_inputs(samples), device, config.data.clip_length)
    out = Path(settings.out)
    write_submission(predictions, out / "predictions.jsonl")
    for prediction in predictions:
        plot_prediction(prediction, config.data.clip_length, out / f"query{prediction['qid']}.png")
    return predictions


def plot_prediction(prediction: dict, clip_length: float, path: Path, top: int = 3) -> Path:
    """The saliency curve over time with the top moments shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saliency = prediction["pred_saliency_scores"]
    figure, axis = plt.subplots(figsize=(8, 2.5))
    axis.plot([(i + 0.5) * clip_length for i in range(len(saliency))], saliency, color="black")
    for start, end, score in prediction["pred_relevant_windows"][:top]:
        axis.axvspan(start, end, alpha=0.15 + 0.5 * score, color="tab:orange")
    axis.set(xlabel="seconds", ylabel="saliency", title=prediction["query"][:80])
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda temporary: figure.savefig(temporary, format="png"))
    plt.close(figure)
    return path
