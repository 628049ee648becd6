"""Tiny models built once, colour-coded test videos, and a captioner whose captions we choose."""

from pathlib import Path

import numpy as np
import pytest

from synth.caption import DecodingSettings
from synth.generate import Models, SynthSettings, load_models
from tests.videos import write_video

TINY = SynthSettings(model_size="tiny", device="cpu")
FPS = 5
PALETTE = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "white": (235, 235, 235),
    "black": (15, 15, 15),
    "yellow": (230, 220, 30),
}


@pytest.fixture(autouse=True)
def no_real_weight_cache(tmp_path, monkeypatch):
    """Weights are looked up under a private HOME, never the machine's own cache."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VIDEOLIGHTS_WEIGHTS", raising=False)


@pytest.fixture(scope="session")
def tiny_models() -> Models:
    """The tiny captioner, BLIP-2 phi and CLIP text encoder (seed 0), shared by the tests."""
    return load_models(TINY, text_features=True)


def colour_video(path: Path, colours: list[str], seconds_each: float = 10.0) -> Path:
    """A video showing each named colour for `seconds_each` seconds, in order."""
    frames_each = round(seconds_each * FPS)

    def frame(index: int, width: int, height: int) -> np.ndarray:
        colour = PALETTE[colours[min(index // frames_each, len(colours) - 1)]]
        return np.broadcast_to(np.array(colour, np.uint8), (height, width, 3)).copy()

    return write_video(path, frames_each * len(colours), fps=FPS, width=64, height=48, frame=frame)


def colour_of(frame: np.ndarray) -> str:
    """The palette colour nearest a frame's mean colour."""
    mean = frame.reshape(-1, 3).mean(0)
    return min(PALETTE, key=lambda name: np.abs(mean - np.array(PALETTE[name])).sum())


class PaletteCaptioner:
    """Captions a frame with `captions[its colour]`; raises for the colours in `fail`. Counts
    the frames of every call in `calls`."""

    def __init__(self, captions: dict[str, str], fail=(), provenance=None):
        self.captions = captions
        self.fail = set(fail)
        self.decoding = DecodingSettings()
        self.provenance = provenance or {"encoder": "palette", "size": "tiny", "weights": "random"}
        self.calls: list[int] = []

    def caption(self, frames: np.ndarray, image_states=None) -> list[str]:
        self.calls.append(len(frames))
        colours = [colour_of(frame) for frame in frames]
        if self.fail & set(colours):
            raise RuntimeError(f"cannot caption a {sorted(self.fail & set(colours))[0]} frame")
        return [self.captions[colour] for colour in colours]


def with_captioner(models: Models, captioner) -> Models:
    return Models(captioner, models.scorer, models.text_encoders)
