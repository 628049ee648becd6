"""The post-norm transformer encoder over [global token; clips] (DETR's encoder layer with a
PReLU feed-forward)."""

from __future__ import annotations

import torch
from torch import nn

from model.network.dropout import Dropout
from model.network.layers import MultiheadAttention


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.dropout = Dropout(dropout)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.activation = nn.PReLU()

    def forward(self, x: torch.Tensor, pos: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """x, pos (B, L, d); pad (B, L) True = padding."""
        attended = self.self_attn(x + pos, x + pos, x, key_padding_mask=pad)[0]
        x = self.norm1(x + self.dropout1(attended))
        ffn = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.norm2(x + self.dropout2(ffn))
