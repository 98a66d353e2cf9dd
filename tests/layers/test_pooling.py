"""LpPool, global pooling, overlapping pooling and stochastic pooling against loop references."""

import itertools
import math
import re

import pytest
import torch
import torch.nn.functional as F

from striate.errors import ConfigError, ShapeError
from striate.layers import (
    GlobalAvgPool,
    GlobalMaxPool,
    LpPool1d,
    LpPool2d,
    MaxPool2d,
    StochasticPool2d,
    overlapping_max_pool2d,
)


def window_starts(size, k, s, ceil_mode):
    """Start of every pooling window along one axis, with torch's ceil_mode rule (a last window must start inside)."""
    count = (size - k) / s + 1
    count = math.ceil(count) if ceil_mode else math.floor(count)
    if ceil_mode and (count - 1) * s >= size:
        count -= 1
    return [i * s for i in range(count)]


def lp_reference(x, p, k, s, ceil_mode):
    """(sum |x|^p)^(1/p) over each window (max |x| for p = inf), by loops over windows; partial windows sum what
    they hold."""
    starts = [window_starts(size, ki, si, ceil_mode) for size, ki, si in zip(x.shape[2:], k, s, strict=True)]
    out = x.new_zeros(*x.shape[:2], *[len(st) for st in starts])
    for index in itertools.product(*[range(len(st)) for st in starts]):
        window = tuple(slice(st[i], st[i] + ki) for st, i, ki in zip(starts, index, k, strict=True))
        values = x[(slice(None), slice(None), *window)].abs().flatten(2)  # (N, C, window)
        pooled = values.amax(-1) if math.isinf(p) else values.pow(p).sum(-1).pow(1 / p)
        out[(slice(None), slice(None), *index)] = pooled
    return out


@pytest.mark.parametrize("p", [1, 2, 3, 2.5, math.inf])
@pytest.mark.parametrize(
    ("cls", "shape", "k", "s", "ceil_mode"),
    [
        (LpPool1d, (2, 3, 11), (3,), (2,), False),
        (LpPool1d, (2, 3, 11), (4,), (3,), True),
        (LpPool2d, (2, 2, 7, 6), (2, 3), (2, 2), False),
        (LpPool2d, (1, 2, 7, 8), (3, 3), (2, 3), True),
    ],
)
def test_lp_pool_matches_formula(p, cls, shape, k, s, ceil_mode):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64)  # negative values included: they count by magnitude
    layer = cls(p, kernel_size=k, stride=s, ceil_mode=ceil_mode)
    torch.testing.assert_close(layer(x), lp_reference(x, p, k, s, ceil_mode), rtol=1e-12, atol=1e-12)


def test_lp_pool_p2_agrees_with_torch_and_zero_windows_have_zero_gradient():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(LpPool2d(2, 2)(x), F.lp_pool2d(x, 2, 2), rtol=1e-12, atol=1e-12)
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    LpPool2d(2, 2)(x).sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))  # torch's LPPool gives NaN here


def test_lp_pool_errors():
    with pytest.raises(ConfigError, match=re.escape("Invalid `norm_type`: expected a number of at least 1")):
        LpPool2d(0.5, 2)
    with pytest.raises(ShapeError, match=re.escape("Invalid `input` shape for LpPool1d: expected (N, C, L)")):
        LpPool1d(2, 2)(torch.zeros(2, 3, 4, 4))


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 5)])
def test_global_pools_any_rank(shape):
    torch.manual_seed(2)
    x = torch.randn(shape, dtype=torch.float64)
    dims = tuple(range(2, len(shape)))
    torch.testing.assert_close(GlobalAvgPool()(x), x.mean(dims), rtol=0, atol=1e-12)
    assert torch.equal(GlobalMaxPool()(x), x.amax(dims))
    ones = (1,) * len(dims)
    assert GlobalAvgPool(keepdim=True)(x).shape == (*shape[:2], *ones)
    assert torch.equal(GlobalMaxPool(keepdim=True)(x), x.amax(dims, keepdim=True))


def test_global_pool_needs_a_spatial_dimension():
    message = (
        "Invalid `input` shape for GlobalAvgPool: expected (N, C, *spatial) with at least one spatial dimension, "
        "received (4, 8)."
    )
    with pytest.raises(ShapeError, match=re.escape(message)):
        GlobalAvgPool()(torch.zeros(4, 8))


def test_overlapping_max_pool():
    layer = overlapping_max_pool2d()
    assert isinstance(layer, MaxPool2d) and layer.kernel_size == (3, 3) and layer.stride == (2, 2)
    assert layer(torch.zeros(1, 1, 55, 55)).shape == (1, 1, 27, 27)
    with pytest.raises(ConfigError, match=re.escape("Invalid `stride`: expected less than kernel_size (2, 2)")):
        overlapping_max_pool2d(2, 2)


# ------------------------------------------------------------------------------------------- stochastic pooling


def regions_reference(x, k, s, p):
    """Every pooling region's values as a list, by loops: {(n, c, i, j): [a, ...]} over the zero-padded input."""
    xp = F.pad(x, (p[1], p[1], p[0], p[0]))
    out_h, out_w = (xp.shape[2] - k[0]) // s[0] + 1, (xp.shape[3] - k[1]) // s[1] + 1
    regions = {}
    for n, c, i, j in itertools.product(range(x.shape[0]), range(x.shape[1]), range(out_h), range(out_w)):
        block = xp[n, c, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
        regions[n, c, i, j] = [float(v) for v in block.flatten()]
    return regions, (out_h, out_w)


def sparse_relu_input(shape, seed):
    """Non-negative activations with many exact zeros and some all-zero 2x2 blocks, like a ReLU's output."""
    torch.manual_seed(seed)
    x = torch.randn(shape, dtype=torch.float64).clamp_min(0)
    x[..., :2, :2] = 0.0
    return x


@pytest.mark.parametrize(
    ("k", "s", "p"), [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (0, 1))]
)
def test_stochastic_pool_eval_is_probability_weighted_average(k, s, p):
    x = sparse_relu_input((2, 3, 7, 8), seed=3)
    layer = StochasticPool2d(k, s, p).eval()
    out = layer(x)
    regions, out_size = regions_reference(x, k, s, p)
    assert out.shape == (2, 3, *out_size)
    for index, values in regions.items():
        total = sum(values)
        expected = sum(a * a for a in values) / total if total > 0 else 0.0
        assert out[index].item() == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("k", "s", "p"), [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1))])
def test_stochastic_pool_training_picks_a_nonzero_member(k, s, p):
    x = sparse_relu_input((2, 3, 7, 8), seed=4)
    torch.manual_seed(5)
    out = StochasticPool2d(k, s, p).train()(x)
    regions, _ = regions_reference(x, k, s, p)
    for index, values in regions.items():
        picked = out[index].item()
        assert picked in [a for a in values if a > 0] if any(values) else picked == 0.0


def test_stochastic_pool_sampling_frequencies():
    """20000 copies of one region [[0, 1], [3, 6]] must pick 1, 3, 6 with probabilities 0.1, 0.3, 0.6, and 0 never."""
    torch.manual_seed(6)
    region = torch.tensor([[0.0, 1.0], [3.0, 6.0]], dtype=torch.float64)
    x = region.repeat(1, 1, 1, 20000)  # (1, 1, 2, 40000): 20000 side-by-side copies
    picked = StochasticPool2d(2).train()(x).flatten()
    counts = torch.stack([(picked == v).sum() for v in (0.0, 1.0, 3.0, 6.0)]).double()
    assert counts[0] == 0 and counts.sum() == 20000
    expected = torch.tensor([0.1, 0.3, 0.6], dtype=torch.float64) * 20000
    chi2 = ((counts[1:] - expected) ** 2 / expected).sum().item()
    # Statistical bound, not a float tolerance: 18.4 is the chi-square (2 degrees of freedom) quantile at 1 - 1e-4.
    # Uniform picking among the non-zero values or max pooling would give chi2 ~ 13000; p_i proportional to a_i^2
    # would give about 3000.
    assert chi2 < 18.4


def test_stochastic_pool_all_zero_regions_and_gradient():
    x = torch.zeros(1, 2, 4, 4, dtype=torch.float64)
    x[0, 0, 0, 1], x[0, 0, 3, 3], x[0, 1, 2, 0] = 2.0, 5.0, 1.5  # three non-zero regions out of eight
    for mode in (True, False):
        out = StochasticPool2d(2).train(mode)(x)
        assert (out == 0).sum() == 5
    x.requires_grad_()
    out = StochasticPool2d(2).train()(x)
    out.sum().backward()
    assert torch.equal(x.grad.sum(), torch.tensor(3.0, dtype=torch.float64))  # one picked entry per non-zero region
    assert torch.equal((x.grad * x).sum(), out.sum())  # ... and it is the entry that was output


def test_stochastic_pool_clamps_negative_inputs():
    torch.manual_seed(7)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    layer = StochasticPool2d(3).eval()
    torch.testing.assert_close(layer(x), layer(x.clamp_min(0)), rtol=0, atol=0)
    assert layer.train()(x).min() >= 0


def test_stochastic_pool_shapes_and_errors():
    assert StochasticPool2d(2)(torch.rand(4, 3, 9, 9)).shape == (4, 3, 4, 4)
    assert StochasticPool2d(3, stride=2)(torch.rand(1, 1, 9, 10)).shape == (1, 1, 4, 4)
    with pytest.raises(ShapeError, match=re.escape("Invalid `kernel_size`: expected at most the padded input size")):
        StochasticPool2d(5)(torch.rand(1, 1, 4, 4))
    with pytest.raises(ShapeError, match=re.escape("Invalid `input` shape for StochasticPool2d")):
        StochasticPool2d(2)(torch.rand(3, 4, 4))
