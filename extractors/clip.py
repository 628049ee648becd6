"""CLIP ViT-B/32 (open_clip): 512-d image features per clip and token-level text features.

Video: `encode_image` of each clip's frame (projected, as in the released features).
Text, as the released QVHighlights text features were made: token embedding + positions ->
transformer (causal mask) -> `ln_final`, unprojected, one row per real token from the start
token to the end token; `pooled` is the end token's row times `text_projection`, which is
what `encode_text` returns.
"""

from __future__ import annotations

import numpy as np
import open_clip
import torch

from extractors.base import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    TextEncoder,
    TextFeatures,
    VideoEncoder,
)

FULL = {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12},
}
# Same classes, small dimensions: for tests and the demo.
TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "patch_size": 32, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def build_clip_model(size: str) -> open_clip.model.CLIP:
    config = {"full": FULL, "tiny": TINY}[size]
    return open_clip.model.CLIP(
        embed_dim=config["embed_dim"],
        vision_cfg=open_clip.model.CLIPVisionCfg(**config["vision_cfg"]),
        text_cfg=open_clip.model.CLIPTextCfg(**config["text_cfg"]),
    )


class ClipEncoder(VideoEncoder, TextEncoder):
    name = "clip"
    plan_kind = "image"
    batch_size = 64

    def __init__(self, model: open_clip.model.CLIP, device, dtype, provenance):
        super().__init__(model, device, dtype, provenance)
        self.dim = model.visual.output_dim
        self.text_dim = model.transformer.width
        self.tokenizer = open_clip.get_tokenizer("ViT-B-32")

    @torch.inference_mode()
    def encode_clips(self, frames: np.ndarray) -> np.ndarray:
        images = self.to_tensor(frames[:, 0], OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
        return self.module.encode_image(images).float().cpu().numpy()

    @torch.inference_mode()
    def token_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, 77) token ids -> (B, 77, width) states after ln_final, before the projection."""
        model = self.module
        x = model.token_embedding(tokens).to(self.dtype) + model.positional_embedding.to(self.dtype)
        x = model.transformer(x, attn_mask=model.attn_mask)
        return model.ln_final(x)

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> list[TextFeatures]:
        tokens = self.tokenizer(texts).to(self.device)
        states = self.token_states(tokens)
        ends = tokens.argmax(dim=-1)  # the end token has the largest id
        pooled = states[torch.arange(len(texts)), ends] @ self.module.text_projection
        return [
            TextFeatures(
                states[i, : ends[i] + 1].float().cpu().numpy(), pooled[i].float().cpu().numpy()
            )
            for i in range(len(texts))
        ]
