"""VideoLights (arXiv 2412.01558): the whole network.

video (B, L, Dv), text (B, N, Dt)
  -> convolutional projections to d = 256 each
  -> feature refinement of the clips with the query (FRA)
  -> [global token; clips; words] through Bi-CMF, then [global; clips] through the encoder
  -> anchor decoder over the clips: 10 moment queries -> class and span heads
  -> saliency per clip from the clip memory and the global token,
     and again for a negative pair (each video with the next sample's query)
  -> Uni-JFM: a GRU over the top moment's clips reweights the memory (MR -> HD saliency)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.config import ModelConfig
from model.network.bicmf import BiCMFLayer
from model.network.decoder import AnchorDecoder
from model.network.dropout import set_sampler
from model.network.encoder import EncoderLayer
from model.network.layers import MLP, clones, inverse_sigmoid, projection, sine_positions
from model.network.refinement import FeatureRefinement
from model.spans import cxw_to_xx


@dataclass(frozen=True, kw_only=True)
class NetworkConfig(ModelConfig):
    """The architecture (ModelConfig) plus the input sizes it is built for."""

    video_dim: int
    text_dim: int
    clip_length: float = 2.0


class VideoLights(nn.Module):
    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        d = config.hidden_dim
        self.input_vid_proj = projection(
            config.video_dim, d, config.input_dropout, config.projection_layers
        )
        self.input_txt_proj = projection(
            config.text_dim, d, config.input_dropout, config.projection_layers
        )
        self.feature_refinement = FeatureRefinement(
            d, config.dropout, config.informative_correlation
        )
        self.global_rep_token = nn.Parameter(torch.randn(d))
        self.global_rep_pos = nn.Parameter(torch.randn(d))
        self.bicmf = clones(
            BiCMFLayer(
                d,
                config.heads,
                config.ffn_dim,
                config.dropout,
                config.bicmf_ffn_residual,
                config.bicmf_sample_masks,
            ),
            config.bicmf_layers,
        )
        self.encoder = clones(
            EncoderLayer(d, config.heads, config.ffn_dim, config.dropout), config.encoder_layers
        )
        self.decoder = AnchorDecoder(
            d, config.heads, config.ffn_dim, config.dropout, config.decoder_layers
        )
        self._xavier_init(self.bicmf, self.encoder, self.decoder)
        self.query_embed = nn.Embedding(config.num_queries, 2)
        self.class_embed = nn.Linear(d, 2)  # index 0 = foreground
        self.span_embed = MLP(d, d, 2, 3)
        self.saliency_proj1 = nn.Linear(d, d)
        self.saliency_proj2 = nn.Linear(d, d)
        self.saliency_proj_mr = nn.Linear(d, d)
        self.gru = nn.GRU(d, d, num_layers=1, batch_first=True)
        self.contrastive_align_projection_query = nn.Linear(d, config.contrastive_dim)
        self.contrastive_align_projection_txt = nn.Linear(d, config.contrastive_dim)
        set_sampler(self, config.dropout_sampler)

    @staticmethod
    def _xavier_init(*modules: nn.Module) -> None:
        """The reference initialises every matrix of its transformer with Xavier-uniform after
        building the layers, overriding their own initialisation (even the decoder's zeroed last
        box layer: only its bias stays zero)."""
        for module in modules:
            for parameter in module.parameters():
                if parameter.dim() > 1:
                    nn.init.xavier_uniform_(parameter)

    def transformer(self, video, text, video_mask, text_mask, video_pos, group: int):
        """Bi-CMF over [global; video; text], then the encoder over [global; video].
        Returns the clip memory (B, L, d) and the global token's memory (B, d)."""
        batch = video.shape[0]
        global_token = self.global_rep_token.expand(batch, 1, -1)
        global_pos = self.global_rep_pos.expand(batch, 1, -1)
        video_pad, text_pad = ~video_mask.bool(), ~text_mask.bool()
        text_pos = torch.zeros_like(text)
        for layer in self.bicmf:
            video = layer(video, text, video_pos, text_pos, video_pad, text_pad, group)
        x = torch.cat([global_token, video], dim=1)
        pos = torch.cat([global_pos, video_pos], dim=1)
        pad = torch.cat([video_pad.new_zeros(batch, 1), video_pad], dim=1)
        for layer in self.encoder:
            x = layer(x, pos, pad)
        return x[:, 1:], x[:, 0]

    def saliency(self, clip_memory: torch.Tensor, global_memory: torch.Tensor) -> torch.Tensor:
        """(B, L, d), (B, d) -> (B, L): scaled dot product of two projections."""
        scores = self.saliency_proj1(clip_memory) * self.saliency_proj2(global_memory).unsqueeze(1)
        return scores.sum(-1) / math.sqrt(self.config.hidden_dim)

    def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask) -> dict:
        """src_txt (B, N, Dt), src_txt_mask (B, N), src_vid (B, L, Dv), src_vid_mask (B, L);
        masks are 1 where valid. Returns pred_logits (B, Q, 2), pred_spans (B, Q, 2) as
        normalised (centre, width), saliency_scores (B, L), and what the losses need."""
        video = self.input_vid_proj(src_vid)
        text = self.input_txt_proj(src_txt)
        projected_video = video
        video = self.feature_refinement(video, text, src_vid_mask, src_txt_mask)
        # Computed in float32 whatever the features' type, as the reference does.
        video_pos = sine_positions(src_vid_mask, self.config.hidden_dim).to(video.dtype)

        # Positive pairs and negative pairs (each video with the next sample's query) share
        # one pass through the transformer: twice the batch, the same numbers as two passes.
        batch = video.shape[0]
        memory, global_memory = self.transformer(
            torch.cat([video, video]),
            torch.cat([text, torch.roll(text, shifts=-1, dims=0)]),
            torch.cat([src_vid_mask, src_vid_mask]),
            torch.cat([src_txt_mask, torch.roll(src_txt_mask, shifts=-1, dims=0)]),
            torch.cat([video_pos, video_pos]),
            group=batch,
        )
        clip_memory, negative_memory = memory[:batch], memory[batch:]
        global_memory, negative_global = global_memory[:batch], global_memory[batch:]
        hidden, references = self.decoder(
            self.query_embed.weight, clip_memory, video_pos, ~src_vid_mask.bool()
        )
        logits = self.class_embed(hidden)  # (layers, B, Q, 2)
        spans = (self.span_embed(hidden) + inverse_sigmoid(references)).sigmoid()
        proj_queries = F.normalize(self.contrastive_align_projection_query(hidden), dim=-1)
        proj_text = F.normalize(self.contrastive_align_projection_txt(text), dim=-1)

        outputs = {
            "pred_logits": logits[-1],
            "pred_spans": spans[-1],
            "proj_queries": proj_queries[-1],
            "proj_txt_mem": proj_text,
            "saliency_scores": self.saliency(clip_memory, global_memory),
            "saliency_scores_neg": self.saliency(negative_memory, negative_global),
            "saliency_scores_mr": self.saliency_from_moment(
                projected_video, clip_memory, logits[-1], spans[-1]
            ),
            "video_mask": src_vid_mask,
            "src_txt": text,
            "src_vid": video,
            "aux_outputs": [
                {"pred_logits": a, "pred_spans": b, "proj_queries": c, "proj_txt_mem": proj_text}
                for a, b, c in zip(logits[:-1], spans[:-1], proj_queries[:-1], strict=True)
            ],
        }
        return outputs

    def saliency_from_moment(self, projected_video, clip_memory, logits, spans) -> torch.Tensor:
        """Uni-JFM's MR -> HD path: the clips of the most confident moment (in the padded
        length, as the reference does) run through a GRU; its state reweights the clip memory.
        (B, L, d), (B, L, d), (B, Q, 2), (B, Q, 2) -> (B, L)."""
        batch, length, _ = clip_memory.shape
        best = logits.softmax(-1)[..., 0].argmax(dim=-1)
        window = cxw_to_xx(spans[torch.arange(batch), best]) * length  # in clips
        window = torch.floor(window.detach()).long()
        sliced = projected_video.new_zeros(projected_video.shape)
        for b in range(batch):
            start, end = int(window[b, 0]), int(window[b, 1])
            piece = projected_video[b, start : end + 1]  # Python slicing, negative start included
            sliced[b, : len(piece)] = piece
        _, state = self.gru(sliced)
        weight = (state[-1].unsqueeze(1) @ projected_video.transpose(1, 2)).squeeze(1)  # (B, L)
        reweighted = clip_memory * weight.unsqueeze(-1) + clip_memory
        return self.saliency_proj_mr(reweighted).sum(-1) / math.sqrt(self.config.hidden_dim)
