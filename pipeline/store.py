"""The feature layout on disk, and atomic writes.

This module is the one place that builds feature paths. The layout is the one of the released
QVHighlights features, so that released features and ours are interchangeable:
    {root}/{folder}/{vid}.npz         key `features`, (L, D) float16, one row per clip
    {root}/{folder}/qid{qid}.npz      keys `last_hidden_state` (N, D) and `pooler_output` (D,)
    {root}/.locks/{name}.lock         while a run writes a video's files (`pipeline.lock`)
Every file is written under a temporary name in the same folder and renamed into place, so a
reader never sees a half-written file and an interrupted run leaves nothing behind but the
temporary file, which the next write replaces.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import numpy as np

VIDEO_FOLDERS = {
    "clip": "clip_features",
    "slowfast": "slowfast_features",
    "blip2": "blip_video_features",
}
TEXT_FOLDERS = {"clip": "clip_text_features", "blip2": "blip_text_features"}


class FeatureFileError(ValueError):
    """A feature file that is missing, unreadable or of the wrong shape."""


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(temporary_path)`, then rename the temporary file to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its files are 0600; opened with 0666 the temporary gets the mode the umask
    # gives any new file, so other accounts sharing an output folder can read the outputs.
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, value) -> Path:
    return atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with path.open("wb") as stream:
        np.savez(stream, **arrays)


def _folder(folders: dict[str, str], encoder: str) -> str:
    if encoder not in folders:
        raise ValueError(f"unknown encoder {encoder!r}; expected one of {', '.join(folders)}")
    return folders[encoder]


def lock_path(root: str | Path, name: str) -> Path:
    """The lock (`pipeline.lock`) of one video's files, or of another shared output."""
    return Path(root) / ".locks" / f"{name}.lock"


def video_feature_path(root: str | Path, encoder: str, vid: str) -> Path:
    return Path(root) / _folder(VIDEO_FOLDERS, encoder) / f"{vid}.npz"


def text_feature_path(root: str | Path, encoder: str, qid) -> Path:
    return Path(root) / _folder(TEXT_FOLDERS, encoder) / f"qid{qid}.npz"


def write_video_features(root: str | Path, encoder: str, vid: str, features: np.ndarray) -> Path:
    """features: (L, D) -> float16 npz, key `features`."""
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"video features of {vid} must be (clips, dim), got {features.shape}")
    path = video_feature_path(root, encoder, vid)
    return atomic_write(path, lambda tmp: _savez(tmp, {"features": features.astype(np.float16)}))


def write_text_features(
    root: str | Path, encoder: str, qid, last_hidden_state: np.ndarray, pooler_output: np.ndarray
) -> Path:
    """last_hidden_state: (N, D), one row per token; pooler_output: the sentence vector."""
    arrays = {
        "last_hidden_state": np.asarray(last_hidden_state, dtype=np.float32),
        "pooler_output": np.asarray(pooler_output, dtype=np.float32),
    }
    return atomic_write(text_feature_path(root, encoder, qid), lambda tmp: _savez(tmp, arrays))


def load_features(path: str | Path, key: str) -> np.ndarray:
    """One array of a feature file as float32; errors name the file and the reason."""
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(f"{path}: feature file not found")
    try:
        with np.load(path) as archive:
            if key not in archive:
                raise FeatureFileError(f"{path}: no key {key!r} (has {', '.join(archive.files)})")
            array = archive[key].astype(np.float32)
    except FeatureFileError:
        raise
    except Exception as error:  # a truncated zip raises several different types
        raise FeatureFileError(f"{path}: unreadable feature file ({error})") from None
    if array.ndim != 2 or len(array) == 0:
        raise FeatureFileError(f"{path}: {key} has shape {array.shape}, expected (rows, dim)")
    bad = np.count_nonzero(~np.isfinite(array))
    if bad:  # one NaN would turn every weight NaN at the first training step
        raise FeatureFileError(
            f"{path}: {key} holds NaN or infinite values ({bad} of {array.size})"
        )
    return array


def load_video_features(path: str | Path) -> np.ndarray:
    """(L, D) float32 from a video feature file."""
    return load_features(path, "features")
