"""The `synth` flow: the synthetic pretraining set of a folder of videos (Algorithm 1).

    prefect deployment run synth/synth --param videos=DIR --param out=work/synth --watch

Thin over `synth.generate.generate`, which batches captions across videos, writes whole videos
per Parquet shard and skips the videos already in the output. The flow calls it on a growing
prefix of the sorted video list (`settings.limit`, which does not change the rows), `step`
videos more each time, with the models loaded once; between calls it updates the progress
artifact. A retry after a transient error resumes where the output stops. The summary beside
the output (`{out}.summary.json`) and the summary table cover the whole run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from prefect import flow, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from flows.models import loaded_once
from flows.params import (
    WORK,
    AbsolutePath,
    Device,
    ExistingPath,
    ModelSize,
    OutPath,
    PositiveFloat,
    PositiveInt,
    Precision,
)
from flows.retries import RETRY_OPTIONS
from pipeline.index import find_videos
from pipeline.store import atomic_write_json
from synth.generate import SynthReport, SynthSettings, generate, load_models, summary_path
from synth.labels import LABELS

LabelStrategy = Literal[LABELS]


class SynthRun(BaseModel):
    """Where the set is (Parquet shards, JSONL, caption text features) and what happened."""

    out: Path
    jsonl: Path | None
    text_features: Path | None
    summary: Path
    videos: int
    rows: int
    rows_total: int
    failures: dict[str, str]
    seconds: float


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def generate_prefix(videos, out, settings, jsonl, text_features, text_encoders) -> SynthReport:
    """`generate` over the first `settings.limit` videos, with this process's models (with
    the text encoders when the run, in its last call, writes caption text features)."""
    key = (dataclasses.replace(settings, limit=None), text_encoders)
    models = loaded_once("synth", key, lambda: load_models(settings, text_encoders))
    return generate(videos, out, settings, jsonl, text_features, models)


SUMMED = (
    "processed",
    "intervals",
    "rows",
    "text_feature_files",
    "decode_seconds",
    "caption_seconds",
    "score_seconds",
    "seconds",
)


def merge(reports: list[SynthReport]) -> SynthReport:
    """One report for the run from the reports of its `generate` calls."""
    total = SynthReport(config_hash=reports[-1].config_hash, rows_total=reports[-1].rows_total)
    total.videos = reports[-1].videos
    for report in reports:
        for name in SUMMED:
            setattr(total, name, getattr(total, name) + getattr(report, name))
        for reason, count in report.filtered.items():
            total.filtered[reason] += count
        total.too_short += report.too_short
        total.failures |= report.failures
        total.caption_failures |= report.caption_failures
    total.skipped = total.videos - total.processed - len(total.failures)
    return total


def summarise(report: SynthReport) -> None:
    create_table_artifact(
        [
            {
                "videos": report.videos,
                "already done": report.skipped,
                "intervals": report.intervals,
                "rows": report.rows,
                "rows in the set": report.rows_total,
                "filtered": sum(report.filtered.values()),
                "failed videos": len(report.failures),
                "failed captions": len(report.caption_failures),
                "seconds": round(report.seconds, 1),
                "rows/s": round(report.rows_per_second, 2),
            }
        ],
        key="synth-summary",
        description="The synthetic set run: videos, rows, filters, failures, rows/s.",
    )
    failures = report.failures | report.caption_failures
    if failures:
        create_table_artifact(
            [{"video or query": name, "reason": reason} for name, reason in failures.items()],
            key="synth-failures",
            description="Videos and captions that gave no rows, with the reason.",
        )


@flow(name="synth", persist_result=True, result_serializer="json")
def synth(
    videos: ExistingPath,
    out: OutPath = WORK / "synth",
    model_size: ModelSize = "full",
    device: Device = "auto",
    precision: Precision = "auto",
    weights: ExistingPath | None = None,
    labels: LabelStrategy = "interval",
    interval: PositiveFloat = 10.0,
    limit: PositiveInt | None = None,
    jsonl: AbsolutePath | None = None,
    text_features: AbsolutePath | None = None,
    step: PositiveInt = 16,
    seed: int = 0,
) -> SynthRun:
    """Caption every `interval` seconds of each video and label its clips; the rows go to
    the Parquet folder `out` (and to `jsonl`, with the captions' token features under
    `text_features` when given)."""
    settings = SynthSettings(
        model_size=model_size,
        device=device,
        precision=precision,
        weights=weights,
        labels=labels,
        interval=interval,
        limit=limit,
        seed=seed,
    )
    total = len(find_videos(videos)[:limit])
    progress = create_progress_artifact(0.0, description=f"synth: {total} videos")
    reports = []
    for upto in [*range(step, total, step), total]:
        last = upto == total
        reports.append(
            generate_prefix(
                videos,
                out,
                dataclasses.replace(settings, limit=upto),
                jsonl if last else None,
                text_features if last else None,
                text_features is not None,
            )
        )
        update_progress_artifact(progress, 100.0 * upto / max(total, 1))
    report = merge(reports)
    summary = atomic_write_json(summary_path(out), report.as_dict())
    summarise(report)
    return SynthRun(
        out=out,
        jsonl=jsonl,
        text_features=text_features,
        summary=summary,
        videos=report.videos,
        rows=report.rows,
        rows_total=report.rows_total,
        failures=report.failures | report.caption_failures,
        seconds=report.seconds,
    )
