"""Our checkpoints: the model's weights with the config and input sizes that rebuild it.

Saved atomically; loaded with `torch.load(weights_only=True)`. Prediction without a
`--checkpoint` uses `$VIDEOLIGHTS_CHECKPOINT`, else `~/.cache/videolights/videolights.ckpt`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

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
    checkpoint = load_checkpoint(path)
    config = config_from_dict(checkpoint["config"])
    model = build_model(config, checkpoint["video_dim"], checkpoint["text_dim"])
    model.load_state_dict(checkpoint["model"])
    torch_device = resolve_device(device)
    return model.to(torch_device).eval(), config, torch_device
