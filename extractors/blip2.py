"""BLIP-2 feature extractor (transformers `Blip2ForImageTextRetrieval`, Salesforce/blip2-itm-vit-g).

The LAVIS `blip2_feature_extractor` ('pretrain') conventions that VideoLights used:
- video: the Q-Former output for each clip's frame, first of the 32 query tokens, 768-d,
  unprojected;
- text: LAVIS's caption processor first (`lavis_caption`), then the tokenizer without truncation
  (LAVIS's `extract_features` pads and does not truncate); the Q-Former's token-level text
  states (768-d per token, [CLS] included), pooled = the [CLS] row;
- for caption-to-frame similarity (`synth`): the projected, L2-normalised 256-d embeddings of
  the 32 queries (B, 32, 256) and of the text's first token (B, 256).
- precision: only the vision tower runs in the encoder's dtype; its states are cast to float32
  before the Q-Former, which stays float32 with the query tokens, the text embeddings and the
  projections (LAVIS runs only its ViT under autocast, and transformers keeps `query_tokens` and
  `qformer` in float32 too).
salesforce-lavis cannot be installed beside the rest (see the README); transformers carries the
same model and loads the same Salesforce weights.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import (
    Blip2Config,
    Blip2ForImageTextRetrieval,
    Blip2QFormerConfig,
    Blip2VisionConfig,
    PreTrainedTokenizerFast,
)

from extractors.base import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    Encoder,
    TextEncoder,
    TextFeatures,
    VideoEncoder,
)

# LAVIS's `BlipCaptionProcessor` (the feature extractor's "eval" text processor): these characters
# become spaces, and a caption keeps at most 50 words.
CAPTION_PUNCTUATION = re.compile(r'[.!"()*#:;~]')
CAPTION_MAX_WORDS = 50


def lavis_caption(text: str) -> str:
    """A text as LAVIS's caption processor hands it to the tokenizer: lower case, the characters
    . ! " ( ) * # : ; ~ turned into spaces, each run of two or more whitespace characters into
    one space, no spaces at either end, the first 50 space-separated words."""
    text = CAPTION_PUNCTUATION.sub(" ", text.lower())
    text = re.sub(r"\s{2,}", " ", text).rstrip("\n").strip(" ")
    return " ".join(text.split(" ")[:CAPTION_MAX_WORDS])


# The vision tower and Q-Former of BLIP-2 (EVA ViT-g/14 and BERT-base), shared by the feature
# extractor here and the captioner in synth; `tiny` keeps the classes with small dimensions.
VISION = {
    "full": {
        "hidden_size": 1408,
        "intermediate_size": 6144,
        "num_hidden_layers": 39,
        "num_attention_heads": 16,
    },
    "tiny": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
    },
}
QFORMER = {
    "full": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "cross_attention_frequency": 2,
        "encoder_hidden_size": 1408,
    },
    "tiny": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "cross_attention_frequency": 1,
        "encoder_hidden_size": 32,
    },
}


def vision_config(size: str, **overrides) -> Blip2VisionConfig:
    return Blip2VisionConfig(
        image_size=224, patch_size=14, qkv_bias=True, **(VISION[size] | overrides)
    )


def qformer_config(size: str, **overrides) -> Blip2QFormerConfig:
    return Blip2QFormerConfig(**(QFORMER[size] | overrides))


def feature_config(size: str, vocab_size: int = 30523) -> Blip2Config:
    """Salesforce/blip2-itm-vit-g's architecture (`full`), or its tiny variant."""
    qformer = qformer_config(size, vocab_size=vocab_size, use_qformer_text_input=True)
    return Blip2Config(
        vision_config=vision_config(size).to_dict(),
        qformer_config=qformer.to_dict(),
        num_query_tokens=32,
        image_text_hidden_size=256 if size == "full" else 16,
    )


def character_tokenizer() -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer over single characters, for tiny random models: no
    vocabulary file exists offline, and a real one would only waste a tiny model's embeddings."""
    characters = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'\"-:;()&/"
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens = special + list(characters) + [f"##{c}" for c in characters]
    backend = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


@torch.inference_mode()
def vision_states(encoder: Encoder, frames: np.ndarray) -> torch.Tensor:
    """The last states (B, 257, vision width) of a BLIP-2 encoder's vision tower for frames
    (B, H, W, 3) uint8; for the feature extractor and the captioner alike."""
    pixels = encoder.to_tensor(frames, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
    return encoder.module.vision_model(pixel_values=pixels).last_hidden_state


@torch.inference_mode()
def query_states(model: torch.nn.Module, image_states: torch.Tensor) -> torch.Tensor:
    """A BLIP-2 model's Q-Former over vision states (B, 257, width): query states (B, 32,
    hidden); for the retrieval and the generation model alike."""
    queries = model.query_tokens.expand(len(image_states), -1, -1)
    image_states = image_states.to(queries.dtype)  # LAVIS's `.float()` after its ViT
    mask = torch.ones(image_states.shape[:-1], dtype=torch.long, device=image_states.device)
    return model.qformer(
        query_embeds=queries, encoder_hidden_states=image_states, encoder_attention_mask=mask
    ).last_hidden_state


class Blip2Encoder(VideoEncoder, TextEncoder):
    name = "blip2"
    plan_kind = "image"
    batch_size = 16

    def __init__(self, model: Blip2ForImageTextRetrieval, tokenizer, device, dtype, provenance):
        super().__init__(model, device, dtype, provenance)
        self.tokenizer = tokenizer
        self.dim = self.text_dim = model.config.qformer_config.hidden_size
        self.max_text_tokens = model.config.qformer_config.max_position_embeddings

    def fp32_parts(self, module: Blip2ForImageTextRetrieval, dtype: torch.dtype) -> set[str]:
        """Everything but the vision tower (see the module's docstring)."""
        return {name.split(".", 1)[0] for name, _ in module.named_parameters()} - {"vision_model"}

    def vision_states(self, frames: np.ndarray) -> torch.Tensor:
        """frames (B, H, W, 3) uint8 -> the vision tower's last states (B, 257, vision width)."""
        return vision_states(self, frames)

    def query_states(self, image_states: torch.Tensor) -> torch.Tensor:
        """Vision states (B, 257, vision width) -> Q-Former query states (B, 32, hidden)."""
        return query_states(self.module, image_states)

    def encode_clips(self, frames: np.ndarray) -> np.ndarray:
        states = self.query_states(self.vision_states(frames[:, 0]))
        return states[:, 0].float().cpu().numpy()

    def image_embeddings(self, frames: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 -> projected, normalised query embeddings (B, 32, 256)."""
        return self.embed_vision_states(self.vision_states(frames))

    @torch.inference_mode()
    def embed_vision_states(self, image_states: torch.Tensor) -> np.ndarray:
        """`image_embeddings` from the frames' `vision_states`."""
        projected = self.module.vision_projection(self.query_states(image_states))
        return torch.nn.functional.normalize(projected.float(), dim=-1).cpu().numpy()

    @torch.inference_mode()
    def text_states(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        # Truncated only where the Q-Former's positions end (512), where LAVIS would fail.
        batch = self.tokenizer(
            [lavis_caption(text) for text in texts],
            padding=True,
            truncation=True,
            max_length=self.max_text_tokens,
            return_tensors="pt",
        ).to(self.device)
        embeddings = self.module.embeddings(input_ids=batch["input_ids"])
        states = self.module.qformer(
            query_embeds=embeddings, query_length=0, attention_mask=batch["attention_mask"]
        ).last_hidden_state
        return states, batch["attention_mask"]

    def encode_texts(self, texts: list[str]) -> list[TextFeatures]:
        states, mask = self.text_states(texts)
        lengths = mask.sum(dim=1).tolist()
        states = states.float().cpu().numpy()
        return [TextFeatures(states[i, :n], states[i, 0]) for i, n in enumerate(lengths)]

    @torch.inference_mode()
    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        """Projected, normalised first-token embeddings (B, 256)."""
        states, _ = self.text_states(texts)
        projected = self.module.text_projection(states[:, 0])
        return torch.nn.functional.normalize(projected.float(), dim=-1).cpu().numpy()
