"""The encoder interface on the tiny models, and the full architectures' output sizes."""

import numpy as np
import pytest
import torch

from extractors.base import TextEncoder, VideoEncoder
from extractors.registry import build_encoder, cpu_has_native_bf16, resolve_dtype
from extractors.slowfast import build_slowfast_model, fold_batch_norms

TINY_DIMS = {"clip": 32, "slowfast": 288, "blip2": 32}
FRAMES_PER_CLIP = {"image": 1, "slowfast": 32}


def frames(encoder, clips=3, seed=0):
    n = FRAMES_PER_CLIP[encoder.plan_kind]
    size = encoder.spec.size
    return np.random.default_rng(seed).integers(0, 256, (clips, n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ["clip", "slowfast", "blip2"])
def test_tiny_encoder_gives_one_float_row_per_clip(name):
    encoder = build_encoder(name, size="tiny", device="cpu")
    assert isinstance(encoder, VideoEncoder)
    features = encoder.encode_clips(frames(encoder))
    assert features.shape == (3, TINY_DIMS[name]) == (3, encoder.dim)
    assert features.dtype == np.float32
    assert np.isfinite(features).all()
    # Different clips give different features: the frames reach the model.
    assert not np.allclose(features[0], features[1])
    assert encoder.provenance["weights"] == "random"


def test_tiny_weights_are_seeded():
    first = build_encoder("clip", size="tiny", device="cpu", seed=3)
    second = build_encoder("clip", size="tiny", device="cpu", seed=3)
    batch = frames(first)
    assert np.array_equal(first.encode_clips(batch), second.encode_clips(batch))


@pytest.mark.parametrize("name", ["clip", "blip2"])
def test_text_features_have_one_row_per_real_token(name):
    encoder = build_encoder(name, size="tiny", device="cpu")
    assert isinstance(encoder, TextEncoder)
    short, long = encoder.encode_texts(["a dog", "a man walks his dog in the park"])
    assert short.tokens.shape[1] == long.tokens.shape[1] == encoder.text_dim
    assert short.tokens.shape[0] < long.tokens.shape[0]
    # [start] a dog [end]: 4 CLIP tokens; [CLS] a d ##o ##g [SEP]: 6 BLIP-2 tokens.
    assert short.tokens.shape[0] == {"clip": 4, "blip2": 6}[name]


def test_clip_end_token_through_the_projection_equals_encode_text():
    encoder = build_encoder("clip", size="tiny", device="cpu", precision="fp32")
    texts = ["a rabbit wakes up", "birds on a branch"]
    features = encoder.encode_texts(texts)
    with torch.inference_mode():
        expected = encoder.module.encode_text(encoder.tokenizer(texts)).numpy()
    for feature, row in zip(features, expected, strict=True):
        np.testing.assert_allclose(feature.pooled, row, rtol=1e-5, atol=1e-5)
        # The pooled vector is the last token's row, projected.
        projected = feature.tokens[-1] @ encoder.module.text_projection.detach().numpy()
        np.testing.assert_allclose(projected, row, rtol=1e-4, atol=1e-5)


def test_blip2_similarity_embeddings_are_normalised_and_match_the_itc_logits():
    encoder = build_encoder("blip2", size="tiny", device="cpu", precision="fp32")
    images = frames(encoder, clips=2)[:, 0]
    image_embeds = encoder.image_embeddings(images)
    text_embeds = encoder.text_embeddings(["a dog", "a cat"])
    assert image_embeds.shape == (2, 32, 16) and text_embeds.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(image_embeds, axis=-1), 1.0, rtol=1e-5)
    tokens = encoder.tokenizer(["a dog", "a cat"], padding=True, return_tensors="pt")
    pixels = encoder.to_tensor(
        images, (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    )
    with torch.inference_mode():
        logits = encoder.module(pixel_values=pixels, **tokens).logits_per_image.numpy()
    ours = (image_embeds @ text_embeds.T).max(axis=1)  # best query per (image, text)
    np.testing.assert_allclose(ours, logits, atol=1e-5)


@pytest.mark.parametrize(("name", "dim"), [("clip", 512), ("slowfast", 2304)])
def test_full_architectures_give_the_released_feature_sizes(name, dim):
    encoder = build_encoder(name, size="full", device="cpu", random_weights=True)
    assert encoder.encode_clips(frames(encoder, clips=1)).shape == (1, dim)
    assert encoder.provenance["weights"] == "random"


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.mark.parametrize("name", ["clip", "slowfast", "blip2"])
def test_bf16_features_point_where_fp32_ones_do(name):
    exact = build_encoder(name, size="tiny", device="cpu", precision="fp32")
    fast = build_encoder(name, size="tiny", device="cpu", precision="bf16")
    assert fast.provenance["dtype"] == "bfloat16" and exact.provenance["dtype"] == "float32"
    batch = frames(exact)
    expected, features = exact.encode_clips(batch), fast.encode_clips(batch)
    assert features.dtype == np.float32
    assert cosines(features, expected).min() > 0.99
    assert not np.array_equal(features, expected)  # bf16 was used


def test_folding_batch_norms_keeps_slowfast_s_function():
    torch.manual_seed(0)
    model = build_slowfast_model("tiny").eval()
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)):
        norm.running_mean.normal_(0, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.normal_(0, 0.5)
    clips = [torch.randn(2, 3, 2, 32, 32), torch.randn(2, 3, 8, 32, 32)]  # slow, fast

    def trunk(network):  # what the encoder runs: every stage but the head
        pathways = list(clips)  # the stages write into the list they are given
        for stage in network.blocks[:5]:
            pathways = stage(pathways)
        return torch.cat([p.flatten(1) for p in pathways], dim=1)

    with torch.inference_mode():
        expected = trunk(model)
        folded = fold_batch_norms(model)
        assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in folded.modules())
        np.testing.assert_allclose(trunk(folded), expected, rtol=1e-4, atol=1e-4)


def test_auto_precision_uses_bf16_only_on_cpus_that_have_it():
    assert cpu_has_native_bf16("flags\t: fpu avx512f avx512_bf16 avx512vl")
    assert cpu_has_native_bf16("flags\t: fpu amx_bf16 amx_tile")
    assert not cpu_has_native_bf16("flags\t: fpu avx2 avx512f avx512_vnni")
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert resolve_dtype("fp32", torch.device("cpu")) == torch.float32
    native = cpu_has_native_bf16()
    assert resolve_dtype("auto", torch.device("cpu")) == (
        torch.bfloat16 if native else torch.float32
    )
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        resolve_dtype("int4", torch.device("cpu"))


def test_unknown_encoder_is_refused():
    with pytest.raises(ValueError, match="unknown encoder 'i3d'"):
        build_encoder("i3d", size="tiny")
