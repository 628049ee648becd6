"""Feature refinement and alignment (FRA): refine projected clips with the query.

Per clip, four d-dim parts are mixed by a per-position linear map (4d -> d) and a ReLU:
the clip itself, its cosine similarity to the pooled sentence (a scalar spread over d by a
learned vector), the pooled sentence, and a word-clip correlation term.

Reference quirk (kept by default): the correlation term is a softmax over words of
(word . clip) times a matrix whose rows are all the same learned vector, so it is the constant
vector cor_q_w * cor_v_w whatever the input. `informative_correlation=True` instead uses the
softmax weights to pool the words (scaled by cor_v_w), so each clip gets its own text summary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.network.dropout import Dropout


class WeightedPool(nn.Module):
    """Attention pooling of word features into one sentence vector: (B, N, d) -> (B, d)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, 1)))

    def forward(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = (words @ self.weight).squeeze(-1) + (1.0 - mask.to(words.dtype)) * -1e30
        return (logits.softmax(dim=1).unsqueeze(-1) * words).sum(dim=1)


class FeatureRefinement(nn.Module):
    def __init__(self, dim: int, dropout: float = 0.1, informative_correlation: bool = False):
        super().__init__()
        self.dropout = Dropout(dropout)
        self.sim_w = nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, 1)))
        self.cor_v_w = nn.Parameter(nn.init.xavier_uniform_(torch.empty(1, dim)))
        self.cor_q_w = nn.Parameter(nn.init.xavier_uniform_(torch.empty(1, 1)))
        self.pool = WeightedPool(dim)
        self.mixer = nn.Linear(4 * dim, dim)
        self.informative_correlation = informative_correlation

    def forward(self, video, text, video_mask, text_mask) -> torch.Tensor:
        """video (B, L, d), text (B, N, d), masks (B, L) / (B, N) with 1 = valid -> (B, L, d)."""
        scores = (text @ video.transpose(1, 2)).softmax(dim=1)  # (B, N, L), over words
        if self.informative_correlation:
            correlation = scores.transpose(1, 2) @ (text * self.cor_v_w)
        else:
            correlation = scores.transpose(1, 2) @ (self.cor_q_w * self.cor_v_w).expand_as(text)
        correlation = self.dropout(correlation)
        sentence = self.pool(text, text_mask).unsqueeze(1)  # (B, 1, d)
        similarity = (
            F.cosine_similarity(video, sentence, dim=-1)
            + (video_mask.to(video.dtype) + 1e-45).log()
        )
        similarity = self.dropout(similarity.unsqueeze(-1) * self.sim_w.squeeze(-1))  # (B, L, d)
        pooled = self.dropout(sentence.expand_as(video))
        mixed = torch.cat([self.dropout(video), similarity, pooled, correlation], dim=-1)
        return self.dropout(F.relu(self.mixer(mixed)))
