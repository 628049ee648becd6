"""Small building blocks shared by the network's parts."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from model.network.dropout import Dropout, dropout


class MLP(nn.Module):
    """Linear layers with ReLU between them (none after the last)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:], strict=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < len(self.layers) - 1:
                x = F.relu(x)
        return x


def clones(layer: nn.Module, count: int) -> nn.ModuleList:
    """`count` copies of one built layer, as the reference builds its layer stacks: every layer
    starts with the same biases (the matrices are drawn again per layer by the Xavier
    initialisation that follows)."""
    return nn.ModuleList(copy.deepcopy(layer) for _ in range(count))


class ProjectionLayer(nn.Module):
    """LayerNorm -> dropout -> per-position linear map (the reference's kernel-1 Conv1d,
    "convolutional projection") -> optional ReLU. (B, L, in) -> (B, L, out)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float, relu: bool):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.dropout = Dropout(dropout)
        self.linear = nn.Linear(in_dim, out_dim)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(self.dropout(self.norm(x)))
        return F.relu(x) if self.relu else x


def projection(in_dim: int, hidden_dim: int, dropout: float, num_layers: int = 2) -> nn.Sequential:
    """num_layers ProjectionLayers, ReLU after all but the last."""
    dims = [in_dim] + [hidden_dim] * num_layers
    return nn.Sequential(
        *(
            ProjectionLayer(a, b, dropout, relu=index < num_layers - 1)
            for index, (a, b) in enumerate(zip(dims, dims[1:], strict=False))
        )
    )


def sine_positions(mask: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Normalised sine/cosine positions of the valid clips: mask (B, L) -> (B, L, dim).

    x = cumulative count of valid clips, divided by the count, times 2 pi (DETR's 1-d variant)."""
    x = mask.float().cumsum(1)
    x = x / (x[:, -1:] + 1e-6) * 2 * math.pi
    return _interleaved_sine(x, dim, temperature)


def anchor_embedding(anchors: torch.Tensor, dim_each: int = 128) -> torch.Tensor:
    """Sine embedding of (centre, width) anchors in [0, 1]: (B, Q, 2) -> (B, Q, 2 * dim_each)."""
    scaled = anchors * 2 * math.pi
    return torch.cat(
        [_interleaved_sine(scaled[..., 0], dim_each), _interleaved_sine(scaled[..., 1], dim_each)],
        dim=-1,
    )


def _interleaved_sine(x: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """(...,) -> (..., dim): sin on even frequencies and cos on odd, interleaved pairwise."""
    index = torch.arange(dim, dtype=torch.float32, device=x.device)
    frequencies = temperature ** (2 * torch.div(index, 2, rounding_mode="floor") / dim)
    angles = x[..., None] / frequencies
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class PlainAttention(nn.Module):
    """Multi-head attention on already-projected queries, keys and values (DAB-DETR's variant:
    no input projection, only the output one). q (B, Q, E), k (B, K, E), v (B, K, V) -> (B, Q, V).
    """

    def __init__(self, embed_dim: int, num_heads: int, value_dim: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (embed_dim // num_heads) ** -0.5
        self.dropout = Dropout(dropout)
        self.out_proj = nn.Linear(value_dim, value_dim)
        nn.init.constant_(self.out_proj.bias, 0.0)

    def forward(self, q, k, v, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """key_padding_mask (B, K): True where the key is padding."""
        heads = self.num_heads
        q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))  # (B, H, *, d)
        logits = (q * self.scale) @ k.transpose(-1, -2)  # (B, H, Q, K)
        if key_padding_mask is not None:
            logits = logits.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        weights = self.dropout(logits.softmax(dim=-1))
        return self.out_proj((weights @ v).transpose(1, 2).flatten(-2))


class MultiheadAttention(nn.MultiheadAttention):
    """`nn.MultiheadAttention` (batch first; the same parameters, masks and function) with the
    fast CPU dropout of `model.network.dropout` on the attention weights. Returns (output, None):
    the averaged weights are never used.

    query (B, Q, E), key (B, K, E), value (B, K, E); key_padding_mask (B, K) and attn_mask
    (B * heads, Q, K) or (Q, K) are True where attending is not allowed."""

    dropout_sampler = "numpy"

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None):
        heads = self.num_heads
        weights, biases = self.in_proj_weight.chunk(3), self.in_proj_bias.chunk(3)
        q, k, v = (
            F.linear(x, w, b).unflatten(-1, (heads, -1)).transpose(1, 2)  # (B, H, *, d)
            for x, w, b in zip((query, key, value), weights, biases, strict=True)
        )
        logits = (q * self.head_dim**-0.5) @ k.transpose(-1, -2)  # (B, H, Q, K)
        blocked = None
        if key_padding_mask is not None:
            blocked = key_padding_mask[:, None, None, :]
        if attn_mask is not None:
            per_head = attn_mask.unflatten(0, (-1, heads)) if attn_mask.dim() == 3 else attn_mask
            blocked = per_head if blocked is None else blocked | per_head
        if blocked is not None:
            logits = logits.masked_fill(blocked, float("-inf"))
        attention = dropout(
            logits.softmax(dim=-1), self.dropout, self.training, self.dropout_sampler
        )
        return self.out_proj((attention @ v).transpose(1, 2).flatten(-2)), None
