"""BLIP-2 (blip2-itm-vit-g's architecture: EVA ViT-g/14 and the Q-Former, full sizes, random
weights) against transformers' own forward path of `Blip2ForImageTextRetrieval` (vision model,
query tokens, Q-Former, projections; the text through its embeddings and Q-Former), run on the
same module, so the weights are the same. fp32; tolerance: the largest difference at most 1e-4
of the largest value. Texts are prepared by LAVIS's caption processor, whose output is written
out here by hand from its rules (`lavis/processors/blip_processors.py`)."""

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import BlipImageProcessor

from extractors.blip2 import Blip2Encoder, lavis_caption
from extractors.registry import build_encoder

TOLERANCE = 1e-4
LONG = (
    "Three Kids (and their DOG) race down the hill: one falls, laughs, gets up again; "
    "the other two wait at the bottom by the old red barn until he catches up with them!"
)
# What LAVIS's BlipCaptionProcessor makes of each text: lower case; . ! " ( ) * # : ; ~ become
# spaces; runs of spaces become one; no spaces at the ends; commas, apostrophes stay.
TEXTS = {
    "A man walks his dog.": "a man walks his dog",
    'Chef: "Let\'s cook (fast)!"  #1 ~ done;*': "chef let's cook fast 1 done",
    LONG: (
        "three kids and their dog race down the hill one falls, laughs, gets up again the "
        "other two wait at the bottom by the old red barn until he catches up with them"
    ),
}


def draw_weights(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every weight drawn at the scale of trained ones (std 0.02; layer norms' scales near 1):
    transformers' own random initialisation leaves the vision tower at std 1e-10 and the query
    tokens at zero, which would hide most of what the vision tower and the queries do."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.02 * torch.randn(parameter.shape, generator=generator))
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)):
            norm.weight.add_(1.0)
    return model


def relative_difference(ours, theirs) -> float:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def test_lavis_caption_applies_lavis_rules():
    for raw, expected in TEXTS.items():
        assert lavis_caption(raw) == expected
    assert lavis_caption("  Tabs\tstay,\t\tdouble tabs go\n\n") == "tabs\tstay, double tabs go"
    sixty = " ".join(f"w{i}" for i in range(60))
    assert lavis_caption(sixty) == " ".join(f"w{i}" for i in range(50))


@pytest.fixture(scope="module")
def encoder():
    encoder = build_encoder(
        "blip2", size="full", device="cpu", random_weights=True, precision="fp32"
    )
    draw_weights(encoder.module)
    return encoder


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).integers(0, 256, (1, 1, 224, 224, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def upstream(encoder, frames):
    """transformers' forward (image-text contrastive branch) on the frame and the LAVIS-prepared
    texts, with the Q-Former's outputs (query states, then text states) recorded."""
    model = encoder.module
    processor = BlipImageProcessor(size={"height": 224, "width": 224})
    pixels = processor(
        [Image.fromarray(frame[0]) for frame in frames], return_tensors="pt"
    ).pixel_values
    tokens = encoder.tokenizer(list(TEXTS.values()), padding=True, return_tensors="pt")
    assert tokens.input_ids.shape[1] > 35  # the long text is longer than the old truncation
    qformer_outputs = []
    hook = model.qformer.register_forward_hook(
        lambda module, inputs, output: qformer_outputs.append(output.last_hidden_state)
    )
    with torch.inference_mode():
        output = model(
            pixel_values=pixels,
            input_ids=tokens.input_ids,
            attention_mask=tokens.attention_mask,
            use_image_text_matching_head=False,
        )
    hook.remove()
    query_states, text_states = qformer_outputs
    return {
        "query_states": query_states,
        "image_embeds": output.image_embeds,
        "text_states": text_states,
        "text_lengths": tokens.attention_mask.sum(dim=1).tolist(),
        "text_embeds": output.text_embeds,
    }


def test_video_features_equal_transformers_first_query_state(encoder, frames, upstream):
    features = encoder.encode_clips(frames)
    expected = upstream["query_states"][:, 0].numpy()
    assert features.shape == expected.shape == (1, 768)
    assert relative_difference(features, expected) <= TOLERANCE


def test_image_embeddings_equal_transformers_image_embeds(encoder, frames, upstream):
    embeddings = encoder.image_embeddings(frames[:, 0])
    assert relative_difference(embeddings, upstream["image_embeds"].numpy()) <= TOLERANCE


def test_text_features_are_transformers_states_of_the_lavis_prepared_text(encoder, upstream):
    features = encoder.encode_texts(list(TEXTS))
    for i, feature in enumerate(features):
        expected = upstream["text_states"][i, : upstream["text_lengths"][i]].numpy()
        assert feature.tokens.shape == expected.shape
        assert relative_difference(feature.tokens, expected) <= TOLERANCE
        assert relative_difference(feature.pooled, expected[0]) <= TOLERANCE
    embeddings = encoder.text_embeddings(list(TEXTS))
    assert relative_difference(embeddings, upstream["text_embeds"].numpy()) <= TOLERANCE


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.mark.parametrize(
    ("precision", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)]
)
def test_reduced_precision_runs_only_the_vision_tower_in_it(precision, dtype):
    """As LAVIS (only its ViT under autocast, its output `.float()`) and transformers
    (`_keep_in_fp32_modules`): the Q-Former, query tokens, text embeddings and projections stay
    float32; features agree with float32 ones at cosine >= 0.999 per row. The tiny size: the
    full one in two precisions at once would not fit this machine's memory budget."""
    exact = build_encoder("blip2", size="tiny", device="cpu", precision="fp32")
    draw_weights(exact.module)
    reduced = Blip2Encoder(
        copy.deepcopy(exact.module), exact.tokenizer, torch.device("cpu"), dtype, {}
    )
    for name, parameter in reduced.module.named_parameters():
        expected = dtype if name.startswith("vision_model.") else torch.float32
        assert parameter.dtype == expected, name
    clips = np.random.default_rng(1).integers(0, 256, (3, 1, 224, 224, 3), dtype=np.uint8)
    assert cosines(reduced.encode_clips(clips), exact.encode_clips(clips)).min() >= 0.999
    images = clips[:, 0]
    assert cosines(reduced.image_embeddings(images), exact.image_embeddings(images)).min() >= 0.999
    texts = list(TEXTS)
    for ours, theirs in zip(reduced.encode_texts(texts), exact.encode_texts(texts), strict=True):
        assert cosines(ours.tokens, theirs.tokens).min() >= 0.999
