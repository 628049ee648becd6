"""Dropout whose mask is drawn quickly on a CPU.

torch's CPU Bernoulli sampler draws one number at a time on one thread: the 32x75x3586 input
mask of a QVHighlights batch took 118 ms, and the masks of one training step a quarter of it.
On a CPU, `dropout` takes 16-bit uniform integers from NumPy's PCG64 instead (four from each
raw 64-bit output; 33 ms for that mask, multiplication included), seeded from torch's
generator (so `torch.manual_seed`, and the RNG state a checkpoint saves, still decide every
mask), and keeps an element when its integer is among the k = round(keep * 65536) lowest
values. Survivors are scaled by 65536 / k, the inverse of the exact keep probability, so the
expectation is unchanged; the keep probability itself is rounded to 1/65536 (0.9 becomes
0.899994). On other devices, and with the "torch" sampler (`set_sampler`, the config's
`model.dropout_sampler`; for runs that must draw from torch's random stream as the reference
does), it is `torch.nn.functional.dropout`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LEVELS = 1 << 16
HALF = LEVELS // 2
SAMPLERS = ("numpy", "torch")


def dropout(
    x: torch.Tensor, p: float, training: bool = True, sampler: str = "numpy"
) -> torch.Tensor:
    if not training or p == 0:
        return x
    if sampler == "torch" or x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    kept_levels = round((1 - p) * LEVELS)
    if kept_levels == 0:
        return x * 0
    if kept_levels == LEVELS:  # p below 1/131072
        return x
    seed = int(torch.randint(2**63 - 1, (1,)))
    # PCG64's raw 64-bit outputs are uniform bits: read as four int16 each, uniform over
    # [-32768, 32767], of which exactly `kept_levels` values lie below kept_levels - 32768.
    raw = np.random.PCG64(seed).random_raw((x.numel() + 3) // 4)
    levels = torch.from_numpy(raw.view(np.int16)[: x.numel()]).view(x.shape)
    mask = (levels < kept_levels - HALF).to(x.dtype).mul_(LEVELS / kept_levels)
    return x * mask


class Dropout(nn.Module):
    """`nn.Dropout` with the fast CPU mask of `dropout`."""

    dropout_sampler = "numpy"

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.dropout_sampler)

    def extra_repr(self) -> str:
        return f"p={self.p}, sampler={self.dropout_sampler}"


def set_sampler(model: nn.Module, sampler: str) -> None:
    """Draw every dropout mask in `model` (modules with a `dropout_sampler`) with `sampler`."""
    if sampler not in SAMPLERS:
        raise ValueError(f"dropout sampler must be one of {SAMPLERS}, got {sampler!r}")
    for module in model.modules():
        if hasattr(module, "dropout_sampler"):
            module.dropout_sampler = sampler
