"""The encoder interface: what every frozen encoder offers the extraction run.

A video encoder turns the frames of B clips into one feature row per clip; a text encoder turns
queries into per-token features plus one sentence vector. Encoders are built by
`extractors.registry.build_encoder` and never load weights themselves: `extractors.weights`
resolves files.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.plans import FrameSpec

# Frame normalisation constants of the original training recipes.
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class TextFeatures:
    """One query: `tokens` (N, D) per real token, `pooled` the sentence vector."""

    tokens: np.ndarray
    pooled: np.ndarray


def cast_except(module: torch.nn.Module, dtype: torch.dtype, fp32_parts: set[str]):
    """`module.to(dtype)`, except the floating-point parameters and buffers under the top-level
    names `fp32_parts`, which become float32. Each tensor is cast once, from what it holds."""
    tensors = itertools.chain(module.named_parameters(), module.named_buffers())
    for name, tensor in tensors:
        if tensor.is_floating_point():
            part = name.split(".", 1)[0]
            tensor.data = tensor.data.to(torch.float32 if part in fp32_parts else dtype)
    return module


class Encoder(ABC):
    """Common to every encoder: a name, an output size, a device and a batch size."""

    name: str
    dim: int
    batch_size: int

    def __init__(
        self, module: torch.nn.Module, device: torch.device, dtype: torch.dtype, provenance: dict
    ):
        module = module.eval().requires_grad_(False).to(device)
        self.module = cast_except(module, dtype, self.fp32_parts(module, dtype))
        self.device = device
        self.dtype = dtype
        self.provenance = provenance  # where the weights came from, or "random" and the seed

    def fp32_parts(self, module: torch.nn.Module, dtype: torch.dtype) -> set[str]:
        """Top-level parts of `module` (children or parameters) kept in float32 when the rest
        takes `dtype`: those the upstream code runs in full precision. None by default."""
        return set()

    def to_tensor(self, frames: np.ndarray, mean, std) -> torch.Tensor:
        """(..., H, W, 3) uint8 -> (..., 3, H, W) normalised, on the device."""
        tensor = (
            torch.from_numpy(frames).to(self.device).permute(*range(frames.ndim - 3), -1, -3, -2)
        )
        tensor = tensor.float().div_(255)
        mean = torch.tensor(mean, device=self.device).view(3, 1, 1)
        std = torch.tensor(std, device=self.device).view(3, 1, 1)
        return ((tensor - mean) / std).to(self.dtype)


class VideoEncoder(Encoder):
    """Per-clip features from sampled frames."""

    plan_kind: str  # "image" (one frame per clip) or "slowfast" (32 frames per clip)
    spec: FrameSpec = FrameSpec()

    @abstractmethod
    def encode_clips(self, frames: np.ndarray) -> np.ndarray:
        """frames (B, n, H, W, 3) uint8 RGB -> (B, dim) float32."""


class TextEncoder(Encoder):
    """Token-level query features."""

    text_dim: int

    @abstractmethod
    def encode_texts(self, texts: list[str]) -> list[TextFeatures]:
        """One TextFeatures per text."""
