"""phi: the best of the 32 query cosines (BLIP-2 ITC), or CLIP's cosine."""

import numpy as np

from extractors.registry import build_encoder
from synth.score import Scorer, similarity


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_similarity_takes_the_best_query_of_each_frame():
    images = unit(np.array([[[1.0, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [-0.6, -0.8]]]))  # (2, 2, 2)
    texts = unit(np.array([[0.6, 0.8], [1.0, 0.0]]))
    expected = np.array([[0.8, -0.6], [1.0, -0.6]])
    np.testing.assert_allclose(similarity(images, texts), expected, atol=1e-6)


def test_blip2_phi_is_the_best_query_cosine(tiny_models):
    scorer = tiny_models.scorer
    frames = np.random.default_rng(0).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    texts = ["a dog on the grass", "two men play football"]
    images = scorer.image_embeddings(frames)
    assert images.shape == (3, 32, 16)
    raw_images = scorer.encoder.image_embeddings(frames)
    raw_texts = scorer.encoder.text_embeddings(texts)
    expected = np.array(
        [[max(unit(q) @ unit(t) for q in frame) for frame in raw_images] for t in raw_texts]
    )
    np.testing.assert_allclose(scorer.score(images, texts), expected, atol=1e-5)


def test_clip_phi_is_the_cosine_of_image_and_sentence_embeddings():
    encoder = build_encoder("clip", size="tiny", device="cpu")
    scorer = Scorer("clip", encoder)
    frames = np.random.default_rng(1).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    texts = ["a rabbit wakes up"]
    image = encoder.encode_clips(frames[:, None])
    text = encoder.encode_texts(texts)[0].pooled
    expected = [[float(unit(row) @ unit(text)) for row in image]]
    np.testing.assert_allclose(
        scorer.score(scorer.image_embeddings(frames), texts), expected, atol=1e-5
    )
