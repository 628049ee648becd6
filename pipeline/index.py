"""Scan a folder of videos, probe each one, and keep the record in a manifest (Parquet).

The manifest is the one record of what each input is and what happened to it: one row per
file, `status` "ok" or "failed" with the reason in `error`. A bad file never stops the scan.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.errors import VideoError
from pipeline.grid import DEFAULT_CLIP_LENGTH
from pipeline.lock import hold
from pipeline.probe import VideoInfo, probe, video_id_of
from pipeline.store import atomic_write, lock_path

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".wmv",
        ".flv",
        ".mpg",
        ".mpeg",
        ".mpv",
        ".ts",
        ".m2ts",
        ".3gp",
        ".ogv",
        ".ogg",
        ".qt",
    ]
)
# Leading bytes of the containers we accept, for files without an extension.
_MAGIC = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),  # AVI
    (0, b"OggS"),
    (0, b"FLV"),
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
    (0, b"\x30\x26\xb2\x75"),  # ASF / WMV
    (0, b"\x47"),  # MPEG transport stream sync byte
)

MANIFEST_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("video_id", pa.string()),
        ("size_bytes", pa.int64()),
        ("mtime", pa.float64()),
        ("content_hash", pa.string()),
        ("container", pa.string()),
        ("codec", pa.string()),
        ("fps", pa.float64()),
        ("variable_rate", pa.bool_()),
        ("num_frames", pa.int64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("rotation", pa.int32()),
        ("start_time", pa.float64()),
        ("duration", pa.float64()),
        ("num_clips", pa.int32()),
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)


class DuplicateVideoIdError(ValueError):
    """Two files would write the same `{vid}.npz`."""


def looks_like_video(path: Path) -> bool:
    """By extension, or by the first bytes for a file without one."""
    if path.suffix:
        return path.suffix.lower() in VIDEO_EXTENSIONS
    try:
        with path.open("rb") as stream:
            head = stream.read(12)
    except OSError:
        return False
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _MAGIC)


def find_videos(root: str | Path) -> list[Path]:
    """Video files under `root` (recursively; hidden files skipped), sorted. A file given
    directly is returned as is. Raises `DuplicateVideoIdError` when two share a video id."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    videos = sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
        and looks_like_video(path)
    )
    by_id: dict[str, Path] = {}
    for path in videos:
        other = by_id.setdefault(video_id_of(path), path)
        if other != path:
            raise DuplicateVideoIdError(
                f"video id {video_id_of(path)!r} is used by both {other} and {path}"
            )
    return videos


def content_hash(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def probe_row(
    path: Path, clip_length: float = DEFAULT_CLIP_LENGTH
) -> tuple[dict, VideoInfo | None]:
    """Probe one file into a manifest row, and its VideoInfo (None when it failed); a bad file
    gives a `failed` row, never an exception."""
    row = dict.fromkeys(MANIFEST_SCHEMA.names)
    stat = path.stat()
    row.update(
        path=str(path),
        video_id=video_id_of(path),
        size_bytes=stat.st_size,
        mtime=stat.st_mtime,
        content_hash=content_hash(path),
    )
    try:
        info = probe(path)
    except VideoError as error:
        log.warning("%s", error)
        return row | {"status": "failed", "error": error.reason}, None
    probed = {f.name: getattr(info, f.name) for f in fields(VideoInfo) if f.name != "path"}
    return row | probed | {"num_clips": info.num_clips(clip_length), "status": "ok"}, info


def build_manifest(
    paths: Iterable[Path], clip_length: float = DEFAULT_CLIP_LENGTH, progress=None
) -> pa.Table:
    """One manifest row per path, in order. `progress`, if given, wraps the iterable (tqdm)."""
    paths = list(paths)
    rows = [probe_row(path, clip_length)[0] for path in (progress or iter)(paths)]
    return pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)


def write_manifest(table: pa.Table, path: str | Path) -> Path:
    return atomic_write(path, lambda temporary: pq.write_table(table, temporary))


def update_manifest(table: pa.Table, root: str | Path, run: str) -> Path:
    """Merge `table` into `{root}/manifest.parquet`: its rows replace those of the same paths,
    the others stay (runs over parts of a folder share one manifest). Rows are sorted by path;
    the file's lock keeps two runs from merging at once."""
    path = Path(root) / "manifest.parquet"
    with hold(lock_path(root, "manifest"), run):
        if path.is_file():
            replaced = pc.field("path").isin(table.column("path"))
            kept = read_manifest(path).filter(~replaced)
            table = pa.concat_tables([kept, table.cast(MANIFEST_SCHEMA)])
        return write_manifest(table.sort_by("path"), path)


def read_manifest(path: str | Path) -> pa.Table:
    return pq.read_table(path, schema=MANIFEST_SCHEMA)
