"""The anchor decoder (DAB-DETR style, as in QD-DETR): learned (centre, width) anchors are
refined layer by layer; each layer's cross-attention splits queries and keys per head into a
content half and a positional half (the anchor's sine embedding, and the clip positions).
"""

from __future__ import annotations

import torch
from torch import nn

from model.network.dropout import Dropout
from model.network.layers import (
    MLP,
    PlainAttention,
    anchor_embedding,
    clones,
    inverse_sigmoid,
)


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.sa_qcontent_proj = nn.Linear(dim, dim)
        self.sa_qpos_proj = nn.Linear(dim, dim)
        self.sa_kcontent_proj = nn.Linear(dim, dim)
        self.sa_kpos_proj = nn.Linear(dim, dim)
        self.sa_v_proj = nn.Linear(dim, dim)
        self.self_attn = PlainAttention(dim, heads, dim, dropout)
        self.ca_qcontent_proj = nn.Linear(dim, dim)
        self.ca_qpos_proj: nn.Linear | None = nn.Linear(dim, dim)  # None after the first layer
        self.ca_kcontent_proj = nn.Linear(dim, dim)
        self.ca_kpos_proj = nn.Linear(dim, dim)
        self.ca_v_proj = nn.Linear(dim, dim)
        self.ca_qpos_sine_proj = nn.Linear(dim, dim)
        self.cross_attn = PlainAttention(2 * dim, heads, dim, dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.dropout = Dropout(dropout)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.activation = nn.PReLU()

    def _per_head(self, content: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Concatenate content and position head by head: (B, n, d) x2 -> (B, n, 2d)."""
        heads = self.heads
        return torch.cat(
            [content.unflatten(-1, (heads, -1)), position.unflatten(-1, (heads, -1))], dim=-1
        ).flatten(-2)

    def forward(self, tgt, memory, memory_pos, memory_pad, query_pos, query_sine):
        """tgt (B, Q, d); memory, memory_pos (B, L, d); memory_pad (B, L); query_pos and
        query_sine (B, Q, d). Returns (B, Q, d)."""
        q = self.sa_qcontent_proj(tgt) + self.sa_qpos_proj(query_pos)
        k = self.sa_kcontent_proj(tgt) + self.sa_kpos_proj(query_pos)
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, k, self.sa_v_proj(tgt))))

        q = self.ca_qcontent_proj(tgt)
        k = self.ca_kcontent_proj(memory)
        if self.ca_qpos_proj is not None:
            q = q + self.ca_qpos_proj(query_pos)
            k = k + self.ca_kpos_proj(memory_pos)
        q = self._per_head(q, self.ca_qpos_sine_proj(query_sine))
        k = self._per_head(k, self.ca_kpos_proj(memory_pos))
        attended = self.cross_attn(q, k, self.ca_v_proj(memory), key_padding_mask=memory_pad)
        tgt = self.norm2(tgt + self.dropout2(attended))
        ffn = self.linear2(self.dropout(self.activation(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(ffn))


class AnchorDecoder(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float, num_layers: int):
        super().__init__()
        if dim != 256:
            raise ValueError("the anchor embedding has 2 x 128 dims: hidden_dim must be 256")
        self.layers = clones(DecoderLayer(dim, heads, ffn_dim, dropout), num_layers)
        for layer in self.layers[1:]:
            # Only the first layer adds the anchor position to the content query.
            layer.ca_qpos_proj = None
        self.norm = nn.LayerNorm(dim)
        self.query_scale = MLP(dim, dim, dim, 2)
        self.ref_point_head = MLP(dim, dim, dim, 2)
        self.ref_anchor_head = MLP(dim, dim, 1, 2)
        self.bbox_embed = MLP(dim, dim, 2, 3)
        nn.init.constant_(self.bbox_embed.layers[-1].weight, 0.0)
        nn.init.constant_(self.bbox_embed.layers[-1].bias, 0.0)

    def forward(self, anchors, memory, memory_pos, memory_pad):
        """anchors (Q, 2) unsigmoided (centre, width); memory (B, L, d).
        Returns hidden states (layers, B, Q, d) and each layer's anchors (layers, B, Q, 2)."""
        batch = memory.shape[0]
        reference = anchors.sigmoid().unsqueeze(0).expand(batch, -1, -1)
        output = memory.new_zeros(batch, anchors.shape[0], memory.shape[-1])
        hidden, references = [], [reference]
        for index, layer in enumerate(self.layers):
            sine = anchor_embedding(reference)
            query_pos = self.ref_point_head(sine)
            if index > 0:
                sine = sine * self.query_scale(output)
            # Modulate the positional attention by the anchor's width.
            sine = sine * (self.ref_anchor_head(output).sigmoid() / reference[..., 1:2])
            output = layer(output, memory, memory_pos, memory_pad, query_pos, sine)
            new_reference = (self.bbox_embed(output) + inverse_sigmoid(reference)).sigmoid()
            if index < len(self.layers) - 1:
                references.append(new_reference)
            reference = new_reference.detach()
            hidden.append(self.norm(output))
        return torch.stack(hidden), torch.stack(references)
