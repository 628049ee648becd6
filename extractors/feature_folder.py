"""A feature folder is bound to the settings that made it.

`{out}/feature_settings.json` records, for each encoder, what its features depend on: the
sampling preset and clip length, the model size, the dtype and the weights (their SHA-256, or
random and the seed). A run with other settings would otherwise skip every video whose files
exist while its provenance claimed the new settings, so `bind` refuses it with a message naming
what differs, unless `overwrite`: then the differing encoders' feature files are removed and
extracted again. A folder made before this record existed is adopted as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

from extractors import weights as weight_files
from extractors.registry import dtype_name, resolve_device, resolve_dtype, uses_random_weights
from pipeline.store import TEXT_FOLDERS, VIDEO_FOLDERS, atomic_write_json

RECORD = "feature_settings.json"


class FeatureFolderMismatch(ValueError):
    """The output folder holds features made with other settings."""


def encoder_settings(settings) -> dict[str, dict]:
    """What each encoder's features depend on (`settings`: an ExtractSettings), found without
    building the models."""
    dtype = dtype_name(resolve_dtype(settings.precision, resolve_device(settings.device)))
    bound = {}
    for name in settings.encoders:
        if uses_random_weights(settings.model_size, settings.weights, settings.random_weights):
            weights = f"random, seed {settings.seed}"
        else:
            chosen = weight_files.choose(name, settings.weights).path
            weights = f"{chosen.name}, sha256 {weight_files.verify(chosen)}"
        bound[name] = {
            "preset": settings.preset,
            "clip_length": settings.clip_length,
            "model_size": settings.model_size,
            "dtype": dtype,
            "weights": weights,
        }
    return bound


def _differences(recorded: dict, wanted: dict) -> str:
    return ", ".join(
        f"{key} {recorded.get(key)} in the folder, {wanted.get(key)} now"
        for key in sorted(set(recorded) | set(wanted))
        if recorded.get(key) != wanted.get(key)
    )


def remove_features(out: Path, encoder: str) -> None:
    for folder in (VIDEO_FOLDERS[encoder], TEXT_FOLDERS.get(encoder)):
        if folder is not None:
            for path in (out / folder).glob("*.npz"):
                path.unlink()


def bind(out: Path, settings, overwrite: bool = False) -> None:
    """Check `settings` against the folder's record and record them. Raises
    FeatureFolderMismatch naming the differing settings, unless `overwrite`, which removes the
    features they made."""
    path = Path(out) / RECORD
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    wanted = encoder_settings(settings)
    differing = {
        name: _differences(recorded[name], bound)
        for name, bound in wanted.items()
        if name in recorded and recorded[name] != bound
    }
    if differing and not overwrite:
        raise FeatureFolderMismatch(
            f"{out} holds features made with other settings (recorded in {path}): "
            + "; ".join(f"{name}: {text}" for name, text in differing.items())
            + ". Write to another output folder, or overwrite (--overwrite) to extract them again."
        )
    for name in differing:
        remove_features(Path(out), name)
    atomic_write_json(path, recorded | wanted)
