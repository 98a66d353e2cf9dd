"""LocallyConnected1d/2d against a per-position loop, gradcheck, parameter counts and shape errors."""

import itertools
import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from striate.errors import ShapeError
from striate.layers import LocallyConnected1d, LocallyConnected2d


def local_reference(layer, x):
    """Slow and plain: for each output position, flatten its (C_in, *K) receptive field and apply that position's
    own (C_out, C_in * prod(K)) matrix and bias."""
    pads = [p for p in reversed(layer.padding) for _ in range(2)]
    xp = F.pad(x, pads)  # (N, C_in, *padded)
    out = x.new_zeros(x.shape[0], layer.out_channels, *layer.output_size)
    positions = itertools.product(*[range(o) for o in layer.output_size])  # row-major, as the weight is laid out
    for index, position in enumerate(positions):
        window = tuple(
            slice(o * s, o * s + d * (k - 1) + 1, d)
            for o, s, d, k in zip(position, layer.stride, layer.dilation, layer.kernel_size, strict=True)
        )
        field = xp[(slice(None), slice(None), *window)].reshape(x.shape[0], -1)  # (N, C_in * prod(K))
        value = field @ layer.weight[index].T  # (N, C_out)
        if layer.bias is not None:
            value = value + layer.bias[index]
        out[(slice(None), slice(None), *position)] = value
    return out


CASES = [
    (LocallyConnected1d, dict(in_channels=2, out_channels=3, input_size=9, kernel_size=3)),
    (LocallyConnected1d, dict(in_channels=2, out_channels=3, input_size=10, kernel_size=3, stride=2, padding=1)),
    (LocallyConnected1d, dict(in_channels=1, out_channels=2, input_size=11, kernel_size=2, stride=3, dilation=3)),
    (LocallyConnected2d, dict(in_channels=2, out_channels=3, input_size=(6, 5), kernel_size=3)),
    (LocallyConnected2d, dict(in_channels=3, out_channels=2, input_size=(7, 6), kernel_size=(3, 2), stride=(2, 1))),
    (
        LocallyConnected2d,
        dict(
            in_channels=2,
            out_channels=4,
            input_size=(7, 8),
            kernel_size=2,
            stride=(1, 2),
            padding=(1, 0),
            dilation=(2, 1),
            bias=False,
        ),
    ),
]


@pytest.mark.parametrize(("cls", "kwargs"), CASES)
def test_matches_per_position_loop(cls, kwargs):
    torch.manual_seed(0)
    layer = cls(**kwargs, dtype=torch.float64)
    x = torch.randn(3, layer.in_channels, *layer.input_size, dtype=torch.float64)
    torch.testing.assert_close(layer(x), local_reference(layer, x), rtol=0, atol=1e-12)


def test_shared_weights_reduce_to_convolution():
    """Copying one conv filter bank to every position must give torch's convolution: checks the weight layout."""
    torch.manual_seed(1)
    layer = LocallyConnected2d(3, 4, (8, 7), kernel_size=3, stride=2, padding=1, dilation=2, dtype=torch.float64)
    conv_weight = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    conv_bias = torch.randn(4, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(conv_weight.reshape(1, 4, 27).expand_as(layer.weight))
        layer.bias.copy_(conv_bias.expand_as(layer.bias))
    x = torch.randn(2, 3, 8, 7, dtype=torch.float64)
    expected = F.conv2d(x, conv_weight, conv_bias, stride=2, padding=1, dilation=2)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("cls", "size"), [(LocallyConnected1d, 5), (LocallyConnected2d, (4, 3))])
def test_gradcheck(cls, size):
    torch.manual_seed(2)
    layer = cls(2, 2, size, kernel_size=2, padding=1, stride=2, dtype=torch.float64)
    x = torch.randn(2, 2, *layer.input_size, dtype=torch.float64, requires_grad=True)
    params = {name: p.detach().clone().requires_grad_() for name, p in layer.named_parameters()}

    def run(x, weight, bias):
        return functional_call(layer, {"weight": weight, "bias": bias}, (x,))

    assert torch.autograd.gradcheck(run, (x, params["weight"], params["bias"]))


@pytest.mark.parametrize(("cls", "kwargs"), CASES)
def test_parameter_count_and_layout(cls, kwargs):
    layer = cls(**kwargs)
    positions = math.prod(layer.output_size)
    c_in, c_out, k = layer.in_channels, layer.out_channels, math.prod(layer.kernel_size)
    with_bias = kwargs.get("bias", True)
    expected = positions * c_out * c_in * k + (positions * c_out if with_bias else 0)
    assert sum(p.numel() for p in layer.parameters()) == expected
    assert layer.weight.shape == (positions, c_out, c_in * k)
    assert layer.bias is None if not with_bias else layer.bias.shape == (positions, c_out)
    assert cls.fan_in_dims == (-1,)
    assert layer.weight.abs().max() <= 1 / math.sqrt(c_in * k)  # torch's conv init bound


def test_output_shapes_and_repr():
    assert LocallyConnected1d(2, 4, 10, 3, stride=2)(torch.zeros(5, 2, 10)).shape == (5, 4, 4)
    layer = LocallyConnected2d(3, 8, (12, 10), (3, 5), stride=(3, 1), padding=(0, 2), bias=False)
    assert layer(torch.zeros(2, 3, 12, 10)).shape == (2, 8, 4, 10)
    assert repr(layer) == (
        "LocallyConnected2d(3, 8, input_size=(12, 10), kernel_size=(3, 5), stride=(3, 1), padding=(0, 2), "
        "output_size=(4, 10), bias=False)"
    )


def test_wrong_input_size_raises():
    layer = LocallyConnected2d(3, 4, (8, 8), 3)
    message = (
        "Invalid `input` shape for LocallyConnected2d: expected (N, 3, 8, 8) because the weights are per position "
        "for input_size=(8, 8), received (2, 3, 9, 8)."
    )
    with pytest.raises(ShapeError, match=re.escape(message)):
        layer(torch.zeros(2, 3, 9, 8))
    with pytest.raises(ShapeError, match=re.escape("expected (N, 3, 8, 8)")):
        layer(torch.zeros(2, 4, 8, 8))
    with pytest.raises(ShapeError, match=re.escape("expected (N, 2, 6)")):
        LocallyConnected1d(2, 1, 6, 3)(torch.zeros(2, 6))


def test_kernel_larger_than_input_raises_at_construction():
    message = "Invalid `kernel_size`: expected at most the padded input size 6x6, received 7x7."
    with pytest.raises(ShapeError, match=re.escape(message)):
        LocallyConnected2d(1, 1, (4, 4), kernel_size=7, padding=1)
