"""Our checkpoints: the model's weights with the config and input sizes that rebuild it, and
what the model was trained on (`TrainedInputs`: the feature folders in concatenation order with
their widths, the clip length and the preset), so that prediction makes the same inputs.

Saved atomically; loaded with `torch.load(weights_only=True)`. Prediction without a
`--checkpoint` uses `$VIDEOLIGHTS_CHECKPOINT`, else `~/.cache/videolights/videolights.ckpt`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from extractors.registry import resolve_device
from model.config import TrainConfig, config_from_dict
from model.network.videolights import NetworkConfig, VideoLights
from pipeline.store import atomic_write

CHECKPOINT_VARIABLE = "VIDEOLIGHTS_CHECKPOINT"
DEFAULT_CHECKPOINT = Path("~/.cache/videolights/videolights.ckpt")


def default_checkpoint() -> Path:
    """The checkpoint to predict with when none is named; raises FileNotFoundError saying where
    it looked and how to make one."""
    path = Path(os.environ.get(CHECKPOINT_VARIABLE) or DEFAULT_CHECKPOINT).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no --checkpoint given and no checkpoint at {path} (${CHECKPOINT_VARIABLE}, else "
            f"{DEFAULT_CHECKPOINT}): train one (videolights train, then copy its "
            f"model_best.ckpt there) or convert the reference's "
            f"(videolights import-checkpoint REF.ckpt {path})"
        )
    return path


class CheckpointMismatchError(ValueError):
    """Features that do not fit the model: what it was trained on against what was given."""


@dataclass(frozen=True)
class FeatureType:
    folder: str  # the released layout's folder name, e.g. "clip_features"
    width: int | None  # None: not recorded (a checkpoint older than the record)

    def __str__(self) -> str:
        return self.folder if self.width is None else f"{self.folder} ({self.width})"


def _describe(types: Sequence[FeatureType]) -> str:
    return " + ".join(map(str, types))


@dataclass(frozen=True)
class TrainedInputs:
    """What a model was trained on: video and text feature types in concatenation order with
    their widths, the clip length, the preset (or YAML config) name, and the model's input widths
    (temporal encoding included). `recorded` is False for checkpoints saved before this record:
    their feature types are the preset's list, which need not be what the model was trained on."""

    video: tuple[FeatureType, ...]
    text: tuple[FeatureType, ...]
    clip_length: float
    preset: str
    video_dim: int
    text_dim: int
    temporal_encoding: bool = True
    recorded: bool = True
    name: str = "the checkpoint"  # how messages name it

    @classmethod
    def of_training(cls, config: TrainConfig, video_widths, text_widths) -> TrainedInputs:
        """The record of a run on the config's feature folders, of these widths."""
        return cls(
            tuple(map(FeatureType, config.video_features, video_widths)),
            tuple(map(FeatureType, config.text_features, text_widths)),
            config.data.clip_length,
            config.name,
            sum(video_widths) + 2 * config.data.temporal_encoding,
            sum(text_widths),
            config.data.temporal_encoding,
        )

    @classmethod
    def of_checkpoint(cls, checkpoint: dict, path: Path | None = None) -> TrainedInputs:
        name = "the checkpoint" if path is None else f"the checkpoint {path}"
        config = config_from_dict(checkpoint["config"])
        record = checkpoint.get("trained_on")
        if record is None:
            return cls(
                tuple(FeatureType(folder, None) for folder in config.video_features),
                tuple(FeatureType(folder, None) for folder in config.text_features),
                config.data.clip_length,
                config.name,
                checkpoint["video_dim"],
                checkpoint["text_dim"],
                config.data.temporal_encoding,
                recorded=False,
                name=name,
            )
        return cls(
            tuple(FeatureType(*pair) for pair in record["video"]),
            tuple(FeatureType(*pair) for pair in record["text"]),
            record["clip_length"],
            record["preset"],
            checkpoint["video_dim"],
            checkpoint["text_dim"],
            config.data.temporal_encoding,
            name=name,
        )

    def to_dict(self) -> dict:
        return {
            "video": [[t.folder, t.width] for t in self.video],
            "text": [[t.folder, t.width] for t in self.text],
            "clip_length": self.clip_length,
            "preset": self.preset,
        }

    def describe(self) -> str:
        """What the model was trained on, as messages say it."""
        features = (
            f"video features {_describe(self.video)} and text features {_describe(self.text)}"
        )
        if self.recorded:
            return f"{self.name} was trained on {features}"
        return (
            f"{self.name} does not record its features (saved before the record); it takes "
            f"video features {self.video_dim - 2 * self.temporal_encoding} wide and text "
            f"features {self.text_dim} wide, and its preset {self.preset!r} names {features}"
        )

    def check(self, video: Sequence[FeatureType], text: Sequence[FeatureType], source: str):
        """Raise CheckpointMismatchError unless `video` and `text` (what `source` gives) have
        the widths the model was trained on, type by type (for a checkpoint without the
        record, in total)."""
        if self.recorded:
            widths = [t.width for t in video], [t.width for t in text]
            fits = widths == ([t.width for t in self.video], [t.width for t in self.text])
        else:
            video_width = sum(t.width for t in video) + 2 * self.temporal_encoding
            fits = video_width == self.video_dim and sum(t.width for t in text) == self.text_dim
        if not fits:
            raise CheckpointMismatchError(
                f"{self.describe()}; {source} gives video features {_describe(video)} "
                f"and text features {_describe(text)}"
            )


def build_model(config: TrainConfig, video_dim: int, text_dim: int) -> VideoLights:
    return VideoLights(
        NetworkConfig(
            video_dim=video_dim,
            text_dim=text_dim,
            clip_length=config.data.clip_length,
            **asdict(config.model),
        )
    )


def save_checkpoint(path: Path, state: dict) -> Path:
    return atomic_write(path, lambda temporary: torch.save(state, temporary))


class CheckpointFileError(ValueError):
    """A file that is not a checkpoint of the kind asked for; the message names it."""


def read_torch_file(path: Path, safe_globals: Sequence[type] = ()) -> dict:
    """A dict saved with torch.save, loaded with `weights_only=True` (and these classes)."""
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            contents = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as error:  # torch.load fails in many ways on what it did not write
        raise CheckpointFileError(
            f"{path}: not a checkpoint that torch.load(weights_only=True) reads "
            f"({type(error).__name__})"
        ) from None
    if not isinstance(contents, dict):
        raise CheckpointFileError(f"{path}: not a checkpoint (holds a {type(contents).__name__})")
    return contents


def rng_states() -> dict:
    """Every global generator training may draw from: torch's CPU one and each CUDA device's
    (dropout on a GPU draws from the latter), NumPy's and Python's. Plain types and tensors only,
    so that `torch.load(weights_only=True)` reads them back."""
    name, key, position, has_gauss, gauss = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(key.astype(np.int64)), position, has_gauss, gauss),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    """Set the generators saved by `rng_states` (the CUDA ones when this process has CUDA)."""
    torch.set_rng_state(states["torch"])
    name, key, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), position, has_gauss, gauss))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def load_checkpoint(path: Path) -> dict:
    """One of our checkpoints (`save_checkpoint`)."""
    checkpoint = read_torch_file(path)
    missing = [key for key in ("config", "video_dim", "text_dim", "model") if key not in checkpoint]
    if missing:
        raise CheckpointFileError(
            f"{path}: not a videolights checkpoint (no {', '.join(missing)}); a checkpoint of "
            f"the reference code is converted by `videolights import-checkpoint`"
        )
    return checkpoint


def load_model(path: Path, device: str = "auto") -> tuple[VideoLights, TrainConfig, torch.device]:
    """A model from one of our checkpoints, in eval mode on the device."""
    model, config, _, torch_device = load_trained(path, device)
    return model, config, torch_device


def load_trained(path: Path, device: str = "auto"):
    """(model in eval mode on the device, config, TrainedInputs, device) of one of our
    checkpoints."""
    checkpoint = load_checkpoint(path)
    config = config_from_dict(checkpoint["config"])
    model = build_model(config, checkpoint["video_dim"], checkpoint["text_dim"])
    model.load_state_dict(checkpoint["model"])
    torch_device = resolve_device(device)
    inputs = TrainedInputs.of_checkpoint(checkpoint, path)
    return model.to(torch_device).eval(), config, inputs, torch_device
