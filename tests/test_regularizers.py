"""Weight penalties against hand-computed sums; max-norm against a per-neuron loop over incoming vectors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from striate.errors import ConfigError, ShapeError
from striate.regularizers import (
    MaxNorm,
    WeightPenalty,
    is_norm_layer,
    max_norm_,
    param_groups_for_weight_decay,
    penalized_parameters,
)


class MyNorm2d(nn.Module):
    """A custom normalisation layer, recognised by its class name."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((2,), 5.0, dtype=torch.float64))


def small_model() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 1), MyNorm2d()).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.0, 3.0]]))
        model[0].bias.copy_(torch.tensor([0.5, -0.5]))
        model[1].weight.fill_(2.0)
        model[1].bias.fill_(-1.0)
        model[2].weight.copy_(torch.tensor([[-4.0, 0.5]]))
        model[2].bias.fill_(1.0)
    return model


def test_default_selection_excludes_biases_and_norm_layers():
    model = small_model()
    assert penalized_parameters(model) == [model[0].weight, model[2].weight]
    assert is_norm_layer(model[1]) and is_norm_layer(model[3]) and not is_norm_layer(model[0])


def test_selection_includes_biases_and_norms_when_asked():
    model = small_model()
    with_bias = [model[0].weight, model[0].bias, model[2].weight, model[2].bias]
    assert penalized_parameters(model, include_bias=True) == with_bias
    norm = [model[0].weight, model[1].weight, model[2].weight, model[3].weight]
    assert penalized_parameters(model, include_norm=True) == norm
    assert len(penalized_parameters(model, include_bias=True, include_norm=True)) == 7


def test_shared_parameters_are_counted_once():
    layer = nn.Linear(3, 3, bias=False)
    assert penalized_parameters(nn.Sequential(layer, nn.ReLU(), layer)) == [layer.weight]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # weights 1, -2, 0, 3, -4, 0.5: sum|w| = 10.5, sum w^2 = 30.25
        (dict(l1=0.1), 0.1 * 10.5),
        (dict(l2=0.01), 0.01 * 30.25),
        (dict(l1=0.1, l2=0.01), 0.1 * 10.5 + 0.01 * 30.25),
        # biases 0.5, -0.5, 1: |b| = 2, b^2 = 1.5
        (dict(l1=0.1, l2=0.01, include_bias=True), 0.1 * 12.5 + 0.01 * 31.75),
        # norm weights only (a norm layer's bias is still a bias): BatchNorm (2, 2), MyNorm2d (5, 5): |.| = 14, .^2 = 58
        (dict(l1=0.1, l2=0.01, include_norm=True), 0.1 * 24.5 + 0.01 * 88.25),
        # ... plus all biases, BatchNorm's (-1, -1) included: |.| = 16, .^2 = 60
        (dict(l1=0.1, l2=0.01, include_bias=True, include_norm=True), 0.1 * 28.5 + 0.01 * 91.75),
        (dict(), 0.0),
    ],
)
def test_penalty_equals_hand_computed_sums(kwargs, expected):
    value = WeightPenalty(**kwargs)(small_model())
    torch.testing.assert_close(value, torch.tensor(expected, dtype=value.dtype), rtol=1e-12, atol=1e-12)


def test_penalty_gradient_is_l1_sign_plus_two_l2_w():
    model = small_model()
    l1, l2 = 0.3, 0.07
    WeightPenalty(l1=l1, l2=l2)(model).backward()
    for layer in (model[0], model[2]):
        w = layer.weight.detach()
        torch.testing.assert_close(layer.weight.grad, l1 * torch.sign(w) + 2 * l2 * w, rtol=1e-12, atol=1e-12)
        assert layer.bias.grad is None
    assert model[0].weight.grad[1, 0] == 0.0  # sign(0) = 0
    assert model[1].weight.grad is None


def test_param_groups_decay_only_the_selected_weights():
    model = small_model()
    groups = param_groups_for_weight_decay(model, 0.05)
    assert groups[0] == {"params": [model[0].weight, model[2].weight], "weight_decay": 0.05}
    assert groups[1]["weight_decay"] == 0.0
    assert len(groups[1]["params"]) == 5
    torch.optim.AdamW(groups, lr=1e-3)
    assert len(param_groups_for_weight_decay(nn.Linear(2, 2, bias=False), 0.1)) == 1


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: WeightPenalty(l1=-1.0), r"Invalid `l1`: expected a finite number >= 0, received -1.0\."),
        (lambda: WeightPenalty(l2=float("nan")), r"Invalid `l2`: expected a finite number >= 0, received nan\."),
        (lambda: param_groups_for_weight_decay(nn.Linear(1, 1), "0.1"), r"Invalid `weight_decay`: .* received '0.1'"),
        (lambda: MaxNorm(0.0), r"Invalid `max_value` for max-norm: expected a finite number > 0, received 0.0\."),
        (lambda: max_norm_(nn.Linear(1, 1), 3.0, eps=-1.0), r"Invalid `eps`: expected a finite number >= 0"),
    ],
)
def test_invalid_arguments_raise_config_error(build, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build()


# ---------------------------------------------------------------------------------------------------------- max-norm


class Local(nn.Module):
    """Stands in for a locally connected layer: weight (L, C_out, F), one neuron per (location, output channel)."""

    fan_in_dims = (-1,)

    def __init__(self, locations: int = 5, out_channels: int = 3, fan_in: int = 8) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(locations, out_channels, fan_in))
        self.bias = nn.Parameter(torch.randn(locations, out_channels) * 10)


def incoming_vectors(module: nn.Module) -> list[torch.Tensor]:
    """One neuron's incoming weights per entry, sliced by hand (views into the weight)."""
    w = module.weight
    if isinstance(module, Local):
        return [w[loc, out] for loc in range(w.shape[0]) for out in range(w.shape[1])]
    if isinstance(module, nn.ConvTranspose2d):  # weight (C_in, C_out/g, kh, kw)
        per_group_in, per_group_out = w.shape[0] // module.groups, w.shape[1]
        return [
            w[g * per_group_in:(g + 1) * per_group_in, o] for g in range(module.groups) for o in range(per_group_out)
        ]
    return [w[out] for out in range(w.shape[0])]  # Linear rows and conv filters


MODULES = {
    "linear": lambda: nn.Linear(6, 7),
    "conv1d": lambda: nn.Conv1d(4, 6, 3),
    "conv2d_groups": lambda: nn.Conv2d(4, 6, 3, groups=2),
    "conv3d": lambda: nn.Conv3d(2, 4, (2, 3, 3)),
    "conv_transpose2d_groups": lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2),
    "fan_in_dims": lambda: Local(),
}


@pytest.mark.parametrize("kind", list(MODULES))
def test_max_norm_clamps_each_incoming_vector(kind):
    torch.manual_seed(0)
    module = MODULES[kind]().double()
    with torch.no_grad():
        spread = torch.rand(module.weight.shape[0], *[1] * (module.weight.ndim - 1), dtype=torch.float64) * 3
        module.weight.mul_(spread)
    before = [v.detach().clone() for v in incoming_vectors(module)]
    bias_before = module.bias.detach().clone()
    norms = sorted(float(v.norm()) for v in before)
    c = (norms[len(norms) // 2 - 1] + norms[len(norms) // 2]) / 2  # halfway, so no norm sits on the bound
    expected_count = sum(int(v.norm() > c) for v in before)
    assert 0 < expected_count < len(before)

    assert max_norm_(module, c) == expected_count

    for old, new in zip(before, incoming_vectors(module), strict=True):
        assert new.norm() <= c + 1e-12
        if old.norm() <= c:
            assert torch.equal(new, old)  # bit-for-bit
        else:
            expected = c * old.norm() / (old.norm() + 1e-12)  # eps keeps the result at or under c
            torch.testing.assert_close(new.norm(), expected, rtol=1e-12, atol=0)
            torch.testing.assert_close(new / new.norm(), old / old.norm(), rtol=1e-12, atol=1e-15)
    assert torch.equal(module.bias, bias_before)


def test_max_norm_walks_nested_models_and_counts():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    with torch.no_grad():
        model[0].weight.fill_(1.0)  # each filter has norm 3
        model[1].weight.fill_(100.0)
        model[3].weight.fill_(0.01)  # each row has norm ~0.028
    linear_before = model[3].weight.detach().clone()
    assert MaxNorm(2.0)(model) == 2
    torch.testing.assert_close(model[0].weight, torch.full_like(model[0].weight, 2.0 / 3.0))
    assert torch.equal(model[3].weight, linear_before)
    assert torch.equal(model[1].weight, torch.full((2,), 100.0))  # norm layers have no incoming vectors
    assert MaxNorm(2.0)(model) == 0


def test_max_norm_rejects_bad_fan_in_dims():
    class Broken(Local):
        fan_in_dims = (3,)

    with pytest.raises(ShapeError, match=r"Invalid `fan_in_dims` of module `1` \(Broken\): expected dims of its 3-D"):
        max_norm_(nn.Sequential(nn.ReLU(), Broken()), 1.0)
