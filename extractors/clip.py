"""CLIP ViT-B/32 (open_clip's `ViT-B-32-quickgelu`, OpenAI's architecture): 512-d image
features per clip and token-level text features.

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

# open_clip's own configuration of OpenAI's ViT-B/32: QuickGELU, as the OpenAI weights were
# trained (open_clip's `openai` tag sets it too; plain `ViT-B-32` would use GELU).
MODEL_NAME = "ViT-B-32-quickgelu"
# Same classes, small dimensions (tests and the demo): overrides of the factory's configuration.
TINY = {
    "embed_dim": 32,
    "vision_cfg": {"layers": 2, "width": 64, "head_width": 32},
    "text_cfg": {"width": 64, "heads": 2, "layers": 2},
}


def build_clip_model(size: str) -> open_clip.model.CLIP:
    """open_clip's factory, random weights (the registry loads real ones)."""
    overrides = {}
    if size == "tiny":
        config = open_clip.get_model_config(MODEL_NAME)
        overrides = {
            "embed_dim": TINY["embed_dim"],
            "vision_cfg": config["vision_cfg"] | TINY["vision_cfg"],
            "text_cfg": config["text_cfg"] | TINY["text_cfg"],
        }
    elif size != "full":
        raise ValueError(f"unknown size {size!r}")
    return open_clip.create_model(MODEL_NAME, pretrained=None, **overrides)


class ClipEncoder(VideoEncoder, TextEncoder):
    name = "clip"
    plan_kind = "image"
    batch_size = 64

    def __init__(self, model: open_clip.model.CLIP, device, dtype, provenance):
        super().__init__(model, device, dtype, provenance)
        self.dim = model.visual.output_dim
        self.text_dim = model.transformer.width
        self.tokenizer = open_clip.get_tokenizer(MODEL_NAME)

    def pixels(self, images: np.ndarray) -> torch.Tensor:
        """(B, 224, 224, 3) uint8 RGB -> (B, 3, 224, 224) as CLIP was trained on them."""
        return self.to_tensor(images, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)

    @torch.inference_mode()
    def encode_clips(self, frames: np.ndarray) -> np.ndarray:
        return self.module.encode_image(self.pixels(frames[:, 0])).float().cpu().numpy()

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
