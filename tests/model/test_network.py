"""The network's outputs, sizes and the reference behaviours it keeps."""

import pytest
import torch

from model.network.refinement import FeatureRefinement
from model.network.videolights import NetworkConfig, VideoLights

# Parameter counts of the reference implementation (instantiated with its QVHighlights scripts'
# settings), minus the modules it builds but never uses: txt_position_embed (8,704), the Bi-CMF
# layer's norm2 (512) and the video contrastive projection (16,448).
UNUSED = 8_704 + 512 + 16_448


@pytest.mark.parametrize(
    ("video_dim", "text_dim", "reference_count"),
    [(2818, 512, 10_399_975), (3586, 1280, 10_796_263)],
)
def test_parameter_count_matches_the_reference(video_dim, text_dim, reference_count):
    model = VideoLights(NetworkConfig(video_dim=video_dim, text_dim=text_dim))
    assert sum(p.numel() for p in model.parameters()) == reference_count - UNUSED


def test_forward_shapes_and_padding():
    torch.manual_seed(0)
    model = VideoLights(NetworkConfig(video_dim=20, text_dim=12, decoder_layers=3)).eval()
    video, text = torch.randn(3, 15, 20), torch.randn(3, 7, 12)
    video_mask, text_mask = torch.ones(3, 15), torch.ones(3, 7)
    video_mask[1, 10:] = 0
    text_mask[2, 4:] = 0
    with torch.no_grad():
        out = model(text, text_mask, video, video_mask)
    assert out["pred_logits"].shape == (3, 10, 2)
    assert out["pred_spans"].shape == (3, 10, 2)
    assert ((out["pred_spans"] >= 0) & (out["pred_spans"] <= 1)).all()
    assert out["saliency_scores"].shape == (3, 15)
    assert len(out["aux_outputs"]) == 2
    # Padding does not leak: changing padded clips leaves the real clips' saliency unchanged.
    video2 = video.clone()
    video2[1, 10:] = 100.0
    with torch.no_grad():
        out2 = model(text, text_mask, video2, video_mask)
    torch.testing.assert_close(out["saliency_scores"][1, :10], out2["saliency_scores"][1, :10])


def correlation_term(module, video, text, mask_v, mask_t):
    """The refinement's 4th part, read from its mixer input."""
    captured = {}
    handle = module.mixer.register_forward_hook(lambda m, args, out: captured.update(x=args[0]))
    module(video, text, mask_v, mask_t)
    handle.remove()
    return captured["x"][..., -video.shape[-1] :]


def test_reference_refinement_correlation_is_a_constant_and_the_fix_is_not():
    torch.manual_seed(0)
    video, text = torch.randn(2, 6, 16), torch.randn(2, 4, 16)
    masks = torch.ones(2, 6), torch.ones(2, 4)
    reference = FeatureRefinement(16).eval()
    term = correlation_term(reference, video, text, *masks)
    constant = (reference.cor_q_w * reference.cor_v_w).expand_as(term)
    torch.testing.assert_close(term, constant)
    fixed = FeatureRefinement(16, informative_correlation=True).eval()
    term = correlation_term(fixed, video, text, *masks)
    assert not torch.allclose(term[0, 0], term[0, 1])
