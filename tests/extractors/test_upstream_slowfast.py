"""SlowFast R50 8x8 against pytorchvideo's own `slowfast_r50` (its hub factory), fed as HERO's
extractor fed PySlowFast's model: frames / 255, normalised with 0.45 and 0.225, the slow pathway
packed by `pack_pathway_output` (index_select at linspace(0, T - 1, T // alpha), cast to long);
its own pooling layer (`blocks[5]`) gives the 2304-d feature. The same random weights on both
sides, with batch-norm statistics drawn away from the identity so that our folding of them into
the convolutions is exercised. fp32; tolerance: the largest difference at most 1e-4 of the
largest value, through the folding."""

import numpy as np
import pytest
import torch
from pytorchvideo.models.hub import slowfast_r50

from extractors.slowfast import SlowFastEncoder, build_slowfast_model

TOLERANCE = 1e-4
ALPHA, FRAMES = 4, 32


def changing_clip(seed: int = 0) -> np.ndarray:
    """(1, 32, 224, 224, 3) uint8: a noisy background brightening frame by frame and a bright
    square crossing it, so that which frames the slow pathway sees changes its input."""
    rng = np.random.default_rng(seed)
    clip = rng.integers(0, 64, (1, FRAMES, 224, 224, 3), dtype=np.uint8)
    for t in range(FRAMES):
        clip[0, t] += np.uint8(5 * t)
        clip[0, t, 80:144, 6 * t : 6 * t + 32] = (250, 220, 40)
    return clip


def pack_pathways(frames: np.ndarray) -> list[torch.Tensor]:
    """HERO's preprocessing and PySlowFast's packing, written out from their code."""
    fast = torch.from_numpy(frames).float().permute(0, 4, 1, 2, 3) / 255.0  # B C T H W
    fast = (fast - 0.45) / 0.225
    index = torch.linspace(0, fast.shape[2] - 1, fast.shape[2] // ALPHA).long()
    return [torch.index_select(fast, 2, index), fast]


@pytest.fixture(scope="module")
def upstream():
    torch.manual_seed(0)
    model = slowfast_r50(pretrained=False).eval()
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)):
        norm.running_mean.normal_(0, 0.2)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.normal_(0, 0.2)
    return model


def test_slowfast_features_equal_pytorchvideo_with_pyslowfast_packing(upstream):
    model = build_slowfast_model("full")
    model.load_state_dict(upstream.state_dict())
    ours = SlowFastEncoder(model, torch.device("cpu"), torch.float32, {"weights": "random"})
    frames = changing_clip()
    with torch.inference_mode():
        pathways = pack_pathways(frames)
        for stage in upstream.blocks[:6]:  # stem, 4 stages, the pooling; not the head
            pathways = stage(pathways)
        expected = pathways.flatten(1).numpy()
    features = ours.encode_clips(frames)
    assert features.shape == expected.shape == (1, 2304)
    difference = np.abs(features - expected).max() / np.abs(expected).max()
    assert difference <= TOLERANCE
