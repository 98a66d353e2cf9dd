"""What each model family promises beyond a shape: causality, routing, auxiliary and ensemble losses, constraints."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from striate.errors import ConfigError
from striate.models import create
from striate.models.capsnet import DigitCapsules, margin_loss, squash
from striate.models.googlenet import INCEPTION
from striate.models.lenet import C3_TABLE
from striate.models.multicolumn import Stretch
from striate.models.resnet import ZeroPadShortcut
from striate.models.video import C3D

# --- LeNet-5 ---------------------------------------------------------------------------------------------------------


def test_lenet5_classic_connects_c3_as_table_1_and_outputs_negative_distances():
    model = create("lenet5_classic").eval()
    connected = model.features[4].dense_weight().abs().sum(dim=(2, 3)) > 0  # (16, 6)
    assert [tuple(torch.nonzero(row).flatten().tolist()) for row in connected] == list(C3_TABLE)
    assert model.features[4].weight.numel() + model.features[4].bias.numel() == 1516
    features = model.forward_features(torch.randn(2, 1, 32, 32))
    assert features.shape == (2, 120, 1, 1)  # C5
    f6 = model.hidden(features.flatten(1))  # (N, 84)
    expected = -((f6[:, None, :] - model.head.codes) ** 2).sum(-1)
    torch.testing.assert_close(model.forward_head(features), expected)
    assert set(model.head.codes.unique().tolist()) == {-1.0, 1.0}
    assert create("lenet5_classic", input_size=(28, 28))(torch.randn(2, 1, 28, 28)).shape == (2, 10)


# --- GoogLeNet -------------------------------------------------------------------------------------------------------


def test_googlenet_auxiliary_classifiers_add_three_tenths_of_their_loss():
    model = create("googlenet", num_classes=10, in_channels=1, input_size=(28, 28), aux_logits=True)
    x, target = torch.randn(2, 1, 28, 28), torch.tensor([1, 4])
    output = model.train()(x)
    aux1, aux2 = model.aux_outputs
    assert output.shape == aux1.shape == aux2.shape == (2, 10)
    expected = F.cross_entropy(output, target) + 0.3 * (F.cross_entropy(aux1, target) + F.cross_entropy(aux2, target))
    torch.testing.assert_close(model.compute_loss(output, target), expected)
    assert model.aux_outputs == ()  # used once
    model.eval()(x)
    assert model.aux_outputs == ()


def googlenet_field(branch5x5_kernel_size: int, pool4_kernel_size: int) -> int:
    """Table 1's receptive field arithmetic, r += (k - 1) * jump and jump *= stride, up to Inception 5b.

    Every Inception module keeps the size (its branches are padded) and its largest field is that of the "5x5"
    branch, 1x1 then k x k; the 3x3 max pool branch and the 3x3 branch add 2 jumps, no more than k = 3 or 5.
    """
    r, jump = 1, 1
    layers = [(7, 2), (3, 2), (1, 1), (3, 1), (3, 2), "3a", "3b", (3, 2), "4a", "4b", "4c", "4d", "4e",
              (pool4_kernel_size, 2), "5a", "5b"]  # conv 7x7/2, max pool, conv 1x1, conv 3x3, max pool, ...
    for layer in layers:
        kernel, stride = (branch5x5_kernel_size, 1) if isinstance(layer, str) else layer
        r, jump = r + (kernel - 1) * jump, jump * stride
    return r


@pytest.mark.parametrize(
    ("kwargs", "kernel", "pool", "field", "params"),
    [
        ({}, 3, 2, 379, 6_624_904),  # torchvision
        ({"branch5x5_kernel_size": 5}, 5, 2, 699, 7_005_832),  # 5x5 kernels, torchvision's 2x2/2 pool before 5a
        ({"paper": True}, 5, 3, 715, 7_005_832),  # Table 1: 5x5 kernels and a 3x3/2 pool before 5a
    ],
)
def test_googlenet_paper_layout_gives_the_papers_receptive_field(kwargs, kernel, pool, field, params):
    from striate.summary import summarize

    assert googlenet_field(kernel, pool) == field
    model = create("googlenet", **kwargs)
    assert model.inception5[1].kernel_size == pool and model.inception5[2].branch5[1][0].kernel_size == (kernel,) * 2
    # 5x5 kernels add c5_reduce * c5 * (25 - 9) weights per module over torchvision's 3x3.
    extra = sum(row[3] * row[4] for row in INCEPTION.values()) * (25 - 9) if kernel == 5 else 0
    assert sum(p.numel() for p in model.parameters()) == params == 6_624_904 + extra
    summary = summarize(model, (3, 224, 224))
    pool_row = next(i for i, row in enumerate(summary.rows) if row.name == "pool")
    last = summary.rows[pool_row - 1]
    assert (last.name, last.type) == ("inception5.3", "Inception")
    assert last.receptive_field.size == (field, field) and last.receptive_field.jump == (32, 32)


# --- ResNet ----------------------------------------------------------------------------------------------------------


def test_option_a_shortcut_subsamples_and_zero_pads_without_parameters():
    shortcut = ZeroPadShortcut(16, 32, stride=2)
    x = torch.randn(2, 16, 7, 7)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4) and list(shortcut.parameters()) == []
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2])
    assert y[:, 16:].abs().sum() == 0


def test_resnet_stem_follows_the_input_size():
    with torch.device("meta"):
        assert create("resnet18", input_size=(224, 224)).stem[0][0].kernel_size == (7, 7)
        assert create("resnet18", input_size=(28, 28)).stem[0][0].kernel_size == (3, 3)


# --- multi-column ----------------------------------------------------------------------------------------------------


def test_multicolumn_averages_column_probabilities_and_trains_columns_separately():
    model = create("mcdnn", input_size=(28, 28), preprocess=("original", "stretch_0.8")).train()
    x, target = torch.randn(2, 1, 28, 28), torch.tensor([0, 9])
    output = model(x)
    logits = [model.columns[0](x), model.columns[1](Stretch(0.8)(x))]
    mean_probability = sum(F.softmax(z, dim=1) for z in logits) / 2
    torch.testing.assert_close(output.exp(), mean_probability)
    expected = sum(F.cross_entropy(z, target) for z in logits)
    torch.testing.assert_close(model.compute_loss(output, target), expected)


def test_multicolumn_rejects_unknown_preprocessing():
    message = ("Invalid `preprocess` entry: expected 'original', 'contrast' or 'stretch_<factor>' such as "
               "'stretch_0.8', ")
    with pytest.raises(ConfigError, match=re.escape(message + "received 'blur'.")):
        create("mcdnn", preprocess=("blur",))


# --- TCN -------------------------------------------------------------------------------------------------------------


def test_tcn_is_causal():
    model = create("tcn", in_channels=2, num_classes=3, channels=(8, 8, 8), kernel_size=3, output="sequence").eval()
    x = torch.randn(1, 2, 40)
    t = 25
    changed = x.clone()
    changed[:, :, t + 1:] = torch.randn(1, 2, 40 - t - 1)
    y, y_changed = model(x), model(changed)
    assert y.shape == (1, 3, 40)
    torch.testing.assert_close(y[:, :, : t + 1], y_changed[:, :, : t + 1], rtol=0, atol=0)
    assert not torch.allclose(y[:, :, t + 1:], y_changed[:, :, t + 1:])


def test_tcn_last_step_output_and_receptive_field():
    model = create("tcn", channels=(4, 4), kernel_size=3).eval()
    x = torch.randn(2, 1, 30)
    last = model(x)
    model.output = "sequence"
    torch.testing.assert_close(last, model(x)[:, :, -1])
    assert model.receptive_field == 1 + 2 * 2 * (1 + 2)
    assert create("tcn").receptive_field == 3061  # covers the 784 pixels of sequential MNIST
    message = "Invalid `output` for the TCN: expected 'last' or 'sequence', received 'all'."
    with pytest.raises(ConfigError, match=re.escape(message)):
        create("tcn", output="all")


# --- Text CNN --------------------------------------------------------------------------------------------------------


def test_textcnn_max_norm_and_variants():
    model = create("textcnn", vocab_size=30, num_classes=2)
    assert model.max_norm == 3.0
    with torch.no_grad():
        model.head.weight.mul_(100)
    assert model.apply_constraints() == 2
    assert model.head.weight.norm(dim=1).max() <= 3.0 + 1e-5
    assert model(torch.randint(0, 30, (4, 2))).shape == (4, 2)  # shorter than the widest filter: padded
    assert not create("textcnn", vocab_size=30, variant="static").embedding.weight.requires_grad
    multichannel = create("textcnn", vocab_size=30, variant="multichannel")
    assert multichannel.embedding.weight.requires_grad and not multichannel.static_embedding.weight.requires_grad
    with pytest.raises(ConfigError, match="Invalid `variant` for the Text CNN: expected one of rand, static, "):
        create("textcnn", variant="dynamic")


# --- video -----------------------------------------------------------------------------------------------------------


def test_c3d_reaches_512x1x4x4_on_16_frame_112_pixel_clips():
    with torch.device("meta"):
        model = C3D()
        assert model.features(torch.zeros(1, 3, 16, 112, 112)).shape == (1, 512, 1, 4, 4)


def test_cnn_lstm_reads_every_frame():
    model = create("cnn_lstm", num_classes=5, average=False).eval()
    x = torch.randn(2, 3, 6, 20, 20)
    assert model.forward_features(x).shape == (2, 256, 6, 2, 2)  # 20 -> 10 -> 5 -> 3 -> 2
    assert model.lstm_states(model.forward_features(x)).shape == (2, 6, 256)
    changed = x.clone()
    changed[:, :, 0] += 1  # the first frame still reaches the last LSTM state
    assert not torch.allclose(model(x), model(changed))


# --- DQN and TDNN ----------------------------------------------------------------------------------------------------


def test_dqn_maps_frame_stacks_to_one_value_per_action():
    model = create("dqn", num_actions=6)
    assert model.features(torch.zeros(1, 4, 84, 84)).shape == (1, 64, 7, 7)
    assert model(torch.randn(3, 4, 84, 84)).shape == (3, 6)


def test_dueling_head_is_value_plus_centred_advantage():
    torch.manual_seed(0)
    for name, shape in (("dqn", (4, 84, 84)), ("minatar_dqn", (4, 10, 10))):
        model = create(name, num_actions=5, dueling=True).eval()
        x = torch.randn(3, *shape)
        flat = model.forward_features(x).flatten(1)
        first, last = model.head.value[0], model.head.value[2]
        value = torch.relu(flat @ first.weight.T + first.bias) @ last.weight.T + last.bias  # (3, 1)
        advantage = model.head.advantage(flat)  # (3, 5)
        expected = torch.stack([torch.stack([value[i, 0] + advantage[i, a] - advantage[i].sum() / 5 for a in range(5)])
                                for i in range(3)])
        torch.testing.assert_close(model(x), expected)
        model.reset_classifier(2)
        assert model(x).shape == (3, 2) and model.dueling


def test_minatar_network_sees_object_maps():
    model = create("minatar_dqn", num_actions=3, in_channels=7)
    assert model.forward_features(torch.zeros(1, 7, 10, 10)).shape == (1, 16, 8, 8)
    assert model(torch.rand(2, 7, 10, 10)).shape == (2, 3)


def test_tdnn_integrates_over_time():
    model = create("tdnn", num_classes=3).eval()
    x = torch.randn(2, 16, 15)
    assert model.forward_features(x).shape == (2, 8, 13)
    torch.testing.assert_close(model(x), model.head(model.forward_features(x)).mean(-1))
    assert create("tdnn2d", num_classes=3)(torch.randn(2, 1, 16, 15)).shape == (2, 3)


# --- capsules --------------------------------------------------------------------------------------------------------


def test_routing_gives_one_capsule_per_class():
    layer = DigitCapsules(1152, 10, 8, 16, iterations=3)
    v = layer(squash(torch.randn(2, 1152, 8)))
    assert v.shape == (2, 10, 16)
    assert (v.norm(dim=-1) < 1).all()


def test_one_routing_iteration_is_the_uniform_average():
    layer = DigitCapsules(6, 3, 4, 5, iterations=1)
    u = torch.randn(2, 6, 4)
    u_hat = torch.einsum("ijdk,nik->nijd", layer.weight, u)  # (N, I, K, D)
    torch.testing.assert_close(layer(u), squash(u_hat.sum(dim=1) / 3))


def test_squash_keeps_direction_and_maps_length():
    s = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(squash(s), s / 5 * 25 / 26)


def test_margin_loss_matches_the_formula():
    lengths = torch.tensor([[0.95, 0.2, 0.05], [0.3, 0.5, 0.7]])
    target = torch.tensor([0, 1])
    first = 0.0 + 0.5 * (0.2 - 0.1) ** 2
    second = (0.9 - 0.5) ** 2 + 0.5 * ((0.3 - 0.1) ** 2 + (0.7 - 0.1) ** 2)
    assert math.isclose(margin_loss(lengths, target).item(), (first + second) / 2, rel_tol=1e-6)


def test_capsnet_loss_adds_the_scaled_reconstruction_error():
    model = create("capsnet").train()
    x, target = torch.randn(2, 1, 28, 28), torch.tensor([2, 5])
    output = model(x)
    assert output.shape == (2, 10)
    capsules = model._cache[0]
    torch.testing.assert_close(output, capsules.norm(dim=-1))
    reconstruction = model.reconstruct(capsules, target)
    assert reconstruction.shape == x.shape
    expected = margin_loss(output, target) + 0.0005 * ((reconstruction - x) ** 2).sum(dim=(1, 2, 3)).mean()
    torch.testing.assert_close(model.compute_loss(output, target), expected)
    model.eval()(x)
    assert model._cache is None


def test_textcnn_embeddings_start_as_kims_uniform_rows_with_a_zero_padding_row():
    model = create("textcnn", vocab_size=500, num_classes=2, variant="multichannel")
    for table in (model.embedding.weight, model.static_embedding.weight):
        assert float(table.abs().max()) <= 0.25 and float(table[1:].std()) == pytest.approx(0.5 / 12**0.5, rel=0.05)
        assert float(table[0].abs().sum()) == 0.0
