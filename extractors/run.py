"""The extraction run: decode each video once, feed every encoder in batches, store features.

    report = extract(Path("videos"), Path("features"), ExtractSettings(encoders=("clip",)))

Outputs follow `pipeline.store`'s layout; `{out}/manifest.parquet` records every video's status
and `{out}/provenance/{run}.json` the settings, weights and versions of each run. A rerun skips
videos whose features all exist and load; a bad video is recorded and the run goes on. The folder
is bound to the settings that made its features (`extractors.feature_folder`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from extractors.base import TextEncoder, VideoEncoder
from extractors.feature_folder import bind as bind_feature_folder
from extractors.registry import ENCODERS, PRECISIONS, build_encoder
from pipeline.decode import decode_clips, prefetch
from pipeline.errors import VideoError
from pipeline.index import MANIFEST_SCHEMA, find_videos, probe_row, update_manifest
from pipeline.lock import hold
from pipeline.plans import PRESETS, make_plan
from pipeline.probe import VideoInfo
from pipeline.store import (
    FeatureFileError,
    atomic_write_json,
    load_features,
    load_video_features,
    lock_path,
    text_feature_path,
    video_feature_path,
    write_text_features,
    write_video_features,
)

log = logging.getLogger(__name__)

PACKAGES = (
    "videolights-pipeline",
    "torch",
    "open_clip_torch",
    "pytorchvideo",
    "transformers",
    "av",
)


@dataclass(frozen=True)
class ExtractSettings:
    """What to extract and how. Validated on creation."""

    encoders: tuple[str, ...] = ("clip", "slowfast")
    model_size: str = "full"
    preset: str = "default"
    clip_length: float = 2.0
    device: str = "auto"
    precision: str = "auto"
    weights: Path | None = None
    random_weights: bool = False
    seed: int = 0
    verify_weights: bool = False  # hash every weight file, not only compare sizes and times

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        unknown = set(self.encoders) - set(ENCODERS)
        if unknown or not self.encoders:
            raise ValueError(f"encoders must be among {', '.join(ENCODERS)}, got {self.encoders}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}, got {self.preset!r}")
        if self.clip_length <= 0:
            raise ValueError(f"clip length must be positive, got {self.clip_length}")


@dataclass
class ExtractReport:
    videos: int = 0
    extracted: int = 0
    skipped: int = 0
    clips: int = 0
    text_files: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    # video id -> the run whose stale lock on it was taken over (it ended mid-video)
    locks_taken_over: dict[str, str] = field(default_factory=dict)
    decode_seconds: float = 0.0
    encode_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def clips_per_second(self) -> float:
        return self.clips / self.seconds if self.seconds else 0.0


def load_encoders(settings: ExtractSettings) -> dict[str, VideoEncoder]:
    return {
        name: build_encoder(
            name,
            settings.model_size,
            settings.weights,
            settings.device,
            settings.random_weights,
            settings.seed,
            settings.precision,
            settings.verify_weights,
        )
        for name in settings.encoders
    }


def features_done(out: Path, vid: str, encoders: dict[str, VideoEncoder]) -> bool:
    """Every encoder's file of this video exists, loads, and has the encoder's width."""
    for name, encoder in encoders.items():
        try:
            if load_video_features(video_feature_path(out, name, vid)).shape[1] != encoder.dim:
                return False
        except FeatureFileError:
            return False
    return True


def encode_video(
    info: VideoInfo, encoders: dict[str, VideoEncoder], settings, report, on_clip=None
) -> dict:
    """Decode once and run every encoder in batches: name -> (L, D) features. `on_clip()`, if
    given, is called as each clip is decoded (progress for a caller that shows it)."""
    plans = {}
    for encoder in encoders.values():
        key = (encoder.plan_kind, encoder.spec)
        if key not in plans:
            plans[key] = make_plan(
                encoder.plan_kind,
                info,
                settings.preset,
                settings.clip_length,
                encoder.spec,
                name=f"{encoder.plan_kind}-{len(plans)}",
            )
    plan_of = {name: plans[(e.plan_kind, e.spec)].name for name, e in encoders.items()}
    pending = {name: [] for name in encoders}
    rows = {name: [] for name in encoders}

    def flush(name: str) -> None:
        started = time.perf_counter()
        rows[name].append(encoders[name].encode_clips(np.stack(pending[name])))
        report.encode_seconds += time.perf_counter() - started
        pending[name].clear()

    clips = prefetch(decode_clips(info.path, list(plans.values()), info))
    progress = tqdm(total=info.num_clips(settings.clip_length), desc=info.video_id, leave=False)
    started = time.perf_counter()
    for clip in clips:
        report.decode_seconds += time.perf_counter() - started
        for name, encoder in encoders.items():
            pending[name].append(clip.frames[plan_of[name]])
            if len(pending[name]) == encoder.batch_size:
                flush(name)
        progress.update()
        if on_clip is not None:
            on_clip()
        started = time.perf_counter()
    progress.close()
    for name in encoders:
        if pending[name]:
            flush(name)
    return {name: np.concatenate(parts) for name, parts in rows.items()}


def extract_video(
    path: Path, out: Path, encoders, settings, report, run: str, overwrite=False
) -> dict:
    """Extract one video unless done (or `overwrite`); returns its manifest row (never raises
    VideoError). The video's lock keeps any other run (or shard) from writing its files
    meanwhile: one that holds it is waited for, and then finds the video done."""
    row, info = probe_row(path, settings.clip_length)
    if info is None:
        report.failures[str(path)] = row["error"]
        return row
    with hold(lock_path(out, row["video_id"]), run) as stale:
        if stale:
            report.locks_taken_over[row["video_id"]] = stale["run"]
        if not overwrite and features_done(out, row["video_id"], encoders):
            report.skipped += 1
            return row
        try:
            features = encode_video(info, encoders, settings, report)
        except VideoError as error:
            report.failures[str(path)] = error.reason
            return row | {"status": "failed", "error": error.reason}
        for name, array in features.items():
            write_video_features(out, name, row["video_id"], array)
    report.extracted += 1
    report.clips += row["num_clips"]
    return row


def read_queries(path: Path) -> list[dict]:
    """QVHighlights-style JSONL: one {"qid", "query", ...} per line."""
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if (
                not isinstance(row, dict)
                or "qid" not in row
                or not isinstance(row.get("query"), str)
            ):
                raise ValueError(f"{path}:{number}: a query needs 'qid' and a 'query' string")
            queries.append(row)
    return queries


def extract_text(
    queries: list[dict], out: Path, encoders: dict, run: str, batch_size: int = 64, overwrite=False
) -> int:
    """Token-level text features of every query not yet written (every query when
    `overwrite`); returns how many were written."""
    written = 0
    for name, encoder in encoders.items():
        if not isinstance(encoder, TextEncoder):
            continue
        with hold(lock_path(out, f"text-{name}"), run):
            todo = [q for q in queries if overwrite or not _text_done(out, name, q["qid"])]
            for start in tqdm(range(0, len(todo), batch_size), desc=f"{name} text", leave=False):
                batch = todo[start : start + batch_size]
                for query, features in zip(
                    batch, encoder.encode_texts([q["query"] for q in batch]), strict=True
                ):
                    write_text_features(out, name, query["qid"], features.tokens, features.pooled)
                    written += 1
    return written


def _text_done(out: Path, name: str, qid) -> bool:
    try:
        load_features(text_feature_path(out, name, qid), "last_hidden_state")
        return True
    except FeatureFileError:
        return False


def versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def extract(
    videos: Path,
    out: Path,
    settings: ExtractSettings,
    queries: Path | None = None,
    overwrite: bool = False,
) -> ExtractReport:
    """Extract features of every video under `videos` (and of `queries`) into `out`. Raises
    FeatureFolderMismatch when `out` holds features made with other settings, unless
    `overwrite`, which extracts everything again."""
    started = time.perf_counter()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    paths = find_videos(videos)
    query_rows = read_queries(queries) if queries else []
    encoders = load_encoders(settings)
    bind_feature_folder(out, settings, overwrite)
    report = ExtractReport(videos=len(paths))
    rows = [
        extract_video(path, out, encoders, settings, report, run_id, overwrite)
        for path in tqdm(paths, desc="videos", unit="video")
    ]
    update_manifest(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), out, run_id)
    report.text_files = extract_text(query_rows, out, encoders, run_id, overwrite=overwrite)
    report.seconds = time.perf_counter() - started
    atomic_write_json(
        out / "provenance" / f"{run_id}.json",
        {
            "run": run_id,
            "settings": {
                k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()
            },
            "encoders": {name: encoder.provenance for name, encoder in encoders.items()},
            "preset": settings.preset,
            "versions": versions(),
            "report": asdict(report),
        },
    )
    return report
