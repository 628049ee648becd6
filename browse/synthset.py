"""A synthetic set, indexed for paging: one small summary per video in memory, rows on demand.

Opening reads a few scalar columns of every shard and each shard's footer (which lists the
videos it completes, with or without rows); a video's page reads only its own shard, filtered
to its rows. So a page costs the same for ten videos or ten thousand.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipeline.grid import DEFAULT_CLIP_LENGTH, num_clips
from synth.intervals import num_intervals
from synth.schema import SCHEMA, shard_dropped, shard_metadata, shard_paths

SUMMARY_COLUMNS = ["vid", "duration", "interval_start", "interval_end"]


@dataclass(frozen=True)
class VideoSummary:
    vid: str
    duration: float
    intervals: int  # whole intervals of the video: the captions asked for
    rows: int  # the rows kept
    note: str = ""  # why a video has no rows
    reasons: tuple[tuple[str, int], ...] = ()  # intervals without a row, by reason

    @property
    def dropped(self) -> int:
        return self.intervals - self.rows


def clip_length_of(duration: float, clips: int) -> float:
    """The clip length that gives `clips` clips to a `duration` s video on the project's grid."""
    for length in (DEFAULT_CLIP_LENGTH, 1.0):
        if num_clips(duration, length) == clips:
            return length
    return duration / max(clips, 1)


class SynthSet:
    def __init__(self, folder: Path):
        self.folder = folder
        self.shard_of: dict[str, Path] = {}
        self.dropped: dict[str, dict[str, int]] = {}
        paths = shard_paths(folder)
        for path in paths:
            videos, _ = shard_metadata(path)
            self.shard_of.update(dict.fromkeys(videos, path))
            self.dropped.update(shard_dropped(path))
        shards = ds.dataset([str(path) for path in paths], schema=SCHEMA, format="parquet")
        table = shards.to_table(columns=SUMMARY_COLUMNS)
        interval = pc.subtract(table["interval_end"], table["interval_start"])
        table = table.append_column("interval", interval)
        grouped = table.group_by("vid").aggregate(
            [("duration", "max"), ("interval", "max"), ("vid", "count")]
        )
        self.summary = self._summaries(grouped)
        self.vids = sorted(self.shard_of)
        self.report = self._report(folder)

    @staticmethod
    def _summaries(grouped: pa.Table) -> dict[str, VideoSummary]:
        columns = {name: grouped[name].to_pylist() for name in grouped.column_names}
        return {
            vid: VideoSummary(vid, duration, num_intervals(duration, interval), rows)
            for vid, duration, interval, rows in zip(
                columns["vid"],
                columns["duration_max"],
                columns["interval_max"],
                columns["vid_count"],
                strict=True,
            )
        }

    @staticmethod
    def _report(folder: Path) -> dict:
        """The run's summary (`{folder}.summary.json`): filtered rows by reason, failures."""
        path = folder.with_name(folder.name + ".summary.json")
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    def __len__(self) -> int:
        return len(self.vids)

    def video_summary(self, vid: str) -> VideoSummary:
        """A completed video; one without rows has no duration here, and a note saying why."""
        reasons = tuple(sorted(self.dropped.get(vid, {}).items()))
        if vid in self.summary:
            return replace(self.summary[vid], reasons=reasons)
        if vid in self.report.get("too_short", ()):
            return VideoSummary(vid, math.nan, 0, 0, "shorter than one interval")
        intervals = sum(n for _, n in reasons)
        return VideoSummary(vid, math.nan, intervals, 0, "every caption dropped", reasons)

    def page(self, number: int, size: int) -> list[VideoSummary]:
        return [self.video_summary(vid) for vid in self.vids[number * size : (number + 1) * size]]

    def rows(self, vid: str) -> list[dict]:
        """The video's rows in interval order; KeyError for a video not in the set."""
        table = pq.read_table(self.shard_of[vid], filters=[("vid", "=", vid)], schema=SCHEMA)
        return sorted(table.to_pylist(), key=lambda row: row["interval_index"])
