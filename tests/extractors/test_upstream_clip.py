"""CLIP ViT-B/32 against OpenAI's own CLIP code (the `clip-anytorch` package): the full
architecture, the same random weights on both sides, fp32. Tolerance: the largest difference at
most 1e-4 of the largest value (GELU instead of QuickGELU moves them by about 1%)."""

import importlib
import importlib.util
import sys
import types

import av
import numpy as np
import packaging.version
import pytest
import torch
from PIL import Image

from extractors.registry import build_encoder
from pipeline.decode import RgbConverter
from pipeline.plans import FrameSpec

TOLERANCE = 1e-4


def import_openai_clip():
    """clip-anytorch takes `packaging` from setuptools' pkg_resources, which setuptools >= 81
    no longer ships; give it the `packaging` it means when pkg_resources is missing."""
    if importlib.util.find_spec("pkg_resources") is None and "pkg_resources" not in sys.modules:
        shim = types.ModuleType("pkg_resources")
        shim.packaging = packaging
        sys.modules["pkg_resources"] = shim
    return importlib.import_module("clip")


def relative_difference(ours, theirs) -> float:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.fixture(scope="module")
def openai_clip():
    return import_openai_clip()


@pytest.fixture(scope="module")
def encoders(openai_clip):
    """Ours (open_clip's factory) and OpenAI's CLIP class with ViT-B/32's published sizes,
    holding our random weights."""
    ours = build_encoder("clip", size="full", device="cpu", random_weights=True, precision="fp32")
    theirs = openai_clip.model.CLIP(
        embed_dim=512,
        image_resolution=224,
        vision_layers=12,
        vision_width=768,
        vision_patch_size=32,
        context_length=77,
        vocab_size=49408,
        transformer_width=512,
        transformer_heads=8,
        transformer_layers=12,
    )
    theirs.load_state_dict(ours.module.state_dict(), strict=True)
    return ours, theirs.eval()


def test_image_features_equal_openai_encode_image(encoders, openai_clip):
    ours, theirs = encoders
    frames = np.random.default_rng(0).integers(0, 256, (2, 1, 224, 224, 3), dtype=np.uint8)
    preprocess = openai_clip.clip._transform(224)
    pixels = torch.stack([preprocess(Image.fromarray(frame[0])) for frame in frames])
    with torch.inference_mode():
        expected = theirs.encode_image(pixels).numpy()
    assert relative_difference(ours.encode_clips(frames), expected) <= TOLERANCE


def test_text_token_states_and_pooled_vector_equal_openai_encode_text(encoders, openai_clip):
    ours, theirs = encoders
    texts = [
        "A man walks his dog.",
        "birds on a branch",
        "Two friends cook dinner in a small kitchen, then sit down to eat it together!",
    ]
    tokens = openai_clip.tokenize(texts)
    assert torch.equal(ours.tokenizer(texts), tokens)
    captured = {}
    hook = theirs.ln_final.register_forward_hook(
        lambda module, inputs, output: captured.update(states=output)
    )
    with torch.inference_mode():
        pooled = theirs.encode_text(tokens).numpy()
    hook.remove()
    ends = tokens.argmax(dim=-1)  # OpenAI pools at the end token, the largest id
    for i, feature in enumerate(ours.encode_texts(texts)):
        expected_states = captured["states"][i, : ends[i] + 1].numpy()
        assert feature.tokens.shape == expected_states.shape
        assert relative_difference(feature.tokens, expected_states) <= TOLERANCE
        assert relative_difference(feature.pooled, pooled[i]) <= TOLERANCE


def test_video_frames_are_prepared_as_openai_prepares_an_image(bundled_video, openai_clip):
    """Our frame path (swscale's bicubic short-side resize and centre crop in decoding, then the
    encoder's normalisation) against OpenAI's `_transform` (PIL's bicubic resize, centre crop,
    normalisation) on the same decoded 1280x720 frame. The two resamplers differ in rounding
    and filter support, so the bounds are on the normalised pixels' mean and 99th percentile;
    a crop one pixel off, a wrong channel order or other constants move them several-fold."""
    encoder = build_encoder("clip", size="tiny", device="cpu", precision="fp32")
    preprocess = openai_clip.clip._transform(224)
    convert = RgbConverter(rotation=0)
    with av.open(str(bundled_video)) as container:
        frames = [f for i, f in enumerate(container.decode(video=0)) if i % 240 == 120]
    for frame in frames:
        expected = preprocess(Image.fromarray(frame.to_ndarray(format="rgb24"))).numpy()
        image = convert(frame, FrameSpec())
        ours = encoder.pixels(image[None])[0].numpy()
        difference = np.abs(ours - expected)
        assert ours.shape == expected.shape == (3, 224, 224)
        assert difference.mean() < 0.025
        assert np.percentile(difference, 99) < 0.2
