"""Predictions in the official submission format, from a model or a checkpoint.

Per query: the 10 moments sorted by foreground probability, as [start, end, score] in seconds
(clamped to the video and rounded to whole clips, as the reference's post-processing does),
and one saliency score per clip. `predict` works on an annotation file and feature folders;
`predict_video` on a video file and free-text queries, extracting the features it needs with
the encoders that made the features the checkpoint records (`TrainedInputs`). A video longer
than the model's training length is scored in half-overlapping windows of that length, whose
moments are merged by temporal NMS and whose saliency is averaged (`predict_in_windows`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from model.checkpoints import (
    CheckpointMismatchError,
    FeatureType,
    TrainedInputs,
    load_trained,
)
from model.config import DataConfig, TrainConfig
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
from pipeline.store import (
    TEXT_FOLDERS,
    VIDEO_FOLDERS,
    FeatureFileError,
    atomic_write,
    atomic_write_text,
)


@torch.inference_mode()
def predict_batch(
    model,
    batch: Batch,
    device,
    clip_length: float,
    with_moments: bool = True,
    float16_saliency: bool = True,
):
    """Submission entries of a batch. With moments and `float16_saliency` (the reference's
    moment inference, and its released prediction files), saliency scores are the exact
    float16 values of the model's; otherwise float32 rounded to 4 decimals."""
    outputs = model(**batch.inputs(device))
    foreground = outputs["pred_logits"].softmax(-1)[..., 0].float().cpu()
    spans = cxw_to_xx(outputs["pred_spans"].float().cpu())
    saliency = outputs["saliency_scores"].float().cpu()
    float16 = with_moments and float16_saliency
    if float16:
        saliency = saliency.half().float()
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
        entry["pred_saliency_scores"] = [
            float(s) if float16 else round(float(s), 4) for s in saliency[i, :clips]
        ]
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
        predictions += predict_batch(
            model,
            batch,
            device,
            dataset.config.clip_length,
            with_moments,
            config.float16_saliency,
        )
    return predictions


def write_submission(predictions: list[dict], path: Path) -> Path:
    return atomic_write_text(path, "".join(json.dumps(p) + "\n" for p in predictions))


def predict(
    checkpoint, annotations, video_feature_dirs, text_feature_dirs, out, device="auto"
) -> Path:
    """A submission JSONL for every row of `annotations`, from a checkpoint of `train`."""
    model, config, inputs, torch_device = load_trained(Path(checkpoint), device)
    dataset = MomentDataset(
        read_annotations(annotations),
        video_feature_dirs,
        text_feature_dirs,
        config.data,
        training=False,
    )
    video_widths, text_widths = dataset.feature_widths()
    inputs.check(
        list(map(FeatureType, (Path(d).name for d in video_feature_dirs), video_widths)),
        list(map(FeatureType, (Path(d).name for d in text_feature_dirs), text_widths)),
        "the feature folders",
    )
    predictions = predict_dataset(model, dataset, torch_device, config)
    return write_submission(predictions, Path(out))


# Feature folders of the released layout -> the encoder that makes them.
VIDEO_ENCODERS = {folder: encoder for encoder, folder in VIDEO_FOLDERS.items()}
TEXT_ENCODERS = {folder: encoder for encoder, folder in TEXT_FOLDERS.items()}
# Moments of overlapping windows are merged as the reference's post-processing does when NMS is
# on (utils/temporal_nms.py); 0.7 is the threshold its family's scripts pass (--nms_thd 0.7).
NMS_THRESHOLD = 0.7


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


def _encoders(inputs: TrainedInputs, settings: VideoQuerySettings) -> tuple[dict, dict]:
    """(folder -> video encoder, folder -> text encoder) making exactly the checkpoint's
    feature types, each encoder built once; no video encoders when features are given."""
    from extractors.registry import build_encoder

    video = [] if settings.features is not None else [t.folder for t in inputs.video]
    text = [t.folder for t in inputs.text]
    unknown = [f for f in video if f not in VIDEO_ENCODERS] + [
        f for f in text if f not in TEXT_ENCODERS
    ]
    if unknown:
        raise CheckpointMismatchError(
            f"{inputs.describe()}; no encoder here makes "
            f"{', '.join(unknown)} (predict with --annotations and feature folders instead)"
        )
    built = {}

    def encoder(name: str):
        if name not in built:
            built[name] = build_encoder(
                name, settings.model_size, settings.weights, settings.device
            )
        return built[name]

    return (
        {folder: encoder(VIDEO_ENCODERS[folder]) for folder in video},
        {folder: encoder(TEXT_ENCODERS[folder]) for folder in text},
    )


def video_features(
    settings: VideoQuerySettings, inputs: TrainedInputs, on_clip=None, encoders=None
) -> tuple[list[np.ndarray], float]:
    """Per-type video features in the checkpoint's order, and the video's duration: read from
    settings.features, else extracted with `encoders` (folder -> encoder; default: built for
    the checkpoint's folders). `on_clip()` is called after each clip is decoded."""
    from pipeline.probe import probe
    from pipeline.store import load_video_features

    info = probe(settings.video)
    if settings.features is not None:
        try:
            arrays = [
                load_video_features(settings.features / t.folder / f"{info.video_id}.npz")
                for t in inputs.video
            ]
        except FeatureFileError as error:
            raise CheckpointMismatchError(f"{inputs.describe()}; {error}") from None
        return arrays, info.duration
    from extractors.run import ExtractReport, ExtractSettings, encode_video

    if encoders is None:
        encoders, _ = _encoders(inputs, settings)
    extract = ExtractSettings(
        encoders=tuple(VIDEO_ENCODERS[folder] for folder in encoders),
        preset=settings.preset,
        clip_length=inputs.clip_length,
        model_size=settings.model_size,
    )
    features = encode_video(info, encoders, extract, ExtractReport(), on_clip)
    # Rounded as the stored features the model was trained on are (float16).
    arrays = [features[t.folder].astype(np.float16).astype(np.float32) for t in inputs.video]
    return arrays, info.duration


def predict_video(settings: VideoQuerySettings) -> list[dict]:
    """Submission-format predictions for every query; writes them as JSONL and one PNG per
    query (saliency curve, top moments shaded) into settings.out. A video longer than the
    model's training length is scored in windows (`predict_in_windows`)."""
    model, config, inputs, device = load_trained(Path(settings.checkpoint), settings.device)
    video_encoders, text_encoders = _encoders(inputs, settings)
    text_types = [FeatureType(f, e.text_dim) for f, e in text_encoders.items()]
    source = f"--model-size {settings.model_size}"
    if settings.features is None:
        video_types = [FeatureType(f, e.dim) for f, e in video_encoders.items()]
        inputs.check(video_types, text_types, f"extraction with {source}")
    videos, duration = video_features(settings, inputs, encoders=video_encoders)
    if settings.features is not None:
        video_types = [
            FeatureType(t.folder, v.shape[1]) for t, v in zip(inputs.video, videos, strict=True)
        ]
        inputs.check(video_types, text_types, f"--features {settings.features} with {source}")
    per_encoder = [e.encode_texts(list(settings.queries)) for e in text_encoders.values()]

    def score(samples: list[Sample]) -> list[dict]:
        size = config.optim.eval_batch_size
        return [
            prediction
            for first in range(0, len(samples), size)
            for prediction in predict_batch(
                model,
                collate_inputs(samples[first : first + size]),
                device,
                inputs.clip_length,
                float16_saliency=config.float16_saliency,
            )
        ]

    vid = Path(settings.video).stem
    predictions = [
        predict_in_windows(
            videos,
            [f[index].tokens for f in per_encoder],
            {"qid": index, "query": query, "vid": vid, "duration": duration},
            config.data,
            score,
        )
        for index, query in enumerate(settings.queries)
    ]
    out = Path(settings.out)
    write_submission(predictions, out / "predictions.jsonl")
    for prediction in predictions:
        plot_prediction(prediction, inputs.clip_length, out / f"query{prediction['qid']}.png")
    return predictions


def window_starts(clips: int, size: int) -> list[int]:
    """First clips of the windows of `size` clips that cover `clips` clips: one window when
    they fit, else one every half window, the last ending with the video."""
    if clips <= size:
        return [0]
    return list(range(0, clips - size, max(1, size // 2))) + [clips - size]


def predict_in_windows(
    videos: list[np.ndarray],
    texts: list[np.ndarray],
    row: dict,
    data: DataConfig,
    score: Callable[[list[Sample]], list[dict]],
    nms_threshold: float = NMS_THRESHOLD,
) -> dict:
    """The prediction of one query over a video of any length. Each window of the training
    length (data.max_video_clips clips) is assembled as a training sample is and scored by
    `score` (samples -> predictions, e.g. `predict_batch` with a model); `merge_windows`
    joins them."""
    clips = min(len(v) for v in videos)
    size = data.max_video_clips
    starts = window_starts(clips, size)
    samples = []
    for start in starts:
        video, text = assemble_inputs([v[start : start + size] for v in videos], texts, data)
        duration = min(float(row["duration"]) - start * data.clip_length, size * data.clip_length)
        samples.append(Sample(row["qid"], row["vid"], duration, video, text, row))
    predictions = score(samples)
    if len(predictions) == 1:
        return predictions[0]
    return merge_windows(predictions, starts, data.clip_length, clips, nms_threshold)


def merge_windows(
    predictions: list[dict],
    starts: list[int],
    clip_length: float,
    clips: int,
    nms_threshold: float = NMS_THRESHOLD,
) -> dict:
    """One prediction from those of windows starting at the clips `starts`: moments shifted to
    the video's time and merged by non-maximum suppression (as many as one window gives),
    saliency averaged over the windows that cover each clip."""
    moments, total, count = [], np.zeros(clips), np.zeros(clips)
    for prediction, start in zip(predictions, starts, strict=True):
        offset = start * clip_length
        moments += [[s + offset, e + offset, p] for s, e, p in prediction["pred_relevant_windows"]]
        saliency = prediction["pred_saliency_scores"]
        total[start : start + len(saliency)] += saliency
        count[start : start + len(saliency)] += 1
    keep = len(predictions[0]["pred_relevant_windows"])
    return predictions[0] | {
        "pred_relevant_windows": temporal_nms(moments, nms_threshold, keep),
        "pred_saliency_scores": [round(float(s), 4) for s in total / np.maximum(count, 1)],
    }


def temporal_iou(a, b) -> float:
    intersection = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - intersection
    return intersection / union if union > 0 else 0.0


def temporal_nms(moments: list, threshold: float, keep: int) -> list:
    """[start, end, score] moments by descending score, each dropped when its IoU with a kept
    one exceeds `threshold`; at most `keep` (the rule of the reference's temporal_nms)."""
    kept = []
    for moment in sorted(moments, key=lambda m: m[2], reverse=True):
        if len(kept) == keep:
            break
        if all(temporal_iou(moment, other) <= threshold for other in kept):
            kept.append(moment)
    return kept


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
