"""Algorithm 1, step 3: phi, the similarity between a caption and a clip's frame.

`blip2` (default): BLIP-2 ITC as LAVIS computes it, through `extractors.blip2.Blip2Encoder`: the
32 projected, normalised query embeddings of the frame (32, 256) against the projected,
normalised embedding of the caption's first token (256,); phi is the best of the 32 cosines.
`clip`: the cosine between CLIP's image embedding and its sentence embedding (one "query").

Both reduce to `similarity(images (L, Q, D), texts (M, D)) -> (M, L)` over unit vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from extractors.base import VideoEncoder
from extractors.registry import build_encoder

SIMILARITIES = ("blip2", "clip")


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Unit length along the last axis (a zero vector stays zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def similarity(images: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """images (L, Q, D) and texts (M, D), unit vectors -> (M, L): for each text and frame, the
    best cosine over the frame's Q query embeddings."""
    if len(images) == 0 or len(texts) == 0:
        return np.zeros((len(texts), len(images)), np.float32)
    cosines = np.einsum("lqd,md->mlq", images, texts)
    return cosines.max(axis=-1).astype(np.float32)


class Scorer:
    """phi through one frozen encoder: `image_embeddings` of frames, `text_embeddings` of
    captions, both unit vectors."""

    def __init__(self, name: str, encoder: VideoEncoder):
        if name not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {name!r}")
        self.name = name
        self.encoder = encoder
        self.batch_size = encoder.batch_size

    @property
    def provenance(self) -> dict:
        return self.encoder.provenance

    def image_embeddings(self, frames: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 -> (B, Q, D) unit vectors (Q = 32 for BLIP-2, 1 for CLIP)."""
        if self.name == "blip2":
            return self.encoder.image_embeddings(frames)
        return normalize(self.encoder.encode_clips(frames[:, None]))[:, None]

    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        """B captions -> (B, D) unit vectors."""
        if self.name == "blip2":
            return self.encoder.text_embeddings(texts)
        return normalize(np.stack([f.pooled for f in self.encoder.encode_texts(texts)]))

    def score(self, images: np.ndarray, texts: list[str]) -> np.ndarray:
        """images (L, Q, D) from `image_embeddings`, M captions -> phi (M, L)."""
        return similarity(images, self.text_embeddings(texts))


def build_scorer(
    name: str = "blip2",
    size: str = "full",
    weights: str | Path | None = None,
    device: str = "auto",
    random_weights: bool = False,
    seed: int = 0,
    precision: str = "auto",
) -> Scorer:
    """phi's encoder: the BLIP-2 feature extractor (blip2-itm-vit-g) or CLIP ViT-B/32."""
    if name not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {name!r}")
    return Scorer(name, build_encoder(name, size, weights, device, random_weights, seed, precision))
