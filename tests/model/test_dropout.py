"""The fast CPU dropout is a dropout, and the attention that uses it is nn.MultiheadAttention."""

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from model.network.dropout import Dropout, dropout
from model.network.layers import MultiheadAttention


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_zeroes_a_fraction_p_and_keeps_the_mean(p):
    torch.manual_seed(0)
    n = 1_000_000
    out = dropout(torch.ones(n), p)
    dropped = (out == 0).float().mean().item()
    # Binomial(n, p): 5 standard deviations.
    assert abs(dropped - p) < 5 * (p * (1 - p) / n) ** 0.5
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, kept[0].item()))
    # The survivors' scale is the inverse of the exact keep probability k / 65536.
    assert kept[0].item() == pytest.approx(65536 / round((1 - p) * 65536))
    assert out.mean().item() == pytest.approx(1.0, abs=5 * (p / (1 - p) / n) ** 0.5)


def test_dropout_masks_follow_torch_s_seed():
    x = torch.randn(64, 64)
    torch.manual_seed(3)
    first, second = dropout(x, 0.5), dropout(x, 0.5)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.5), first)
    assert not torch.equal(first, second)


def test_dropout_is_the_identity_in_eval_and_at_zero():
    x = torch.randn(8, 8)
    module = Dropout(0.5).eval()
    assert module(x) is x
    assert dropout(x, 0.0) is x
    assert dropout(x, 1e-7) is x  # keeps all 65536 levels
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        Dropout(1.5)


def test_dropout_gradient_is_the_mask():
    torch.manual_seed(0)
    x = torch.rand(100, 100).add_(0.5).requires_grad_()
    out = dropout(x, 0.3)
    out.sum().backward()
    assert torch.allclose(x.grad, out.detach() / x.detach())


def test_attention_equals_torch_s_with_both_masks():
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(32, 4, dropout=0.0, batch_first=True)
    ours = MultiheadAttention(32, 4, dropout=0.0, batch_first=True)
    ours.load_state_dict(reference.state_dict())
    q, k, v = torch.randn(3, 5, 32), torch.randn(3, 7, 32), torch.randn(3, 7, 32)
    padding = torch.zeros(3, 7, dtype=torch.bool)
    padding[0, 5:], padding[2, 3:] = True, True
    per_head = torch.zeros(3 * 4, 5, 7, dtype=torch.bool)
    per_head[1, :, :2], per_head[5, :, 4] = True, True
    for masks in (
        {"key_padding_mask": padding},
        {"key_padding_mask": padding, "attn_mask": per_head},
    ):
        expected = reference(q, k, v, **masks)[0]
        torch.testing.assert_close(ours(q, k, v, **masks)[0], expected, rtol=1e-6, atol=1e-6)


def _kept_pairs(first: torch.Tensor, second: torch.Tensor) -> tuple[float, float]:
    """The fraction of positions kept in both, and its standard deviation for independent
    Bernoulli(q) masks with q the observed keep rate."""
    q = float(torch.cat([first, second]).mean())
    n = first.numel()
    return float((first * second).mean()), (q * q * (1 - q * q) / n) ** 0.5, q * q


@pytest.mark.parametrize("sampler", ["numpy", "torch"])
def test_masks_are_independent_bernoulli_draws_as_torch_s(sampler):
    """Within a mask (neighbours at lags 1 to 4, which share a 64-bit PCG64 output, and 64) and
    between consecutive masks, an element is kept with both others at rate q^2 (within 5
    standard deviations of the independent Bernoulli model: a false alarm about once in 3
    million); blocks of 4 neighbours hold Binomial(4, q) kept elements (chi-square with 4
    degrees of freedom below 30, p about 5e-6). torch's own masks pass the same test."""
    torch.manual_seed(0)
    n, p = 1 << 20, 0.3
    masks = [(dropout(torch.ones(n), p, sampler=sampler) != 0).double() for _ in range(2)]
    pairs = [(masks[0][:-lag], masks[0][lag:]) for lag in (1, 2, 3, 4, 64)]
    pairs.append((masks[0], masks[1]))
    for first, second in pairs:
        both, deviation, expected = _kept_pairs(first, second)
        assert abs(both - expected) < 5 * deviation
    q = float(masks[0].mean())
    counts = torch.bincount(masks[0].view(-1, 4).sum(1).long(), minlength=5).double()
    binomial = torch.tensor([math.comb(4, k) * q**k * (1 - q) ** (4 - k) for k in range(5)])
    expected = binomial * counts.sum()
    assert float(((counts - expected) ** 2 / expected).sum()) < 30


def test_the_torch_sampler_draws_torch_s_own_masks():
    x = torch.randn(50, 70)
    torch.manual_seed(5)
    expected = torch.nn.functional.dropout(x, 0.4)
    torch.manual_seed(5)
    assert torch.equal(dropout(x, 0.4, sampler="torch"), expected)


def test_the_config_switch_reaches_every_dropout_of_the_network():
    from model.checkpoints import build_model
    from model.config import QVHIGHLIGHTS, ModelConfig

    for sampler in ("numpy", "torch"):
        config = replace(QVHIGHLIGHTS, model=ModelConfig(dropout_sampler=sampler))
        model = build_model(config, 12, 8)
        drawing = [m for m in model.modules() if isinstance(m, Dropout | MultiheadAttention)]
        assert len(drawing) > 30
        assert {m.dropout_sampler for m in drawing} == {sampler}
    with pytest.raises(ValueError, match="dropout_sampler"):
        ModelConfig(dropout_sampler="cuda")
