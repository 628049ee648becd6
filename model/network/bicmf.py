"""Bi-directional cross-modal fusion (Bi-CMF): text -> video, video -> text, then the refined
text -> video again, and a feed-forward block. Text tokens leave the layer unchanged.

Reference quirks (kept by default):
- the feed-forward output f is normalised as LN(f + dropout(f)), with no residual from its
  input; `ffn_residual=True` gives the usual LN(c + dropout(f));
- each attention also gets a mask "query is padding and key is padding", built per sample and
  tiled with `.repeat(heads, 1, 1)`, so head h of sample b receives sample (b * heads + h) mod B's
  mask: in a batch mixing padded and unpadded samples, some heads of some samples lose keys
  they should see. `sample_masks=True` drops that mask (key padding alone is the intent).
"""

from __future__ import annotations

import torch
from torch import nn

from model.network.dropout import Dropout
from model.network.layers import MultiheadAttention


class BiCMFLayer(nn.Module):
    def __init__(
        self,
        dim: int,
        heads: int,
        ffn_dim: int,
        dropout: float,
        ffn_residual: bool,
        sample_masks: bool,
    ):
        super().__init__()
        self.text_to_video = MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.video_to_text = MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.refined_text_to_video = MultiheadAttention(
            dim, heads, dropout=dropout, batch_first=True
        )
        self.linear1 = nn.Linear(dim, dim)
        self.linear2 = nn.Linear(dim, dim)
        self.linear3 = nn.Linear(dim, dim)
        self.linear4 = nn.Linear(dim, ffn_dim)
        self.linear5 = nn.Linear(ffn_dim, dim)
        self.dropout = Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.activation = nn.PReLU()
        self.heads = heads
        self.ffn_residual = ffn_residual
        self.sample_masks = sample_masks

    def _tiled_mask(self, query_pad, key_pad, group: int) -> torch.Tensor | None:
        """The reference's (B * heads, Lq, Lk) mask, in its tiling (see the module docstring).
        The batch may stack several groups of `group` samples (positive and negative pairs in
        one pass); each group is tiled on its own, as if it had run alone."""
        if self.sample_masks:
            return None
        both = query_pad[:, :, None] & key_pad[:, None, :]
        sample = torch.arange(len(both), device=both.device)[:, None]
        head = torch.arange(self.heads, device=both.device)[None, :]
        source = sample // group * group + (sample % group * self.heads + head) % group
        return both[source.flatten()]

    def forward(self, video, text, video_pos, text_pos, video_pad, text_pad, group: int):
        """video (B, L, d), text (B, N, d), positions alike, pads (B, L) / (B, N) with True =
        padding; `group` samples form one reference batch. Returns the fused video (B, L, d)."""
        video_mask = self._tiled_mask(video_pad, text_pad, group)
        attended = self.text_to_video(
            video + video_pos,
            text + text_pos,
            text,
            key_padding_mask=text_pad,
            attn_mask=video_mask,
        )[0]
        video1 = self.norm1(video + self.linear1(self.dropout(attended)))
        attended = self.video_to_text(
            text + text_pos,
            video + video_pos,
            video,
            key_padding_mask=video_pad,
            attn_mask=self._tiled_mask(text_pad, video_pad, group),
        )[0]
        text1 = text + self.linear2(self.dropout(attended))
        attended = self.refined_text_to_video(
            video1, text1, text1, key_padding_mask=text_pad, attn_mask=video_mask
        )[0]
        fused = self.norm3(video1 + self.linear3(self.dropout(attended)))
        ffn = self.linear5(self.dropout(self.activation(self.linear4(fused))))
        return self.norm4((fused if self.ffn_residual else ffn) + self.dropout(ffn))
