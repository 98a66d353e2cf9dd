"""Convolution arithmetic (`conv_output_size`, `same_padding`, `_ntuple`) and the thin Conv1d/2d/3d layers."""

import itertools
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from striate.errors import ConfigError, ShapeError
from striate.layers import Conv1d, Conv2d, Conv3d, conv_output_size, same_padding
from striate.layers._utils import _ntuple, _positive_int


@pytest.mark.parametrize(
    ("value", "n", "expected"),
    [(3, 2, (3, 3)), ((1, 2), 2, (1, 2)), ([4, 5, 6], 3, (4, 5, 6)), (7, 1, (7,))],
)
def test_ntuple_normalises(value, n, expected):
    assert _ntuple(value, n, "kernel_size") == expected


@pytest.mark.parametrize("value", [(1, 2, 3), "3", True, 3.0, (1, 2.5), None])
def test_ntuple_rejects_wrong_length_or_type(value):
    message = f"Invalid `kernel_size`: expected an int or a tuple of 2 ints, received {value!r}."
    with pytest.raises(ConfigError, match=re.escape(message)):
        _ntuple(value, 2, "kernel_size")


def test_ntuple_minimum_and_positive_int():
    message = "Invalid `stride`: expected every entry to be at least 1, received (1, 0)."
    with pytest.raises(ConfigError, match=re.escape(message)):
        _ntuple((1, 0), 2, "stride", minimum=1)
    message = "Invalid `in_channels`: expected an int of at least 1, received 0."
    with pytest.raises(ConfigError, match=re.escape(message)):
        _positive_int(0, "in_channels")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((32, 5, 1, 2), 32),  # the article's "same" example: P = (K - 1) / 2 with S = 1
        ((227, 11, 4, 0), 55),  # AlexNet's first layer
        ((7, 3, 2, 1), 4),
        ((10, 3, 1, 0, 2), 6),  # dilation 2: K_eff = 5
        (((28, 28), 3), (26, 26)),
        ((8, (3, 1)), (6, 8)),  # an int is repeated to match a tuple
        (((9, 7), (3, 3), (2, 1), (0, 1)), (4, 7)),
    ],
)
def test_conv_output_size_table(args, expected):
    assert conv_output_size(*args) == expected


def test_conv_output_size_counts_the_neurons_that_fit():
    """Exhaustive small grid against enumeration: a neuron fits at every multiple of S where its dilated kernel ends
    inside the padded input; strict mode must raise exactly when the last one stops short of the edge."""
    for w, k, s, p, d in itertools.product(range(1, 10), range(1, 5), range(1, 4), range(3), range(1, 3)):
        padded, extent = w + 2 * p, d * (k - 1) + 1
        starts = [start for start in range(0, padded, s) if start + extent <= padded]
        if not starts:
            with pytest.raises(ShapeError, match="expected at most the padded input size"):
                conv_output_size(w, k, s, p, d, strict=False)
            continue
        assert conv_output_size(w, k, s, p, d, strict=False) == len(starts)
        if starts[-1] + extent != padded:
            with pytest.raises(ShapeError, match="neurons tile the input symmetrically"):
                conv_output_size(w, k, s, p, d)
        else:
            assert conv_output_size(w, k, s, p, d) == len(starts)


def test_conv_output_size_agrees_with_torch():
    for w, k, s, p, d in [(9, 3, 2, 1, 1), (10, 4, 3, 0, 2), (7, 2, 1, 2, 3), (13, 5, 4, 2, 1)]:
        out = F.conv1d(torch.zeros(1, 1, w), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d)
        assert conv_output_size(w, k, s, p, d, strict=False) == out.shape[-1]
    out = F.conv2d(torch.zeros(1, 1, 11, 9), torch.zeros(1, 1, 3, 2), stride=(2, 3), padding=(1, 0), dilation=(2, 1))
    assert conv_output_size((11, 9), (3, 2), (2, 3), (1, 0), (2, 1), strict=False) == tuple(out.shape[-2:])


def test_conv_output_size_error_wording():
    message = "Invalid `kernel_size`: expected at most the padded input size 12x12, received 14x14."
    with pytest.raises(ShapeError, match=re.escape(message)):
        conv_output_size((12, 12), 14)
    message = (
        "Invalid `kernel_size`: expected at most the padded input size 8, received 3 (spanning 9 with dilation 4)."
    )
    with pytest.raises(ShapeError, match=re.escape(message)):
        conv_output_size(6, 3, padding=1, dilation=4)
    message = (
        "Invalid `stride`: expected a divisor of (W - K + 2P) = 29 so the neurons tile the input symmetrically, "
        "received 2 (pass strict=False to floor instead)."
    )
    with pytest.raises(ShapeError, match=re.escape(message)):
        conv_output_size(32, 3, stride=2)
    assert conv_output_size(32, 3, stride=2, strict=False) == 15
    with pytest.raises(ConfigError, match=re.escape("Invalid `padding`: expected every entry to be at least 0")):
        conv_output_size(8, 3, padding=-1)
    with pytest.raises(ConfigError, match=re.escape("Invalid `stride`: expected an int or a tuple of 2 ints")):
        conv_output_size((8, 8), 3, stride=(1, 1, 1))


@pytest.mark.parametrize(("k", "d"), list(itertools.product([1, 3, 5, 7], [1, 2, 3])))
def test_same_padding_keeps_size(k, d):
    p = same_padding(k, dilation=d)
    assert conv_output_size(11, k, 1, p, d) == 11
    assert F.conv1d(torch.zeros(1, 1, 11), torch.zeros(1, 1, k), padding=p, dilation=d).shape[-1] == 11


def test_same_padding_tuples_and_even_kernels():
    assert same_padding((3, 5)) == (1, 2)
    assert same_padding((3, 3), dilation=(1, 2)) == (1, 2)
    with pytest.raises(ConfigError, match=re.escape("expected an odd effective size d*(K - 1) + 1 for symmetric")):
        same_padding(4)
    with pytest.raises(ConfigError, match=re.escape("received 3x2 with dilation 1x1 (effective 3x2")):
        same_padding((3, 2))


@pytest.mark.parametrize(
    ("cls", "torch_cls", "shape"),
    [(Conv1d, nn.Conv1d, (2, 3, 9)), (Conv2d, nn.Conv2d, (2, 3, 9, 8)), (Conv3d, nn.Conv3d, (1, 3, 5, 6, 7))],
)
def test_conv_layers_are_torch_convs(cls, torch_cls, shape):
    torch.manual_seed(0)
    layer = cls(3, 4, kernel_size=3, padding=1, bias=True).double()
    assert isinstance(layer, torch_cls)
    reference = torch_cls(3, 4, kernel_size=3, padding=1).double()
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(layer(x), reference(x), rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_same_padding_stride_one_keeps_size_even_for_even_kernels(k):
    assert Conv2d(2, 3, k, padding="same")(torch.zeros(1, 2, 7, 6)).shape == (1, 3, 7, 6)


# (W, K, S, d, expected left pad, expected right pad) under TensorFlow's SAME rule, worked out by hand:
# out = ceil(W / S), total = max((out - 1) * S + d * (K - 1) + 1 - W, 0), left = total // 2.
SAME_STRIDED = [(5, 3, 2, 1, 1, 1), (6, 3, 2, 1, 0, 1), (7, 4, 3, 1, 1, 2), (8, 1, 2, 1, 0, 0), (9, 3, 2, 2, 2, 2)]


@pytest.mark.parametrize(("w", "k", "s", "d", "left", "right"), SAME_STRIDED)
def test_same_padding_with_stride_matches_tensorflow_rule(w, k, s, d, left, right):
    torch.manual_seed(1)
    layer = Conv1d(2, 3, k, stride=s, padding="same", dilation=d).double()
    x = torch.randn(2, 2, w, dtype=torch.float64)
    expected = F.conv1d(F.pad(x, (left, right)), layer.weight, layer.bias, stride=s, dilation=d)
    assert expected.shape[-1] == -(-w // s)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


def test_same_padding_with_stride_in_2d_and_reflect_mode():
    torch.manual_seed(2)
    layer = Conv2d(2, 3, (3, 4), stride=(2, 3), padding="same", padding_mode="reflect").double()
    x = torch.randn(1, 2, 7, 10, dtype=torch.float64)
    # H: out 4, total (4-1)*2+3-7 = 2 -> (1, 1); W: out 4, total (4-1)*3+4-10 = 3 -> (1, 2)
    expected = F.conv2d(F.pad(x, (1, 2, 1, 1), mode="reflect"), layer.weight, layer.bias, stride=(2, 3))
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)
    assert "padding=same" in repr(layer)


def test_conv_argument_errors():
    with pytest.raises(ConfigError, match=re.escape("received 'sam'. Did you mean `same`?")):
        Conv2d(1, 1, 3, padding="sam")
    with pytest.raises(ConfigError, match=re.escape("Invalid `kernel_size`: expected an int or a tuple of 2 ints")):
        Conv2d(1, 1, (3, 3, 3))
    with pytest.raises(ConfigError, match=re.escape("Invalid `stride`: expected every entry to be at least 1")):
        Conv1d(1, 1, 3, stride=0)
