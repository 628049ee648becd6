"""Predictions in the official submission format, from a model or a checkpoint.

Per query: the 10 moments sorted by foreground probability, as [start, end, score] in seconds
(clamped to the video and rounded to whole clips, as the reference's post-processing does),
and one saliency score per clip.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm import tqdm

from model.data import Batch, MomentDataset, make_collate, read_annotations
from model.spans import cxw_to_xx
from pipeline.store import atomic_write_text


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


def predict_dataset(model, dataset: MomentDataset, device, batch_size: int, with_moments=True):
    model.eval()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, collate_fn=make_collate(dataset)
    )
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
    from model.train import load_model

    model, config, torch_device = load_model(Path(checkpoint), device)
    dataset = MomentDataset(
        read_annotations(annotations),
        video_feature_dirs,
        text_feature_dirs,
        config.data,
        training=False,
    )
    predictions = predict_dataset(
        model,
        dataset,
        torch_device,
        config.optim.eval_batch_size,
        with_moments=config.evaluation != "tvsum",
    )
    return write_submission(predictions, Path(out))
