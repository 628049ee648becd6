"""Annotations and features as padded batches.

One reader for annotation rows (QVHighlights JSONL or the synthetic Parquet), one dataset that
loads each sample's feature files (released layout: `{dir}/{vid}.npz` key `features`,
`{dir}/qid{qid}.npz` key `last_hidden_state`), normalises them per row, truncates every type
to the shortest and concatenates them in the given order, and builds the training targets.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from model.config import DataConfig
from model.losses import Targets
from model.spans import xx_to_cxw
from pipeline.store import FeatureFileError, load_features

log = logging.getLogger(__name__)


def read_annotations(path: str | Path) -> list[dict]:
    """Rows with qid, query, vid, duration and, for training, relevant_windows /
    relevant_clip_ids / saliency_scores (QVHighlights) or label (TVSum)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: annotation file not found")
    if path.suffix == ".parquet" or path.is_dir():
        rows = pq.read_table(path).to_pylist()
    else:
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    for number, row in enumerate(rows, 1):
        missing = {"qid", "query", "vid", "duration"} - set(row)
        if missing:
            raise ValueError(f"{path}: row {number} lacks {', '.join(sorted(missing))}")
    return rows


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-5)


def assemble_inputs(videos: list[np.ndarray], texts: list[np.ndarray], config: DataConfig):
    """Per-type features -> the model's (L, Dv) video and (N, Dt) text inputs: each type cut to
    the length limits, L2-normalised per row, all cut to the shortest, concatenated in order,
    plus the temporal encoding [t/L, (t+1)/L]."""
    videos = [v[: config.max_video_clips] for v in videos]
    texts = [t[: config.max_query_tokens] for t in texts]
    normalize_text = (
        config.normalize_video if config.normalize_text is None else config.normalize_text
    )
    if config.normalize_video:
        videos = [_normalize(v) for v in videos]
    if normalize_text:
        texts = [_normalize(t) for t in texts]
    clips, tokens = min(len(v) for v in videos), min(len(t) for t in texts)
    video = np.concatenate([v[:clips] for v in videos], axis=1)
    if config.temporal_encoding:
        start = np.arange(clips, dtype=np.float32) / clips
        video = np.concatenate([video, np.stack([start, start + 1.0 / clips], axis=1)], axis=1)
    return video.astype(np.float32), np.concatenate([t[:tokens] for t in texts], axis=1)


@dataclass
class Sample:
    qid: object
    vid: str
    duration: float
    video: np.ndarray  # (L, Dv)
    text: np.ndarray  # (N, Dt)
    row: dict


class MomentDataset(torch.utils.data.Dataset):
    """Samples of (video features, query features, targets) for one annotation file."""

    def __init__(self, rows, video_dirs, text_dirs, config: DataConfig, training: bool, seed=0):
        self.config = config
        self.video_dirs = [Path(d) for d in video_dirs]
        self.text_dirs = [Path(d) for d in text_dirs]
        self.training = training
        self.random = random.Random(seed)
        self.skipped: list[str] = []
        self.rows = [row for row in rows if self._usable(row)]
        if not self.rows:
            raise ValueError("no annotation row has all its feature files")

    def _usable(self, row: dict) -> bool:
        if not self.config.skip_missing_features:
            return True
        try:
            self._load(row)
            return True
        except FeatureFileError as error:
            log.warning("skipped qid %s: %s", row["qid"], error)
            self.skipped.append(str(error))
            return False

    def _load_types(self, row: dict) -> tuple[list[np.ndarray], list[np.ndarray]]:
        videos = [load_features(d / f"{row['vid']}.npz", "features") for d in self.video_dirs]
        texts = [
            load_features(d / f"qid{row['qid']}.npz", "last_hidden_state") for d in self.text_dirs
        ]
        return videos, texts

    def _load(self, row: dict) -> tuple[np.ndarray, np.ndarray]:
        return assemble_inputs(*self._load_types(row), self.config)

    def feature_widths(self) -> tuple[list[int], list[int]]:
        """The width of each video and each text feature type, in order (the first sample's)."""
        videos, texts = self._load_types(self.rows[0])
        return [v.shape[1] for v in videos], [t.shape[1] for t in texts]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Sample:
        row = self.rows[index]
        video, text = self._load(row)
        return Sample(row["qid"], row["vid"], float(row["duration"]), video, text, row)

    # Targets ------------------------------------------------------------------------------

    def span_target(self, row: dict, clips: int) -> torch.Tensor:
        """Windows in seconds -> (G, 2) (centre, width) normalised by clips x clip length."""
        windows = list(row.get("relevant_windows") or [])
        if len(windows) > self.config.max_windows:
            self.random.shuffle(windows)
            windows = windows[: self.config.max_windows]
        spans = torch.tensor(windows, dtype=torch.float32).reshape(-1, 2)
        return xx_to_cxw(spans / (clips * self.config.clip_length))

    def saliency_target(self, row: dict, clips: int):
        """(labels (L,), positive clip indices (2,), negative clip indices (2,))."""
        labels = self.config.labels
        if labels == "tvsum":
            scores = (np.asarray(row["label"], dtype=np.float32)[:clips] - 1).sum(1) / 80 * 12
            scores = np.pad(scores, (0, clips - len(scores)))
            return scores, [int(scores.argmax())] * 2, [int(scores.argmin())] * 2
        graded = labels == "qvhighlights" or self.config.use_synthetic_saliency
        if graded and row.get("relevant_clip_ids"):
            return self._graded_saliency(row, clips)
        return self._window_saliency(row, clips)

    def _graded_saliency(self, row: dict, clips: int):
        ids = list(row["relevant_clip_ids"])
        scores = [s if isinstance(s, list | tuple) else [s] for s in row["saliency_scores"]]
        totals = np.asarray(scores).sum(1)
        labels = np.zeros(clips, dtype=np.float32)
        for clip, total in zip(ids, totals, strict=True):
            if clip < clips:
                labels[clip] = total
        # numpy's default sort on the reference's dtype, as the reference: it is not stable
        # (SIMD sorts), and it decides which of tied clips is the hard positive / negative.
        order = np.argsort(totals)
        hard_pos, hard_neg = [min(ids[order[-1]], clips - 1)], [min(ids[order[0]], clips - 1)]
        # In the set's iteration order, as the reference, so that the same random state draws
        # the same clip (the draw is uniform either way).
        outside = list(set(range(clips)) - set(ids))
        if outside:
            easy_pos, easy_neg = [self.random.choice(ids)], [self.random.choice(outside)]
        else:
            easy_pos, easy_neg = hard_pos, hard_neg
        positives = [min(c, clips - 1) for c in hard_pos + easy_pos]
        return labels, positives, hard_neg + easy_neg

    def _window_saliency(self, row: dict, clips: int):
        window = row["relevant_windows"][0]
        clip_length = self.config.clip_length
        if self.config.window_clips_from_duration:
            clip_length = float(row["duration"]) / clips
        first = int(window[0] / clip_length)
        last = max(0, min(int(window[1] / clip_length), clips) - 1)
        first = min(first, last)
        inside = list(range(first, last + 1))
        positives = self.random.sample(inside, 2) if len(inside) >= 2 else [first, first]
        outside = list(range(0, first)) + list(range(last + 1, clips))
        negatives = self.random.sample(outside, 2) if len(outside) >= 2 else positives
        labels = np.zeros(clips, dtype=np.float32)
        labels[first : last + 1] = 1
        return labels, positives, negatives


@dataclass
class Batch:
    """Padded inputs (masks 1 = valid) and, when training, the targets."""

    samples: list[Sample]
    video: torch.Tensor  # (B, L, Dv)
    video_mask: torch.Tensor  # (B, L)
    text: torch.Tensor  # (B, N, Dt)
    text_mask: torch.Tensor  # (B, N)
    targets: Targets | None

    def inputs(self, device) -> dict[str, torch.Tensor]:
        return {
            "src_txt": self.text.to(device),
            "src_txt_mask": self.text_mask.to(device),
            "src_vid": self.video.to(device),
            "src_vid_mask": self.video_mask.to(device),
        }


def _pad(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(a) for a in arrays)
    values = torch.zeros(len(arrays), longest, arrays[0].shape[1])
    mask = torch.zeros(len(arrays), longest)
    for i, array in enumerate(arrays):
        values[i, : len(array)] = torch.from_numpy(array)
        mask[i, : len(array)] = 1
    return values, mask


def collate_inputs(samples: list[Sample]) -> Batch:
    """A batch without targets (prediction)."""
    video, video_mask = _pad([s.video for s in samples])
    text, text_mask = _pad([s.text for s in samples])
    return Batch(samples, video, video_mask, text, text_mask, None)


def make_collate(dataset: MomentDataset):
    """A collate function building targets with the dataset's labelling rules."""

    def collate(samples: list[Sample]) -> Batch:
        batch = collate_inputs(samples)
        if dataset.training:
            length = batch.video.shape[1]
            spans, labels, positives, negatives = [], [], [], []
            for sample in samples:
                clips = len(sample.video)
                spans.append(dataset.span_target(sample.row, clips))
                label, positive, negative = dataset.saliency_target(sample.row, clips)
                labels.append(np.pad(label, (0, length - clips)))
                positives.append(positive)
                negatives.append(negative)
            batch.targets = Targets(
                spans,
                torch.tensor(np.stack(labels)),
                torch.tensor(positives),
                torch.tensor(negatives),
            )
        return batch

    return collate
