"""DropConnectLinear: fresh masks, drop rate, inverted scaling, expectation at inference, gradients."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from striate.errors import ConfigError
from striate.layers import DropConnectLinear


def recording(layer):
    """Wrap `layer.sample_masks` so every mask drawn by `forward` is kept in the returned list."""
    masks = []
    draw = layer.sample_masks

    def sample_and_keep():
        masks.append(draw())
        return masks[-1]

    layer.sample_masks = sample_and_keep
    return masks


def test_is_a_linear_and_eval_is_plain_linear():
    torch.manual_seed(0)
    layer = DropConnectLinear(6, 4, p=0.4).double().eval()
    assert isinstance(layer, nn.Linear) and "p=0.4" in repr(layer)
    x = torch.randn(3, 6, dtype=torch.float64)
    assert torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))


def test_training_uses_fresh_masks_with_inverted_scaling():
    torch.manual_seed(1)
    layer = DropConnectLinear(8, 5, p=0.5).double().train()
    masks = recording(layer)
    x = torch.randn(4, 8, dtype=torch.float64)
    outputs = [layer(x) for _ in range(2)]
    assert len(masks) == 2 and not torch.equal(masks[0][0], masks[1][0])
    for out, (weight_mask, bias_mask) in zip(outputs, masks, strict=True):
        assert set(weight_mask.unique().tolist()) <= {0.0, 1.0}
        expected = F.linear(x, layer.weight * weight_mask / 0.5, layer.bias * bias_mask / 0.5)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_fraction_of_dropped_weights_is_p():
    torch.manual_seed(2)
    layer = DropConnectLinear(200, 100, p=0.3)
    weight_mask, bias_mask = layer.sample_masks()
    dropped = (weight_mask == 0).double().mean().item()
    # Statistical bound, not a float tolerance: 5 standard errors of a Binomial(20000, 0.3) fraction (0.016).
    assert abs(dropped - 0.3) < 5 * math.sqrt(0.3 * 0.7 / 20000)
    assert bias_mask.shape == (100,)


def test_eval_output_is_the_mean_of_training_outputs():
    torch.manual_seed(3)
    p, draws = 0.5, 4000
    layer = DropConnectLinear(16, 4, p=p).double()
    x = torch.randn(3, 16, dtype=torch.float64)
    with torch.no_grad():
        mean = torch.stack([layer.train()(x) for _ in range(draws)]).mean(0)
        expected = layer.eval()(x)
    # Per-output variance of one training output: p / (1 - p) * (sum_i W_ji^2 x_i^2 + b_j^2) under inverted scaling.
    variance = p / (1 - p) * ((x**2) @ (layer.weight**2).T + layer.bias.detach() ** 2)
    # Statistical bound, not a float tolerance: 5 standard errors of a 4000-draw mean for each of the 12 outputs.
    assert ((mean - expected).abs() < 5 * (variance / draws).sqrt()).all()


def test_gradient_flows_only_to_kept_weights():
    torch.manual_seed(4)
    layer = DropConnectLinear(7, 3, p=0.5).double().train()
    masks = recording(layer)
    x = torch.randn(5, 7, dtype=torch.float64)
    layer(x).sum().backward()
    weight_mask, bias_mask = masks[0]
    # d(sum out)/dW_ji = M_ji / (1 - p) * sum_n x_ni; zero exactly where the connection was dropped.
    expected = weight_mask / 0.5 * x.sum(0)
    torch.testing.assert_close(layer.weight.grad, expected, rtol=0, atol=1e-12)
    assert torch.equal(layer.weight.grad == 0, weight_mask == 0)
    torch.testing.assert_close(layer.bias.grad, bias_mask / 0.5 * 5, rtol=0, atol=1e-12)


def test_p_zero_and_no_bias():
    torch.manual_seed(5)
    x = torch.randn(2, 4)
    layer = DropConnectLinear(4, 2, p=0.0).train()
    assert torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))
    layer = DropConnectLinear(4, 2, bias=False, p=0.5).train()
    assert layer.sample_masks()[1] is None and layer(x).shape == (2, 2)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, "0.5"])
def test_invalid_p(p):
    with pytest.raises(
        ConfigError, match=re.escape(f"Invalid `p`: expected a drop probability in [0, 1), received {p!r}.")
    ):
        DropConnectLinear(4, 2, p=p)
