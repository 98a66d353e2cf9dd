"""The time-series classifiers: counts from the layer arithmetic, Keras 'same' padding, shapes, ensemble, training."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as F

import striate.models.timeseries
from striate.errors import ConfigError
from striate.models import create
from striate.models.timeseries import InceptionModule, SameConv1d, keras_same_padding

NAMES = ["fcn", "resnet_ts", "inception_time", "inception_time_ensemble"]


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def moving_statistics(model: torch.nn.Module) -> int:
    """Batch norm's running mean and variance: buffers in torch, non-trainable parameters in Keras' summary."""
    return sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))


# --- Parameter counts, written out from the layers -------------------------------------------------------------------
# A conv with bias: C_in * C_out * k + C_out; batch norm: 2 * C (scale and shift); dense: C * K + K.


def fcn_count(c: int, k: int) -> int:
    return ((c * 128 * 8 + 128) + 2 * 128 + (128 * 256 * 5 + 256) + 2 * 256 + (256 * 128 * 3 + 128) + 2 * 128
            + 128 * k + k)


def resnet_ts_count(c: int, k: int) -> int:
    """Each block: convs with kernels 8, 5, 3 and their BNs, then the shortcut (1x1 conv + BN, or BN alone)."""
    block1 = (c * 64 * 8 + 64) + (64 * 64 * 5 + 64) + (64 * 64 * 3 + 64) + 3 * 2 * 64 + (c * 64 + 64) + 2 * 64
    block2 = ((64 * 128 * 8 + 128) + (128 * 128 * 5 + 128) + (128 * 128 * 3 + 128) + 3 * 2 * 128
              + (64 * 128 + 128) + 2 * 128)
    block3 = (128 * 128 * 8 + 128) + (128 * 128 * 5 + 128) + (128 * 128 * 3 + 128) + 3 * 2 * 128 + 2 * 128
    return block1 + block2 + block3 + 128 * k + k


def inception_time_count(c: int, k: int) -> int:
    """No biases; branches of 32 filters with kernels 40, 20, 10 and a 1x1 after the pool; BN over 128 channels."""
    def module(c_in: int) -> int:
        bottleneck = c_in * 32 if c_in > 1 else 0
        width = 32 if c_in > 1 else c_in
        return bottleneck + width * 32 * (40 + 20 + 10) + c_in * 32 + 2 * 128

    shortcuts = (c * 128 + 2 * 128) + (128 * 128 + 2 * 128)  # after modules 3 and 6
    return module(c) + 5 * module(128) + shortcuts + 128 * k + k


@pytest.mark.parametrize(("name", "c", "k", "expected", "keras_total"), [
    # GunPoint (1 x 150, 2 classes). Keras' "trainable params" are torch's parameters; its "total params" add the
    # moving statistics, 2 per batch-norm channel.
    ("fcn", 1, 2, 264_962, 264_962 + 2 * (128 + 256 + 128)),
    ("resnet_ts", 1, 2, 504_258, 504_258 + 2 * (4 * 64 + 8 * 128)),
    ("inception_time", 1, 2, 420_450, 420_450 + 2 * 8 * 128),
    ("inception_time_ensemble", 1, 2, 5 * 420_450, 5 * (420_450 + 2 * 8 * 128)),
    # Multivariate, more classes: the first layers and the head change.
    ("fcn", 3, 5, fcn_count(3, 5), None),
    ("resnet_ts", 3, 5, resnet_ts_count(3, 5), None),
    ("inception_time", 3, 5, inception_time_count(3, 5), None),
    ("inception_time_ensemble", 3, 5, 5 * inception_time_count(3, 5), None),
])
def test_parameter_counts_follow_the_layer_arithmetic(name, c, k, expected, keras_total):
    with torch.device("meta"):
        model = create(name, num_classes=k, in_channels=c)
    assert count(model) == expected
    formula = {"fcn": fcn_count, "resnet_ts": resnet_ts_count, "inception_time": inception_time_count}
    assert expected == (5 * inception_time_count(c, k) if name.endswith("ensemble") else formula[name](c, k))
    if keras_total is not None:
        assert count(model) + moving_statistics(model) == keras_total


def test_inception_module_matches_the_reference_layout():
    first, later = InceptionModule(1), InceptionModule(128)
    assert isinstance(first.bottleneck, torch.nn.Identity)  # a univariate input skips the bottleneck
    assert later.bottleneck.kernel_size == (1,) and later.bottleneck.out_channels == 32
    assert [conv.kernel_size[0] for conv in later.convs] == [40, 20, 10]
    assert all(m.bias is None for m in later.modules() if isinstance(m, torch.nn.Conv1d))
    assert InceptionModule(3).bottleneck.in_channels == 3  # a multivariate input does not
    model = create("inception_time")
    assert len(model.blocks) == 6 and len(model.shortcuts) == 2


def test_resnet_ts_projects_only_where_the_channel_count_changes():
    shortcuts = [type(block.shortcut).__name__ for block in create("resnet_ts").blocks]
    assert shortcuts == ["Sequential", "Sequential", "BatchNorm1d"]
    assert isinstance(create("resnet_ts", in_channels=64).blocks[0].shortcut, torch.nn.BatchNorm1d)


# --- Keras 'same' padding -------------------------------------------------------------------------------------------


def loop_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, left: int, dilation: int) -> torch.Tensor:
    """y[n, o, t] = b[o] + sum_{i, j} w[o, i, j] x[n, i, t + d j - left], zero outside the series."""
    n, _, length = x.shape
    y = bias[None, :, None].expand(n, -1, length).clone()
    for t in range(length):
        for j in range(weight.shape[2]):
            s = t + dilation * j - left
            if 0 <= s < length:
                y[:, :, t] += x[:, :, s] @ weight[:, :, j].T
    return y


# TensorFlow's SAME at stride 1 pads k - 1 in total, floor half on the left: written out for the kernels used here.
KERAS_PADDING = {1: (0, 0), 2: (0, 1), 3: (1, 1), 5: (2, 2), 8: (3, 4), 10: (4, 5), 20: (9, 10), 40: (19, 20)}


@pytest.mark.parametrize("kernel_size", sorted(KERAS_PADDING))
@pytest.mark.parametrize("length", [1, 5, 41])
def test_same_conv_pads_like_keras_with_the_odd_zero_on_the_right(kernel_size, length):
    torch.manual_seed(kernel_size + length)
    conv = SameConv1d(3, 4, kernel_size).double()
    x = torch.randn(2, 3, length, dtype=torch.float64)
    assert keras_same_padding(kernel_size) == KERAS_PADDING[kernel_size]
    expected = F.conv1d(F.pad(x, KERAS_PADDING[kernel_size]), conv.weight, conv.bias)  # hand-padded, valid conv
    assert conv(x).shape == (2, 4, length)
    torch.testing.assert_close(conv(x), expected, rtol=1e-12, atol=1e-12)
    left, right = KERAS_PADDING[kernel_size]
    torch.testing.assert_close(conv(x), loop_reference(x, conv.weight, conv.bias, left, 1), rtol=1e-12, atol=1e-12)
    if left != right and length > 1:  # the mirror image (extra zero on the left) is a different function
        assert not torch.allclose(conv(x), F.conv1d(F.pad(x, (right, left)), conv.weight, conv.bias))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_same_conv_with_dilation_and_torch_same_agree_with_keras():
    torch.manual_seed(0)
    conv = SameConv1d(2, 3, kernel_size=4, dilation=3).double()
    x = torch.randn(2, 2, 12, dtype=torch.float64)
    assert keras_same_padding(4, dilation=3) == (4, 5)  # K_eff = 10
    torch.testing.assert_close(conv(x), loop_reference(x, conv.weight, conv.bias, 4, 3), rtol=1e-12, atol=1e-12)
    for kernel_size in (8, 40):  # torch's own padding='same' also puts the odd zero on the right
        conv = SameConv1d(2, 3, kernel_size).double()
        torch.testing.assert_close(conv(x), F.conv1d(x, conv.weight, conv.bias, padding="same"), rtol=1e-12, atol=1e-12)


# --- Shapes and the Classifier interface -----------------------------------------------------------------------------

FEATURES = {"fcn": 128, "resnet_ts": 128, "inception_time": 128, "inception_time_ensemble": 5 * 128}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("c", "length"), [(1, 150), (1, 1), (1, 7), (3, 39), (3, 2)])
def test_any_length_and_channel_count_gives_logits(name, c, length):
    model = create(name, num_classes=4, in_channels=c).eval()  # eval: one step has a batch-norm statistic of 2 values
    x = torch.randn(2, c, length)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, FEATURES[name], length)  # unpooled: the time axis is kept
        assert model.feature_layout == "temporal"
        assert model(x).shape == (2, 4)


@pytest.mark.parametrize("name", NAMES)
def test_head_of_features_is_the_forward_and_reset_classifier_changes_the_output(name):
    torch.manual_seed(0)
    model = create(name, num_classes=3, in_channels=2).double().eval()
    x = torch.randn(3, 2, 20, dtype=torch.float64)
    with torch.no_grad():
        features = model.forward_features(x)
        torch.testing.assert_close(model.forward_head(features), model(x), rtol=0, atol=0)
        if name != "inception_time_ensemble":
            torch.testing.assert_close(model(x), model.head(features.mean(dim=2)), rtol=1e-12, atol=1e-12)
        model.reset_classifier(7)
        assert model(x).shape == (3, 7)
    heads = [m.head for m in model.members] if name == "inception_time_ensemble" else [model.head]
    assert all(head.out_features == 7 and head.weight.dtype == torch.float64 for head in heads)


# --- The ensemble ----------------------------------------------------------------------------------------------------


def test_ensemble_softmax_is_the_mean_of_the_members_softmax():
    torch.manual_seed(0)
    model = create("inception_time_ensemble", num_classes=4, in_channels=3).double().eval()
    x = torch.randn(5, 3, 30, dtype=torch.float64)
    with torch.no_grad():
        output = model(x)
        members = torch.stack([F.softmax(member(x), dim=1) for member in model.members])  # (M, N, K)
    assert len(model.members) == 5
    torch.testing.assert_close(F.softmax(output, dim=1), members.mean(dim=0), rtol=0, atol=1e-12)
    torch.testing.assert_close(output.exp().sum(dim=1), torch.ones(5, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(F.log_softmax(output, dim=1), output, rtol=0, atol=1e-12)  # already normalised


def test_ensemble_members_are_initialised_independently_and_all_train():
    torch.manual_seed(0)
    model = create("inception_time_ensemble")
    first = [member.blocks[0].convs[0].weight for member in model.members]
    assert all(not torch.equal(first[0], other) for other in first[1:])
    loss = F.cross_entropy(model.train()(torch.randn(4, 1, 16)), torch.tensor([0, 1, 0, 1]))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# --- Errors ----------------------------------------------------------------------------------------------------------


def test_invalid_arguments_raise_one_sentence_config_errors():
    with pytest.raises(ConfigError, match=r"Invalid `members` for inception_time_ensemble: expected at least 1 "
                                          r"network, received 0\."):
        create("inception_time_ensemble", members=0)
    with pytest.raises(ConfigError, match=r"Invalid `kernel_size` for inception_time: expected at least 4, .*"
                                          r"received 3\."):
        create("inception_time", kernel_size=3)
    with pytest.raises(ConfigError, match=r"Invalid `depth` for inception_time: expected at least 1 module, "
                                          r"received 0\."):
        create("inception_time", depth=0)
    with pytest.raises(ConfigError, match=r"Invalid `kernel_sizes` for fcn: expected one per entry of `channels` "
                                          r"\(3\), received 2\."):
        create("fcn", kernel_sizes=(8, 5))
    with pytest.raises(ConfigError, match=r"Invalid `channels` or `kernel_sizes` for resnet_ts"):
        create("resnet_ts", channels=())


def test_docstring_examples_run():
    assert doctest.testmod(striate.models.timeseries, verbose=False).failed == 0


# --- Training --------------------------------------------------------------------------------------------------------


def sine_or_square(n: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: a noisy sine of random frequency (2-5 periods) and phase; class 1: the square wave of the same."""
    t = torch.arange(length, dtype=torch.float32) / length
    frequency = 2 + 3 * torch.rand(n, 1, generator=generator)
    phase = 2 * math.pi * torch.rand(n, 1, generator=generator)
    sine = torch.sin(2 * math.pi * frequency * t + phase)  # (N, L)
    target = torch.arange(n) % 2
    x = torch.where(target[:, None] == 1, torch.sign(sine), sine) + 0.1 * torch.randn(n, length, generator=generator)
    return x[:, None], target  # (N, L) -> (N, 1, L)


def test_fcn_learns_sine_versus_square_in_30_adam_steps():
    generator = torch.Generator().manual_seed(0)
    x, target = sine_or_square(16, 64, generator)
    held_out, held_out_target = sine_or_square(32, 64, generator)
    torch.manual_seed(0)
    model = create("fcn").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0], losses
    # Batch statistics, not the running ones: after 30 large steps those still lag behind the weights.
    with torch.no_grad():
        assert (model(held_out).argmax(dim=1) == held_out_target).float().mean() >= 0.9
