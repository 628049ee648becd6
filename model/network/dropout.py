"""Dropout whose mask is drawn quickly on a CPU.

torch's CPU Bernoulli sampler draws one number at a time on one thread: the 32x75x3586 input
mask of a QVHighlights batch took 118 ms, and the masks of one training step a quarter of it.
On a CPU, `dropout` draws 16-bit uniform integers with NumPy's PCG64 instead, seeded from
torch's generator (so `torch.manual_seed`, and the RNG state a checkpoint saves, still decide
every mask), and keeps an element when its integer is below k = round(keep * 65536). Survivors
are scaled by 65536 / k, the inverse of the exact keep probability, so the expectation is
unchanged; the keep probability itself is rounded to 1/65536 (0.9 becomes 0.899994). On other
devices it is `torch.nn.functional.dropout`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LEVELS = 1 << 16


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    if not training or p == 0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    kept_levels = round((1 - p) * LEVELS)
    if kept_levels == 0:
        return x * 0
    seed = int(torch.randint(2**63 - 1, (1,)))
    levels = np.random.default_rng(seed).integers(0, LEVELS, size=x.shape, dtype=np.uint16)
    mask = torch.from_numpy(levels < kept_levels).to(x.dtype).mul_(LEVELS / kept_levels)
    return x * mask


class Dropout(nn.Module):
    """`nn.Dropout` with the fast CPU mask of `dropout`."""

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
