"""Capsule layers against float64 loop references (Procedure 1 of Sabour et al. 2017), gradcheck, specs, errors."""

import doctest
import math
import re

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch.func import functional_call

import striate.layers.capsules
from striate.errors import ShapeError
from striate.layers import (
    LAYERS,
    CapsuleLength,
    DigitCapsules,
    DynamicRouting,
    PrimaryCapsules,
    Squash,
    margin_loss,
    squash,
)
from striate.models.capsnet import margin_loss as capsnet_margin_loss
from striate.models.capsnet import squash as capsnet_squash
from striate.models.spec import build_spec

# ------------------------------------------------------------------------------------------------- loop references


def squash_vector(s):
    """One vector: |s|^2 / (1 + |s|^2) * s / |s|, component by component."""
    norm_sq = sum(float(x) ** 2 for x in s)
    norm = math.sqrt(norm_sq)
    return torch.tensor([norm_sq / (1 + norm_sq) * float(x) / norm if norm else 0.0 for x in s], dtype=torch.float64)


def routing_reference(weight, u, iterations):
    """Procedure 1 of the paper, one example at a time with explicit loops over i (inputs) and j (outputs)."""
    n_in, n_out = weight.shape[:2]
    out = []
    for example in u:
        u_hat = [[weight[i, j] @ example[i] for j in range(n_out)] for i in range(n_in)]  # u_hat_j|i = W_ij u_i
        b = [[0.0] * n_out for _ in range(n_in)]
        for _ in range(iterations):
            c = []
            for i in range(n_in):  # c_i = softmax(b_i) over j
                exps = [math.exp(b[i][j]) for j in range(n_out)]
                c.append([e / sum(exps) for e in exps])
            v = []
            for j in range(n_out):
                s_j = sum(c[i][j] * u_hat[i][j] for i in range(n_in))
                v.append(squash_vector(s_j))
            for i in range(n_in):
                for j in range(n_out):
                    b[i][j] += float(u_hat[i][j] @ v[j])
        out.append(torch.stack(v))
    return torch.stack(out)  # (N, K, out_dim)


def margin_reference(lengths, target, m_plus=0.9, m_minus=0.1, down_weight=0.5):
    total = 0.0
    for n, row in enumerate(lengths.tolist()):
        for k, length in enumerate(row):
            if k == target[n]:
                total += max(0.0, m_plus - length) ** 2
            else:
                total += down_weight * max(0.0, length - m_minus) ** 2
    return total / len(lengths)


# ---------------------------------------------------------------------------------------------------------- squash


def test_squash_matches_the_per_vector_loop():
    s = torch.randn(3, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    s[0, 0] = 0.0  # a zero vector stays zero
    expected = torch.stack([squash_vector(vector) for vector in s.reshape(-1, 4)]).reshape(3, 5, 4)
    torch.testing.assert_close(squash(s), expected)
    torch.testing.assert_close(Squash(dim=1)(s.transpose(1, 2)), expected.transpose(1, 2))
    assert squash(s).norm(dim=-1).max() < 1


def test_squash_gradcheck():
    s = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(squash, (s,))


def test_capsule_length_is_the_euclidean_norm():
    v = torch.randn(2, 3, 5, dtype=torch.float64)
    expected = torch.tensor([[math.sqrt(sum(x * x for x in capsule)) for capsule in row] for row in v.tolist()],
                            dtype=torch.float64)
    torch.testing.assert_close(CapsuleLength()(v), expected)


# ---------------------------------------------------------------------------------------------------- margin loss


def test_margin_loss_matches_the_formula_by_loops():
    lengths = torch.rand(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 3, 1, 1, 2, 0])
    assert math.isclose(margin_loss(lengths, target).item(), margin_reference(lengths, target), rel_tol=1e-12)
    got = margin_loss(lengths, target, m_plus=0.8, m_minus=0.2, down_weight=0.25).item()
    assert math.isclose(got, margin_reference(lengths, target, 0.8, 0.2, 0.25), rel_tol=1e-12)


def test_margin_loss_gradcheck():
    lengths = torch.tensor([[0.5, 0.3, 0.05], [0.95, 0.6, 0.2]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: margin_loss(x, torch.tensor([1, 0])), (lengths,))


# ----------------------------------------------------------------------------------------------- primary capsules


def test_primary_capsules_shape_and_hand_reshape():
    torch.manual_seed(0)
    layer = PrimaryCapsules(3, channels=2, dim=4, kernel_size=3, stride=2).double()
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64)
    with torch.no_grad():
        out, conv = layer(x), layer.conv(x)  # conv: (N, channels * dim, H_out, W_out)
    h, w = (9 - 3) // 2 + 1, (8 - 3) // 2 + 1  # 4, 3
    assert out.shape == (2, 2 * h * w, 4)
    expected = torch.empty_like(out)
    for n in range(2):
        for c in range(2):
            for i in range(h):
                for j in range(w):
                    vector = torch.stack([conv[n, c * 4 + d, i, j] for d in range(4)])
                    expected[n, c * h * w + i * w + j] = squash_vector(vector)
    torch.testing.assert_close(out, expected)


def test_primary_capsules_gradcheck():
    layer = PrimaryCapsules(2, channels=2, dim=3, kernel_size=3, stride=2).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


# ------------------------------------------------------------------------------------------------ dynamic routing


@pytest.mark.parametrize("iterations", [1, 2, 3])
def test_dynamic_routing_matches_procedure_1(iterations):
    torch.manual_seed(iterations)
    layer = DynamicRouting(5, 3, in_dim=4, out_dim=6, iterations=iterations).double()
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.5)  # larger than the init, so that routing moves the coupling visibly
    u = squash(torch.randn(2, 5, 4, dtype=torch.float64))
    torch.testing.assert_close(layer(u), routing_reference(layer.weight.detach(), u, iterations))


def test_dynamic_routing_one_round_couples_uniformly():
    layer = DynamicRouting(6, 3, in_dim=4, out_dim=5, iterations=1)
    u = torch.randn(2, 6, 4)
    u_hat = torch.einsum("ijdk,nik->nijd", layer.weight, u)  # (N, I, K, out_dim)
    torch.testing.assert_close(layer(u), squash(u_hat.sum(dim=1) / 3))


def test_dynamic_routing_gradcheck():
    layer = DynamicRouting(3, 2, in_dim=2, out_dim=3, iterations=3).double()
    u = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 2, 3, 2, dtype=torch.float64, requires_grad=True)

    def routed(u, weight):
        return functional_call(layer, {"weight": weight}, (u,))

    assert torch.autograd.gradcheck(routed, (u, weight))


def test_dynamic_routing_parameters_and_alias():
    assert DigitCapsules is DynamicRouting
    layer = DynamicRouting(1152, 10, 8, 16)
    assert layer.weight.shape == (1152, 10, 16, 8) and layer.weight.numel() == 1_474_560
    assert "1152, 10, in_dim=8, out_dim=16, iterations=3" in repr(layer)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 7, 4), "Invalid `in_capsules`: expected 7, the capsule count of the input (N, 7, 4), received 6."),
        ((2, 6, 3), "Invalid `in_dim`: expected 3, the dimension of the input (N, 6, 3), received 4."),
        ((2, 24), "Invalid `input` shape for DynamicRouting: expected (N, in_capsules, in_dim) = (N, 6, 4), "
                  "received (2, 24)."),
    ],
)
def test_dynamic_routing_shape_errors(shape, message):
    with pytest.raises(ShapeError, match=re.escape(message)):
        DynamicRouting(6, 3, in_dim=4)(torch.randn(*shape))


# ------------------------------------------------------------------------------------------- registry and specs

SPEC = """
name: tiny-capsnet
input_shape: [1, 12, 12]
num_classes: 3
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3}                             # 8x10x10
  - relu
  - {type: primary_capsules, channels: 2, dim: 4, kernel_size: 3, stride: 2}  # 2 maps of 4x4: 32 capsules, 4-D
  - {type: dynamic_routing, in_capsules: 32, in_dim: 4, out_capsules: $num_classes, out_dim: 6}
  - capsule_length
"""


def test_capsule_layers_are_registered():
    assert LAYERS["primary_capsules"] is PrimaryCapsules and LAYERS["dynamic_routing"] is DynamicRouting
    assert LAYERS["capsule_length"] is CapsuleLength and LAYERS["squash"] is Squash
    assert capsnet_squash is squash and capsnet_margin_loss is margin_loss


def test_capsule_network_from_a_yaml_spec():
    torch.manual_seed(0)
    model = build_spec(yaml.safe_load(SPEC))
    primary, routing = model.features[2], model.features[3]
    assert primary.conv.in_channels == 8  # inferred from the incoming shape
    assert (routing.in_capsules, routing.out_capsules, routing.out_dim) == (32, 3, 6)
    assert model.output_shape == (3,)
    x, target = torch.randn(2, 1, 12, 12), torch.tensor([0, 2])
    lengths = model(x)
    assert lengths.shape == (2, 3) and lengths.min() >= 0 and lengths.max() < 1
    torch.testing.assert_close(lengths, routing(primary(F.relu(model.features[0](x)))).norm(dim=-1))
    margin_loss(lengths, target).backward()
    assert routing.weight.grad.abs().sum() > 0 and primary.conv.weight.grad.abs().sum() > 0


def test_spec_names_a_wrong_capsule_count():
    spec = yaml.safe_load(SPEC.replace("in_capsules: 32", "in_capsules: 30"))
    message = ("Invalid `in_capsules` for layer 3 (dynamic_routing): expected 32, the capsule count of the input "
               "(N, 32, 4), received 30 (incoming shape 32x4).")
    with pytest.raises(ShapeError, match=re.escape(message)):
        build_spec(spec)


def test_docstring_examples_run():
    result = doctest.testmod(striate.layers.capsules)
    assert result.failed == 0 and result.attempted > 0
