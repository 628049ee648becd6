"""The synthetic pretraining set (Algorithm 1 of arXiv 2412.01558), for a folder of videos.

    report = generate(Path("videos"), Path("synth.parquet"), SynthSettings(model_size="tiny"))

Per video: probe, split into intervals, decode once (`synth.frames`), embed every clip frame for
phi in batches; the representative frames join a caption queue shared across videos and are
captioned in batches; a video whose intervals are all captioned is scored (its captions in one
text batch), labelled, filtered and written as one shard with the others completed by the same
caption batch (`synth.schema.ShardWriter`). When the captioner and phi have the same vision
tower (`share_vision_tower`), a representative that is also a clip frame joins the queue with
that frame's vision states, so the tower sees each frame once.

Videos already in the output are skipped. A bad video is recorded and the run goes on; a caption
that fails loses its row only, and its video still counts as done (a rerun does not retry it).
`{out}.summary.json` holds the report of the last run. Given the same inputs, models and seed,
the rows are the same whatever the batch sizes, and a resumed run gives the rows of an
uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from extractors.base import TextEncoder
from extractors.registry import PRECISIONS, SIZES, build_encoder
from pipeline.decode import prefetch
from pipeline.errors import VideoError
from pipeline.index import find_videos
from pipeline.probe import VideoInfo, probe, video_id_of
from pipeline.store import atomic_write_json, text_feature_path
from pipeline.store import write_text_features as store_text_features
from synth.caption import (
    Captioner,
    DecodingSettings,
    build_captioner,
    caption_each,
    same_vision_tower,
)
from synth.filters import FILTERS, MIN_WORDS, drop_reasons
from synth.frames import REPRESENTATIVES, ClipFrame, Representative, interval_frames
from synth.intervals import DEFAULT_INTERVAL, Interval, check_lengths, query_id, split_intervals
from synth.labels import LABELS, make_labels
from synth.schema import ShardWriter, read_rows, write_jsonl
from synth.score import SIMILARITIES, Scorer, build_scorer

TEXT_FEATURE_ENCODERS = ("clip", "blip2")


@dataclass(frozen=True)
class SynthSettings:
    """How the set is made. Validated on creation; `row_config` is what its rows depend on."""

    model_size: str = "full"
    device: str = "auto"
    precision: str = "auto"
    weights: Path | None = None
    random_weights: bool = False
    labels: str = "interval"
    interval: float = DEFAULT_INTERVAL
    clip_length: float = 2.0
    similarity: str = "blip2"
    representative: str = "middle"
    decoding: DecodingSettings = DecodingSettings()
    caption_batch_size: int = 16
    min_words: int = MIN_WORDS
    limit: int | None = None
    seed: int = 0

    def __post_init__(self):
        choices = {
            "model_size": SIZES,
            "labels": LABELS,
            "similarity": SIMILARITIES,
            "representative": REPRESENTATIVES,
            "precision": PRECISIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        check_lengths(self.interval, self.clip_length)
        if self.caption_batch_size < 1:
            raise ValueError(f"caption batch size must be positive, got {self.caption_batch_size}")
        if self.min_words < 0:
            raise ValueError(f"min_words must not be negative, got {self.min_words}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must not be negative, got {self.limit}")

    def row_config(self) -> dict:
        """The settings that shape the rows (not the device, batch size, limit or paths)."""
        return {
            "labels": self.labels,
            "interval": self.interval,
            "clip_length": self.clip_length,
            "similarity": self.similarity,
            "representative": self.representative,
            "decoding": self.decoding.as_dict(),
            "min_words": self.min_words,
            "precision": self.precision,
            "seed": self.seed,
        }


@dataclass
class Models:
    """The captioner, phi, and (for --text-features) the text encoders by store name.
    `shared_vision`: the captioner uses phi's vision tower (`share_vision_tower`)."""

    captioner: Captioner
    scorer: Scorer
    text_encoders: dict[str, TextEncoder] = field(default_factory=dict)
    shared_vision: bool = False


def share_vision_tower(captioner: Captioner, scorer: Scorer) -> bool:
    """Give the captioner phi's BLIP-2 vision tower when the two are the same (weights
    compared): one copy in memory, and a representative frame that is also a clip frame goes
    through it once instead of twice. Returns whether it is shared."""
    if scorer.name != "blip2":
        return False
    tower = scorer.encoder.module.vision_model
    if not same_vision_tower(captioner, tower):
        return False
    captioner.module.vision_model = tower
    return True


def load_models(settings: SynthSettings, text_features: bool = False) -> Models:
    """Build every model the settings need; raises WeightsNotFoundError when weights are
    missing."""
    common = {
        "size": settings.model_size,
        "weights": settings.weights,
        "device": settings.device,
        "random_weights": settings.random_weights,
        "seed": settings.seed,
        "precision": settings.precision,
    }
    captioner = build_captioner(decoding=settings.decoding, **common)
    scorer = build_scorer(settings.similarity, **common)
    shared = share_vision_tower(captioner, scorer)
    encoders = {}
    if text_features:
        for name in TEXT_FEATURE_ENCODERS:
            same = name == scorer.name
            encoders[name] = scorer.encoder if same else build_encoder(name, **common)
    return Models(captioner, scorer, encoders, shared)


def model_label(provenance: dict) -> str:
    """ "blip2-captioner:full:<sha256 prefix>" or "blip2:tiny:random-seed0"."""
    if provenance.get("weights") == "random":
        origin = f"random-seed{provenance.get('seed', 0)}"
    else:
        origin = str(provenance.get("sha256", "unknown"))[:12]
    return f"{provenance['encoder']}:{provenance['size']}:{origin}"


def config_hash(settings: SynthSettings, models: Models) -> str:
    """16 hex digits over the row settings and the identity of both models' weights."""
    record = {
        "settings": settings.row_config(),
        "captioner": model_label(models.captioner.provenance),
        "similarity_model": model_label(models.scorer.provenance),
        "decoding_in_use": models.captioner.decoding.as_dict(),
    }
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode())
    return digest.hexdigest()[:16]


@dataclass
class SynthReport:
    videos: int = 0  # found (after --limit)
    skipped: int = 0  # already complete in the output
    processed: int = 0  # completed by this run, with or without rows
    too_short: list[str] = field(default_factory=list)  # shorter than one interval: no rows
    intervals: int = 0  # intervals captioned by this run
    rows: int = 0  # written by this run
    rows_total: int = 0  # in the output after this run
    filtered: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FILTERS, 0))
    failures: dict[str, str] = field(default_factory=dict)  # video path -> reason
    caption_failures: dict[str, str] = field(default_factory=dict)  # qid -> reason
    text_feature_files: int = 0
    decode_seconds: float = 0.0  # decoding and phi image embeddings
    caption_seconds: float = 0.0
    score_seconds: float = 0.0  # phi text embeddings, labels, rows
    seconds: float = 0.0
    config_hash: str = ""
    shared_vision_tower: bool = False  # the captioner used phi's vision tower

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> bool:
        return bool(self.failures or self.caption_failures)

    def as_dict(self) -> dict:
        return asdict(self) | {"rows_per_second": self.rows_per_second}


@dataclass
class VideoJob:
    """One video between decoding and writing: phi image embeddings of every clip (L, Q, D)
    and, per interval, its frame time, then its caption or the reason it has none."""

    info: VideoInfo
    intervals: list[Interval]
    images: np.ndarray
    frame_times: dict[int, float]
    captions: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.captions) + len(self.errors) == len(self.intervals)


def decode_video(
    info: VideoInfo,
    intervals: list[Interval],
    scorer: Scorer,
    settings: SynthSettings,
    keep_vision_states: bool = False,
) -> tuple[np.ndarray, list[tuple[Representative, torch.Tensor | None]]]:
    """One decoding pass: phi embeddings of every clip frame (L, Q, D), embedded in the
    scorer's batches, and the representatives. With `keep_vision_states` (a vision tower
    shared with the captioner), a representative that is a clip frame of the same batch comes
    with that frame's vision states; otherwise with None."""
    pending: list[ClipFrame] = []
    parts, representatives = [], []

    def embed() -> None:
        frames = np.stack([clip.frame for clip in pending])
        chosen = [r for clip in pending for r in clip.representatives]
        if keep_vision_states:
            states = scorer.encoder.vision_states(frames)
            parts.append(scorer.encoder.embed_vision_states(states))
            row = {clip.index: i for i, clip in enumerate(pending)}
            # clone: a view would keep the whole batch's states alive in the caption queue
            kept = [states[row[r.clip]].clone() if r.clip in row else None for r in chosen]
        else:
            parts.append(scorer.image_embeddings(frames))
            kept = [None] * len(chosen)
        representatives.extend(zip(chosen, kept, strict=True))
        pending.clear()

    clips = prefetch(
        interval_frames(info, intervals, settings.clip_length, settings.representative)
    )
    total = info.num_clips(settings.clip_length)
    for clip in tqdm(clips, total=total, desc=info.video_id, leave=False):
        pending.append(clip)
        if len(pending) == scorer.batch_size:
            embed()
    if pending:
        embed()
    return np.concatenate(parts), representatives


def captioned(job: VideoJob) -> list[Interval]:
    """The job's intervals that have a caption, in order."""
    return [interval for interval in job.intervals if interval.index in job.captions]


def video_rows(
    job: VideoJob, phi: np.ndarray, settings: SynthSettings, meta: dict, dropped: Counter
) -> list:
    """Rows of a completed video: phi (M, L) holds its captioned intervals' similarities in
    interval order. Counts the video's filtered captions by reason in `dropped`."""
    intervals = captioned(job)
    captions = [job.captions[i.index] for i in intervals]
    if not intervals:
        return []
    rows = []
    for interval, caption, similarities, reason in zip(
        intervals, captions, phi, drop_reasons(captions, settings.min_words), strict=True
    ):
        if reason is not None:
            dropped[reason] += 1
            continue
        labels = make_labels(settings.labels, similarities, interval, settings.clip_length)
        rows.append(
            {
                "qid": query_id(job.info.video_id, interval),
                "query": caption,
                "vid": job.info.video_id,
                "duration": job.info.duration,
                "relevant_windows": [list(labels.window)],
                "relevant_clip_ids": list(labels.clip_ids),
                "saliency_scores": [[score] for score in labels.saliency],
                "interval_index": interval.index,
                "interval_start": interval.start,
                "interval_end": interval.end,
                "frame_time": job.frame_times[interval.index],
                "clip_similarities": similarities.tolist(),
                **meta,
            }
        )
    return rows


class Run:
    """The state of one `generate` call: the caption queue, the writer and the report."""

    def __init__(self, out: Path, settings: SynthSettings, models: Models, report: SynthReport):
        self.settings, self.models, self.report = settings, models, report
        self.writer = ShardWriter(out, report.config_hash)
        self.queue: list[tuple[VideoJob, int, np.ndarray, torch.Tensor | None]] = []
        self.jobs: list[VideoJob] = []
        self.finished_without_rows: list[str] = []
        self.meta = {
            "labels": settings.labels,
            "captioner": model_label(models.captioner.provenance),
            "similarity_model": model_label(models.scorer.provenance),
            "decoding": models.captioner.decoding.as_dict(),
            "config_hash": report.config_hash,
        }

    def add(self, path: Path) -> None:
        """Probe and decode one video, queue its frames, caption every full batch."""
        settings = self.settings
        try:
            info = probe(path)
            intervals = split_intervals(info.duration, settings.interval, settings.clip_length)
            if not intervals:
                self.report.too_short.append(info.video_id)
                self.finished_without_rows.append(info.video_id)
                return
            started = time.perf_counter()
            images, representatives = decode_video(
                info, intervals, self.models.scorer, settings, self.models.shared_vision
            )
            self.report.decode_seconds += time.perf_counter() - started
        except VideoError as error:
            self.report.failures[str(path)] = error.reason
            return
        job = VideoJob(info, intervals, images, {r.interval: r.time for r, _ in representatives})
        self.jobs.append(job)
        self.queue.extend((job, r.interval, r.frame, states) for r, states in representatives)
        while len(self.queue) >= self.settings.caption_batch_size:
            self.caption(self.settings.caption_batch_size)

    def caption(self, size: int) -> None:
        """Caption the first `size` queued frames, then write the videos that completes."""
        batch, self.queue = self.queue[:size], self.queue[size:]
        started = time.perf_counter()
        frames = np.stack([frame for _, _, frame, _ in batch])
        states = [states for _, _, _, states in batch]
        results = caption_each(self.models.captioner, frames, states)
        self.report.caption_seconds += time.perf_counter() - started
        for (job, index, _, _), result in zip(batch, results, strict=True):
            self.report.intervals += 1
            if isinstance(result, Exception):
                job.errors[index] = f"captioning failed: {result}"
                qid = query_id(job.info.video_id, job.intervals[index])
                self.report.caption_failures[qid] = job.errors[index]
            else:
                job.captions[index] = result
        self.write([job for job in self.jobs if job.complete])

    def write(self, completed: list[VideoJob]) -> None:
        """Score, label and filter completed videos; write them as one shard."""
        started = time.perf_counter()
        self.jobs = [job for job in self.jobs if not job.complete]
        rows, dropped = [], {}
        for job in completed:
            # One text batch per video: a row never depends on which videos shared a batch.
            captions = [job.captions[i.index] for i in captioned(job)]
            phi = self.models.scorer.score(job.images, captions) if captions else None
            reasons = Counter({"captioning_failed": len(job.errors)} if job.errors else {})
            rows.extend(video_rows(job, phi, self.settings, self.meta, reasons))
            for reason in FILTERS:
                self.report.filtered[reason] += reasons[reason]
            if reasons:
                dropped[job.info.video_id] = dict(reasons)
        videos = [job.info.video_id for job in completed] + self.finished_without_rows
        self.writer.write(rows, videos, dropped)
        self.report.rows += len(rows)
        self.report.processed += len(videos)
        self.finished_without_rows = []
        self.report.score_seconds += time.perf_counter() - started

    def finish(self) -> None:
        while self.queue:
            self.caption(self.settings.caption_batch_size)
        self.write([job for job in self.jobs if job.complete])


def write_text_features(table, root: Path, encoders: dict[str, TextEncoder], batch_size=64) -> int:
    """Token-level CLIP and BLIP-2 features of every caption in `table` whose file is missing,
    in `pipeline.store`'s layout (`{root}/clip_text_features/qid{qid}.npz`, ...)."""
    written = 0
    rows = table.select(["qid", "query"]).to_pylist()
    for name, encoder in encoders.items():
        todo = [row for row in rows if not text_feature_path(root, name, row["qid"]).is_file()]
        for start in tqdm(range(0, len(todo), batch_size), desc=f"{name} text", leave=False):
            batch = todo[start : start + batch_size]
            features = encoder.encode_texts([row["query"] for row in batch])
            for row, feature in zip(batch, features, strict=True):
                store_text_features(root, name, row["qid"], feature.tokens, feature.pooled)
                written += 1
    return written


def summary_path(out: Path) -> Path:
    """`{out}.summary.json`, beside the output folder."""
    return out.with_name(out.name + ".summary.json")


def generate(
    videos: Path,
    out: Path,
    settings: SynthSettings,
    jsonl: Path | None = None,
    text_features: Path | None = None,
    models: Models | None = None,
) -> SynthReport:
    """Make (or complete) the synthetic set of every video under `videos` in the folder `out`.
    `models` defaults to `load_models(settings)`; pass them to reuse loaded models."""
    started = time.perf_counter()
    paths = find_videos(videos)
    if settings.limit is not None:
        paths = paths[: settings.limit]
    models = models or load_models(settings, text_features is not None)
    if text_features is not None and not models.text_encoders:
        raise ValueError("text features need the models' text encoders (load_models(..., True))")
    report = SynthReport(
        videos=len(paths),
        config_hash=config_hash(settings, models),
        shared_vision_tower=models.shared_vision,
    )
    run = Run(Path(out), settings, models, report)
    progress = tqdm(paths, desc="videos", unit="video")
    for path in progress:
        if video_id_of(path) in run.writer.done:
            report.skipped += 1
            continue
        run.add(path)
        progress.set_postfix(rows=report.rows, refresh=False)
    run.finish()
    report.rows_total = run.writer.rows
    if jsonl is not None or text_features is not None:
        table = read_rows(out)
        if jsonl is not None:
            write_jsonl(table, jsonl)
        if text_features is not None:
            report.text_feature_files = write_text_features(
                table, Path(text_features), models.text_encoders
            )
    report.seconds = time.perf_counter() - started
    atomic_write_json(summary_path(Path(out)), report.as_dict())
    return report
