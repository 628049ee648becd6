"""The synthetic set on disk: an explicit pyarrow schema, and a resumable writer.

The output is a folder of Parquet shards, `{out}/part-000000.parquet`, `part-000001...`, one row
group each, readable as one table (`read_rows`, or `pyarrow.parquet.read_table(out)`). A shard
is written under a temporary name and renamed into place (`pipeline.store.atomic_write`), and it
holds only whole videos, so an interruption loses the videos in flight and never a written row.
Each shard's footer metadata lists the videos it completes (including those that ended with no
rows) and the config hash; a rerun skips those videos and refuses an output made with another
configuration.

Rows follow the QVHighlights annotation schema (the first seven columns; `saliency_scores`
holds one single-annotator list [s] per relevant clip), plus where each row came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.store import atomic_write, atomic_write_text

SCHEMA_VERSION = "1"
SHARD_PREFIX = "part-"
VIDEOS_KEY = b"videolights.synth.videos"
HASH_KEY = b"videolights.synth.config_hash"
DROPPED_KEY = b"videolights.synth.dropped"  # {vid: {reason: intervals}}, videos with drops only


def _list(value_type: pa.DataType) -> pa.DataType:
    """Parquet names a list's child `element`; naming it so makes the schema round-trip."""
    return pa.list_(pa.field("element", value_type))


DECODING_TYPE = pa.struct(
    [
        ("num_beams", pa.int32()),
        ("min_new_tokens", pa.int32()),
        ("max_new_tokens", pa.int32()),
    ]
)

SCHEMA = pa.schema(
    [
        # The QVHighlights annotation fields.
        pa.field("qid", pa.string(), nullable=False),  # "{vid}_{start}_{end}"
        pa.field("query", pa.string(), nullable=False),  # the caption
        pa.field("vid", pa.string(), nullable=False),
        pa.field("duration", pa.float64(), nullable=False),  # the video's, seconds
        pa.field("relevant_windows", _list(_list(pa.float64())), nullable=False),  # [[st, ed]]
        pa.field("relevant_clip_ids", _list(pa.int32()), nullable=False),
        pa.field("saliency_scores", _list(_list(pa.float32())), nullable=False),  # [[s], ...]
        # Where the row came from.
        pa.field("interval_index", pa.int32(), nullable=False),
        pa.field("interval_start", pa.float64(), nullable=False),
        pa.field("interval_end", pa.float64(), nullable=False),
        pa.field("frame_time", pa.float64(), nullable=False),  # the captioned frame, seconds
        pa.field("clip_similarities", _list(pa.float32()), nullable=False),  # phi, every clip
        pa.field("labels", pa.string(), nullable=False),  # "interval" | "similarity"
        pa.field("captioner", pa.string(), nullable=False),
        pa.field("similarity_model", pa.string(), nullable=False),
        pa.field("decoding", DECODING_TYPE, nullable=False),
        pa.field("config_hash", pa.string(), nullable=False),
    ],
    metadata={b"videolights.synth.schema": SCHEMA_VERSION.encode()},
)

QVHIGHLIGHTS_FIELDS = SCHEMA.names[:7]


class OutputMismatchError(ValueError):
    """The output folder holds rows made with another configuration, or is not a folder."""


def shard_paths(out: str | Path) -> list[Path]:
    out = Path(out)
    return sorted(out.glob(f"{SHARD_PREFIX}*.parquet")) if out.is_dir() else []


def shard_metadata(path: Path) -> tuple[list[str], str]:
    """(videos completed by the shard, its config hash), from the footer only."""
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata.get(VIDEOS_KEY, b"[]")), metadata.get(HASH_KEY, b"").decode()


def shard_dropped(path: Path) -> dict[str, dict[str, int]]:
    """Per video of the shard, its intervals without a row counted by reason (footer only)."""
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata.get(DROPPED_KEY, b"{}"))


class ShardWriter:
    """Appends shards to `out`; `done` is the set of videos already completed there."""

    def __init__(self, out: str | Path, config_hash: str):
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise OutputMismatchError(f"{self.out}: the output must be a folder of shards")
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in self.out.glob(f".{SHARD_PREFIX}*.tmp"):  # left by a killed run
            stale.unlink()
        self.config_hash = config_hash
        self.done: set[str] = set()
        self.rows = 0
        shards = shard_paths(self.out)
        for path in shards:
            videos, found = shard_metadata(path)
            if found != config_hash:
                raise OutputMismatchError(
                    f"{path} was made with config {found or 'unknown'}, this run is "
                    f"{config_hash}; write to another --out"
                )
            self.done.update(videos)
            self.rows += pq.read_metadata(path).num_rows
        self.next_index = int(shards[-1].stem.removeprefix(SHARD_PREFIX)) + 1 if shards else 0

    def write(
        self, rows: list[dict], videos: list[str], dropped: dict[str, dict[str, int]] | None = None
    ) -> Path | None:
        """One shard holding `rows`, which complete `videos` (some may have no rows);
        `dropped` counts, per video, its intervals without a row by reason."""
        if not videos:
            return None
        table = pa.Table.from_pylist(rows, schema=SCHEMA)
        metadata = {
            **SCHEMA.metadata,
            VIDEOS_KEY: json.dumps(sorted(videos)).encode(),
            HASH_KEY: self.config_hash.encode(),
            DROPPED_KEY: json.dumps(dropped or {}, sort_keys=True).encode(),
        }
        table = table.replace_schema_metadata(metadata)
        path = self.out / f"{SHARD_PREFIX}{self.next_index:06d}.parquet"
        atomic_write(path, lambda temporary: pq.write_table(table, temporary))
        self.next_index += 1
        self.done.update(videos)
        self.rows += len(rows)
        return path


def read_rows(out: str | Path) -> pa.Table:
    """Every row of an output folder, ordered by video and interval, with SCHEMA."""
    tables = [pq.read_table(path, schema=SCHEMA) for path in shard_paths(out)]
    table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    table = table.replace_schema_metadata(SCHEMA.metadata)
    return table.sort_by([("vid", "ascending"), ("interval_index", "ascending")])


def write_jsonl(table: pa.Table, path: str | Path) -> Path:
    """The QVHighlights-style JSONL the trainer reads: one annotation per line."""
    lines = [
        json.dumps({name: row[name] for name in QVHIGHLIGHTS_FIELDS})
        for row in table.select(QVHIGHLIGHTS_FIELDS).to_pylist()
    ]
    return atomic_write_text(path, "".join(line + "\n" for line in lines))
