"""The README's switches ("Where the reference code departs from the paper"): each does what the
table says, checked against a computation written out here (numpy, or the definition itself:
a sample alone), not against our own code."""

import numpy as np
import pytest
import torch

from model.config import DataConfig
from model.data import MomentDataset, assemble_inputs
from model.losses import LossConfig, Targets, saliency_loss, video_text_alignment
from model.network.bicmf import BiCMFLayer
from model.network.refinement import FeatureRefinement

# loss.mask_padding ---------------------------------------------------------------------------

MASKED = LossConfig(mask_padding=True)


def saliency_sample(seed: int, clips: int) -> dict:
    """One sample's saliency outputs and targets; scores positive so that a padded zero would
    be the batch's minimum."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(clips, np.float32)
    labels[1:4] = rng.integers(1, 12, 3)
    return {
        "saliency_scores": rng.uniform(0.5, 3.0, clips),
        "saliency_scores_neg": rng.normal(size=clips),
        "saliency_scores_mr": rng.uniform(0.5, 3.0, clips),
        "src_vid": rng.normal(size=(clips, 6)),
        "src_txt": rng.normal(size=(3, 6)),
        "labels": labels,
        "pos": [int(np.argmax(labels)), 1],
        "neg": [0, clips - 1],
    }


def batch_of(samples: list[dict], length: int):
    """Outputs and targets of `samples` padded to `length` clips, padded clips scored 5 (a
    network's outputs there are arbitrary)."""
    outputs = {"video_mask": torch.zeros(len(samples), length)}
    for key in ("saliency_scores", "saliency_scores_neg", "saliency_scores_mr"):
        outputs[key] = torch.full((len(samples), length), 5.0)
    outputs["src_vid"] = torch.full((len(samples), length, 6), 7.0)
    outputs["src_txt"] = torch.tensor(np.stack([s["src_txt"] for s in samples]), dtype=torch.float)
    labels = torch.zeros(len(samples), length)
    for row, sample in enumerate(samples):
        clips = len(sample["labels"])
        outputs["video_mask"][row, :clips] = 1
        for key in ("saliency_scores", "saliency_scores_neg", "saliency_scores_mr", "src_vid"):
            outputs[key][row, :clips] = torch.tensor(sample[key], dtype=torch.float)
        labels[row, :clips] = torch.tensor(sample["labels"])
    targets = Targets(
        [torch.zeros(0, 2)] * len(samples),
        labels,
        torch.tensor([s["pos"] for s in samples]),
        torch.tensor([s["neg"] for s in samples]),
    )
    return outputs, targets


def losses(samples, length, config=MASKED, epoch=2) -> tuple[float, float]:
    outputs, targets = batch_of(samples, length)
    return (
        float(saliency_loss(outputs, targets, config, epoch)),
        float(video_text_alignment(outputs, targets, config)),
    )


def test_mask_padding_a_padded_batch_has_the_losses_of_the_unpadded_one():
    samples = [saliency_sample(seed, 8) for seed in range(3)]
    unpadded = losses(samples, 8)
    assert losses(samples, 13) == pytest.approx(unpadded, rel=1e-6)
    # The reference's way (the default) does depend on the padding.
    assert losses(samples, 13, LossConfig()) != pytest.approx(losses(samples, 8, LossConfig()))


def test_mask_padding_label_cosine_terms_are_per_sample():
    """The label-cosine (and MR-to-HD cosine) terms are sums over samples: in a padded batch of
    different lengths each sample contributes what it does alone."""
    samples = [saliency_sample(0, 5), saliency_sample(1, 9)]
    cosine_only = LossConfig(mask_padding=True, hard_pos_neg=0.0)
    without = LossConfig(mask_padding=True, hard_pos_neg=0.0, cos_sim=0.0, mr_to_hd=0.0)

    def cosine_terms(batch, length):
        return losses(batch, length, cosine_only)[0] - losses(batch, length, without)[0]

    together = cosine_terms(samples, 12)
    alone = sum(cosine_terms([s], len(s["labels"])) for s in samples)
    assert together == pytest.approx(alone, rel=1e-5)


def test_mask_padding_cosine_and_hard_terms_against_numpy():
    samples = [saliency_sample(0, 5), saliency_sample(1, 9)]
    with_terms = LossConfig(mask_padding=True, mr_to_hd=0.0)
    without = LossConfig(mask_padding=True, mr_to_hd=0.0, cos_sim=0.0, hard_pos_neg=0.0)
    epoch = 1
    got = losses(samples, 12, with_terms, epoch)[0] - losses(samples, 12, without, epoch)[0]

    cosine, squared_errors, real_clips = 0.0, 0.0, 0
    for sample in samples:
        s, y = sample["saliency_scores"], sample["labels"].astype(float)
        shifted = s - s.min()  # this sample's own minimum, its real clips only
        s_norm, y_norm = shifted / np.linalg.norm(shifted), y / np.linalg.norm(y)
        cosine += 1 - s_norm @ y_norm
        squared_errors += ((s_norm - y_norm) ** 2).sum()
        real_clips += len(s)
    hard = squared_errors / real_clips  # negatives' and positives' MSE over real clips
    assert got == pytest.approx(cosine + (epoch + 1) * 10 * hard, rel=1e-5)


# model.informative_correlation ---------------------------------------------------------------


def mixer_input(module, video, text):
    captured = {}
    handle = module.mixer.register_forward_hook(lambda m, args, out: captured.update(x=args[0]))
    module(video, text, torch.ones(video.shape[:2]), torch.ones(text.shape[:2]))
    handle.remove()
    return captured["x"]


def test_informative_correlation_pools_the_words_with_the_clip_word_softmax():
    torch.manual_seed(0)
    video, text = torch.randn(2, 6, 16), torch.randn(2, 4, 16)
    module = FeatureRefinement(16, informative_correlation=True).eval()
    term = mixer_input(module, video, text)[..., -16:].detach().numpy()

    v, t, w = video.numpy(), text.numpy(), module.cor_v_w.detach().numpy()[0]
    for b in range(2):
        for clip in range(6):
            logits = t[b] @ v[b, clip]  # one per word
            weights = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            expected = (weights[:, None] * t[b]).sum(0) * w
            np.testing.assert_allclose(term[b, clip], expected, rtol=1e-4, atol=1e-6)


# model.bicmf_ffn_residual and model.bicmf_sample_masks ---------------------------------------


def bicmf(ffn_residual=False, sample_masks=False) -> BiCMFLayer:
    torch.manual_seed(0)
    return BiCMFLayer(16, 2, 32, 0.1, ffn_residual, sample_masks).eval()


def run(layer, video, text, video_pad, text_pad):
    return layer(
        video, text, torch.zeros_like(video), torch.zeros_like(text), video_pad, text_pad,
        group=len(video),
    )  # fmt: skip


@pytest.mark.parametrize("ffn_residual", [False, True])
def test_bicmf_feed_forward_residual(ffn_residual):
    """LN(f + dropout(f)) as the reference has it, LN(c + dropout(f)) with the switch, where c
    is the feed-forward's input and f its output (dropout is off in eval mode)."""
    layer = bicmf(ffn_residual=ffn_residual)
    seen = {}
    for name in ("norm3", "linear5"):
        getattr(layer, name).register_forward_hook(
            lambda m, args, out, name=name: seen.update({name: out})
        )
    layer.norm4.register_forward_hook(lambda m, args, out: seen.update(norm4_input=args[0]))
    video, text = torch.randn(2, 5, 16), torch.randn(2, 3, 16)
    no_padding = torch.zeros(2, 5, dtype=torch.bool), torch.zeros(2, 3, dtype=torch.bool)
    run(layer, video, text, *no_padding)
    c, f = seen["norm3"], seen["linear5"]
    torch.testing.assert_close(seen["norm4_input"], (c if ffn_residual else f) + f)


def test_bicmf_sample_masks_a_sample_in_a_mixed_batch_is_fused_as_if_alone():
    torch.manual_seed(1)
    video, text = torch.randn(2, 6, 16), torch.randn(2, 4, 16)
    video_pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    text_pad = torch.tensor([[False] * 4, [False] * 2 + [True] * 2])
    lengths = [(6, 4), (4, 2)]

    def batched_and_alone(layer):
        batched = run(layer, video, text, video_pad, text_pad)
        alone = [
            run(
                layer, video[b : b + 1, :clips], text[b : b + 1, :words],
                torch.zeros(1, clips, dtype=torch.bool), torch.zeros(1, words, dtype=torch.bool),
            )[0]
            for b, (clips, words) in enumerate(lengths)
        ]  # fmt: skip
        return [(batched[b, :clips], alone[b]) for b, (clips, _) in enumerate(lengths)]

    with torch.no_grad():
        for batched, alone in batched_and_alone(bicmf(sample_masks=True)):
            torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-5)
        # The reference's tiling gives the unpadded sample's second head the padded one's
        # mask: its last two clips lose the last two words.
        reference = batched_and_alone(bicmf())
        assert not torch.allclose(*reference[0], atol=1e-3)


# data.normalize_text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("normalize_video", "normalize_text", "text_is_unit"),
    [(True, None, True), (False, None, False), (True, False, False), (False, True, True)],
)
def test_normalize_text_overrides_the_video_flag(normalize_video, normalize_text, text_is_unit):
    rng = np.random.default_rng(0)
    video, text = rng.normal(size=(4, 5)) * 3, rng.normal(size=(6, 3)) * 3
    config = DataConfig(
        normalize_video=normalize_video, normalize_text=normalize_text, temporal_encoding=False
    )
    got_video, got_text = assemble_inputs([video], [text], config)

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    expected_text = unit(text) if text_is_unit else text
    expected_video = unit(video) if normalize_video else video
    np.testing.assert_allclose(got_text, expected_text, rtol=1e-4)
    np.testing.assert_allclose(got_video, expected_video, rtol=1e-4)


# data.use_synthetic_saliency ---------------------------------------------------------------


SYNTHETIC_ROW = {
    "qid": "v_10_20",
    "query": "a caption",
    "vid": "v",
    "duration": 16.0,
    "relevant_windows": [[4.0, 10.0]],
    "relevant_clip_ids": [2, 3, 4],
    "saliency_scores": [[0.3], [0.9], [0.5]],
}


@pytest.mark.parametrize("use_saliency", [False, True])
def test_use_synthetic_saliency_labels_each_clip_with_its_score(use_saliency):
    config = DataConfig(labels="window", use_synthetic_saliency=use_saliency)
    dataset = MomentDataset([SYNTHETIC_ROW], [], [], config, training=True)
    labels, positives, negatives = dataset.saliency_target(SYNTHETIC_ROW, clips=8)
    if use_saliency:
        np.testing.assert_allclose(labels, [0, 0, 0.3, 0.9, 0.5, 0, 0, 0], rtol=1e-6)
        assert positives[0] == 3 and negatives[0] == 2  # the highest and lowest scored clips
        assert negatives[1] not in (2, 3, 4)
    else:  # the reference: 1 inside the window [4, 10) s, i.e. clips 2 to 4
        np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1, 0, 0, 0])
        assert set(positives) <= {2, 3, 4} and not set(negatives) & {2, 3, 4}
