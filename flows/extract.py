"""The `extract` flow: videos (a folder, one file, or a manifest) to features, a task a shard.

    prefect deployment run extract/extract --param videos=DIR --watch

Thin over `extractors.run`: a shard task extracts its videos with `extract_video`, with the
encoders loaded once per worker process, and returns manifest rows and counts. Features go to
disk through `pipeline.store`, never into Prefect's result store, and the flow returns paths.
The flow writes the manifest and the provenance record as `extractors.run.extract` does, shows a
progress artifact while shards finish and a summary table at the end. A corrupt video is
recorded (manifest, summary, failures table); it neither fails the run nor causes a retry.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run
from pydantic import BaseModel

from extractors import weights as weight_files
from extractors.feature_folder import bind as bind_feature_folder
from extractors.registry import uses_random_weights
from extractors.run import (
    ExtractReport,
    ExtractSettings,
    extract_text,
    extract_video,
    load_encoders,
    read_queries,
    versions,
)
from flows.models import loaded_once
from flows.params import (
    WORK,
    Device,
    ExistingPath,
    ModelSize,
    OutPath,
    PositiveFloat,
    PositiveInt,
    Precision,
    VideoEncoderName,
)
from flows.retries import RETRY_OPTIONS
from flows.runners import task_runner_from_environment
from pipeline.index import MANIFEST_SCHEMA, find_videos, read_manifest, update_manifest
from pipeline.plans import PRESETS
from pipeline.store import TEXT_FOLDERS, VIDEO_FOLDERS, atomic_write_json


def encoders_for(settings: ExtractSettings) -> dict:
    return loaded_once("extract", settings, lambda: load_encoders(settings))


@dataclass
class ShardResult:
    """What a shard sends back: manifest rows, counts and where the weights came from."""

    rows: list[dict]
    report: ExtractReport
    provenance: dict = field(default_factory=dict)


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def extract_shard(
    paths: list[Path], out: Path, settings: ExtractSettings, run: str, overwrite: bool = False
) -> ShardResult:
    """Extract the videos of one shard; a rerun after a transient failure skips the videos
    already written (unless `overwrite`). `run` (the flow run's id) is what the videos' locks
    name."""
    encoders = encoders_for(settings)
    report = ExtractReport(videos=len(paths))
    rows = [extract_video(path, out, encoders, settings, report, run, overwrite) for path in paths]
    provenance = {name: encoder.provenance for name, encoder in encoders.items()}
    return ShardResult(rows, report, provenance)


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def extract_text_features(
    rows: list[dict], out: Path, settings: ExtractSettings, run: str, overwrite: bool = False
) -> int:
    """Token-level features of queries ({"qid", "query"} rows) not yet written (all of them
    when `overwrite`); returns how many files were written."""
    return extract_text(rows, out, encoders_for(settings), run, overwrite=overwrite)


class ExtractRun(BaseModel):
    """The result of an `extract` run: where everything is, and what happened."""

    out: Path
    manifest: Path
    provenance: Path
    video_feature_dirs: list[Path]
    text_feature_dirs: list[Path]
    videos: int
    extracted: int
    skipped: int
    clips: int
    text_files: int
    failures: dict[str, str]
    seconds: float
    clips_per_second: float


def extract_settings(encoders, model_size, device, weights, **others) -> ExtractSettings:
    """The library's settings (validated on creation) from the flow's parameters."""
    return ExtractSettings(
        encoders=tuple(encoders),
        model_size=model_size,
        device=device,
        weights=weights,
        **others,
    )


def check_weights(settings: ExtractSettings) -> None:
    """Fail before any work when real weights are needed and missing (a usage error)."""
    if uses_random_weights(settings.model_size, settings.weights, settings.random_weights):
        return
    for name in settings.encoders:
        weight_files.resolve(name, settings.weights)


def video_paths(videos: Path) -> list[Path]:
    """The videos of a folder, one video, or a manifest (`videolights probe`'s Parquet)."""
    if videos.suffix == ".parquet":
        return [Path(path) for path in read_manifest(videos).column("path").to_pylist()]
    return find_videos(videos)


def shards_of(paths: list[Path], size: int) -> list[list[Path]]:
    return [paths[start : start + size] for start in range(0, len(paths), size)]


def merge(results: list[ShardResult]) -> ExtractReport:
    total = ExtractReport()
    for result in results:
        for name in ("videos", "extracted", "skipped", "clips"):
            setattr(total, name, getattr(total, name) + getattr(result.report, name))
        total.decode_seconds += result.report.decode_seconds
        total.encode_seconds += result.report.encode_seconds
        total.failures.update(result.report.failures)
        total.locks_taken_over.update(result.report.locks_taken_over)
    return total


def run_shards(
    shards: list[list[Path]], out: Path, settings: ExtractSettings, run: str, overwrite=False
) -> tuple:
    """Submit every shard; collect results as they finish, updating the progress artifact.
    A shard that fails for good does not stop the others; the run raises after recording."""
    progress = create_progress_artifact(
        0.0 if shards else 100.0, description=f"extract: {len(shards)} shards"
    )
    futures = [extract_shard.submit(shard, out, settings, run, overwrite) for shard in shards]
    results, errors = [], []
    for done, future in enumerate(as_completed(futures), start=1):
        try:
            results.append(future.result())
        except Exception as error:  # recorded below, raised after the manifest is written
            errors.append(error)
        update_progress_artifact(progress, 100.0 * done / len(shards))
    return results, errors


def feature_dirs(out: Path, encoders: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    """The video and text feature folders of `encoders` under `out` (`pipeline.store`'s
    layout), in the order given, which is the order the model concatenates them in."""
    video = [out / VIDEO_FOLDERS[name] for name in encoders]
    text = [out / TEXT_FOLDERS[name] for name in encoders if name in TEXT_FOLDERS]
    return video, text


def summarise(report: ExtractReport) -> None:
    create_table_artifact(
        [
            {
                "videos": report.videos,
                "extracted": report.extracted,
                "already done": report.skipped,
                "failed": len(report.failures),
                "clips": report.clips,
                "text files": report.text_files,
                "seconds": round(report.seconds, 1),
                "clips/s": round(report.clips_per_second, 2),
            }
        ],
        key="extract-summary",
        description="The extraction run: videos, clips, failures, clips/s.",
    )
    if report.failures:
        create_table_artifact(
            [{"video": path, "reason": reason} for path, reason in report.failures.items()],
            key="extract-failures",
            description="Videos that could not be used, with the reason.",
        )


@flow(
    name="extract",
    task_runner=task_runner_from_environment(),
    persist_result=True,
    result_serializer="json",
)
def extract(
    videos: ExistingPath,
    out: OutPath = WORK / "features",
    encoders: tuple[VideoEncoderName, ...] = ("clip", "slowfast"),
    queries: tuple[ExistingPath, ...] = (),
    model_size: ModelSize = "full",
    device: Device = "auto",
    precision: Precision = "auto",
    weights: ExistingPath | None = None,
    preset: Literal[PRESETS] = "default",
    clip_length: PositiveFloat = 2.0,
    shard_size: PositiveInt = 4,
    seed: int = 0,
    overwrite: bool = False,
    verify_weights: bool = False,
) -> ExtractRun:
    """Decode each video of `videos` (a folder, a video, or a manifest .parquet) once and
    write per-clip features of every encoder, and token features of the `queries` files
    (QVHighlights-style JSONL), in the released QVHighlights layout. `out` is bound to the
    settings that made its features: other settings fail before any work, unless `overwrite`
    (which extracts everything again). `verify_weights` hashes every weight file."""
    started = time.perf_counter()
    settings = extract_settings(
        encoders,
        model_size,
        device,
        weights,
        precision=precision,
        preset=preset,
        clip_length=clip_length,
        seed=seed,
        verify_weights=verify_weights,
    )
    check_weights(settings)
    bind_feature_folder(out, settings, overwrite)
    paths = video_paths(videos)
    query_rows = list({row["qid"]: row for path in queries for row in read_queries(path)}.values())
    run = str(flow_run.id)
    text = (
        extract_text_features.submit(query_rows, out, settings, run, overwrite)
        if query_rows
        else None
    )
    results, errors = run_shards(shards_of(paths, shard_size), out, settings, run, overwrite)
    rows = pa.Table.from_pylist([row for r in results for row in r.rows], schema=MANIFEST_SCHEMA)
    manifest = update_manifest(rows, out, run)
    report = merge(results)
    report.text_files = text.result() if text else 0
    report.seconds = time.perf_counter() - started
    provenance = record_provenance(out, settings, results, report)
    summarise(report)
    if errors:
        raise RuntimeError(f"{len(errors)} of the shards failed; the first: {errors[0]!r}")
    for path, reason in report.failures.items():
        get_run_logger().warning("failed: %s: %s", path, reason)
    video_dirs, text_dirs = feature_dirs(out, settings.encoders)
    return ExtractRun(
        out=out,
        manifest=manifest,
        provenance=provenance,
        video_feature_dirs=video_dirs,
        text_feature_dirs=text_dirs,
        videos=report.videos,
        extracted=report.extracted,
        skipped=report.skipped,
        clips=report.clips,
        text_files=report.text_files,
        failures=report.failures,
        seconds=report.seconds,
        clips_per_second=report.clips_per_second,
    )


def record_provenance(out, settings, results, report) -> Path:
    """The same record `extractors.run.extract` writes: settings, weights, versions, report."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    encoders = {}
    for result in results:
        encoders.update(result.provenance)
    return atomic_write_json(
        out / "provenance" / f"{run_id}.json",
        {
            "run": run_id,
            "settings": {
                k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()
            },
            "encoders": encoders,
            "preset": settings.preset,
            "versions": versions(),
            "report": asdict(report),
        },
    )
