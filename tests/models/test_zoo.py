"""Every registered model: parameter counts at the paper's input, shapes, and one training step on random data."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from striate.errors import ConfigError
from striate.models import create, get_entry, list_models
from striate.models._base import apply_model_constraints, model_loss
from striate.models._registry import data_arguments

NAMES = [entry.name for entry in list_models()]


# (name, create() arguments, expected parameters, source). Published counts are quoted; where a paper gives none,
# the count is the arithmetic of the layers it lists, written out.
PARAMETER_COUNTS = [
    ("convnet", {}, 9 * (1 * 32 + 32 * 32 + 32 * 64 + 64 * 64 + 64 * 128 + 128 * 128)
     + 2 * (32 + 32 + 64 + 64 + 128 + 128) + 128 * 10 + 10, "striate's own small CNN: 3x3 convs, BN, head"),
    ("convnet", {"widths": (16, 32), "depth": 1, "head": "flatten"},
     9 * (1 * 16 + 16 * 32) + 2 * (16 + 32) + 32 * 7 * 7 * 10 + 10, "conv-pool-conv-pool-dense (speedrun-91)"),
    ("convnet", {"widths": (32, 64), "depth": 1, "head": "flatten", "hidden": 128},
     9 * (1 * 32 + 32 * 64) + 2 * (32 + 64) + 64 * 7 * 7 * 128 + 128 + 128 * 10 + 10, "with a hidden dense layer"),
    ("lenet5", {}, 61_706, "modern variant, 10 classes"),
    ("lenet5_classic", {}, 60_000, "LeCun et al. 1998: C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 + F6 10,164"),
    ("lenet5_classic", {"rbf_output": False}, 60_000 + 84 * 10 + 10, "paper's layers + a linear output"),
    ("alexnet", {"num_classes": 1000}, 61_100_840, "single-tower AlexNet (torchvision)"),
    ("vgg11", {"num_classes": 1000}, 132_863_336, "VGG-11 (torchvision)"),
    ("vgg16", {"num_classes": 1000}, 138_357_544, "VGG-16 (torchvision)"),
    ("googlenet", {"num_classes": 1000}, 6_624_904, "GoogLeNet without auxiliary classifiers (torchvision)"),
    ("googlenet", {"num_classes": 1000, "aux_logits": True}, 13_004_888, "with auxiliary classifiers (torchvision)"),
    ("resnet18", {"num_classes": 1000}, 11_689_512, "torchvision"),
    ("resnet34", {"num_classes": 1000}, 21_797_672, "torchvision"),
    ("resnet50", {"num_classes": 1000}, 25_557_032, "torchvision"),
    ("resnet20", {}, 269_722, "option A; paper: 0.27M"),
    ("resnet20", {"shortcut": "B"}, 269_722 + 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64, "option B: 1x1 projections + BN"),
    ("resnet32", {}, 464_154, "option A; paper: 0.46M"),
    ("resnet56", {}, 853_018, "option A; paper: 0.85M"),
    ("resnet110", {}, 1_727_962, "option A; paper: 1.7M"),
    ("allcnn_c", {}, 3 * 96 * 9 + 96 + 2 * (96 * 96 * 9 + 96) + 96 * 192 * 9 + 192 + 3 * (192 * 192 * 9 + 192)
     + 192 * 192 + 192 + 192 * 10 + 10, "All-CNN-C, CIFAR-10 (paper: 1.4M)"),
    ("mcdnn", {"preprocess": ("original",)}, 1 * 20 * 16 + 20 + 20 * 40 * 25 + 40 + 360 * 150 + 150 + 150 * 10 + 10,
     "one MNIST column 1x29x29-20C4-MP2-40C5-MP3-150N-10N"),
    ("mcdnn", {"preprocess": ("original", *(f"stretch_{f}" for f in (0.7, 0.8, 0.9, 1.1, 1.2, 1.3))),
               "columns_per_input": 5}, 35 * 76_040, "the paper's 35-column MNIST MCDNN (7 inputs x 5 columns)"),
    ("tdnn", {"num_classes": 3}, 16 * 3 * 8 + 8 + 8 * 5 * 3 + 3, "Waibel et al.: 16x15 input, 8 units x 3, 3 x 5"),
    ("tdnn2d", {"num_classes": 3}, 1 * 9 * 8 + 8 + 8 * 25 * 3 + 3, "2-D: 3x3 then 5x5 windows"),
    ("tcn", {}, 66_910, "reference code, sequential MNIST: 8 levels x 25 channels, k=7, weight norm (paper: 70K)"),
    ("textcnn", {"num_classes": 2, "vocab_size": 18_765},
     18_765 * 300 + 300 * 100 * (3 + 4 + 5) + 300 + 300 * 2 + 2, "Kim 2014 on MR: 18,765 words, 300-d, 3/4/5 x 100"),
    ("c3d", {"num_classes": 487}, 79_991_015, "Sports-1M, 16x112x112 clips"),
    ("c3d", {"num_classes": 101}, 78_409_573, "UCF101"),
    ("cnn_lstm", {"num_classes": 101}, 388_896 + 4 * 256 * (256 + 256 + 2) + 256 * 101 + 101,
     "frame CNN 388,896 + LSTM(256, 256) + FC"),
    ("dqn", {"num_actions": 18}, 4 * 32 * 64 + 32 + 32 * 64 * 16 + 64 + 64 * 64 * 9 + 64 + 3136 * 512 + 512
     + 512 * 18 + 18, "Mnih et al. 2015, full action set"),
    ("capsnet", {}, 8_215_568, "Sabour et al. 2017: 8.2M with the decoder"),
    ("capsnet", {"reconstruction": False}, 6_804_224, "6.8M without the decoder"),
    ("fcn", {}, 128 * 1 * 8 + 128 + 2 * 128 + 256 * 128 * 5 + 256 + 2 * 256 + 128 * 256 * 3 + 128 + 2 * 128
     + 128 * 2 + 2, "Wang et al. 2017 on GunPoint (1x150, 2 classes): 264,962"),
    ("resnet_ts", {}, 504_258, "Wang et al. 2017 on GunPoint; the reference Keras model's trainable parameters"),
    ("inception_time", {}, 420_450, "Ismail Fawaz et al. 2020 on GunPoint (depth 6, 32 filters, bottleneck 32)"),
    ("inception_time_ensemble", {}, 5 * 420_450, "five InceptionTime networks"),
    ("neocognitron", {"num_classes": 5}, 25 * 24 + 24 + 24 * 24 * 25 + 24 + 24 * 24 * 9 + 24 + 24 * 5 + 5,
     "S1 5x5, S2 5x5, S3 3x3, 24 planes; read-out for 5 patterns"),
    ("two_stream", {"num_classes": 101}, 2 * (3 * 32 * 9 + 2 * 32 + 32 * 64 * 9 + 2 * 64 + 64 * 128 * 9 + 2 * 128)
     + 2 * (128 * 101 + 101), "two per-frame CNNs 32-64-128 (3x3 conv, BN), one classifier per stream (late fusion)"),
    ("atomnet", {}, 6 * 32 * 125 + 2 * 32 + 32 * 64 * 27 + 2 * 64 + 64 * 64 * 27 + 2 * 64 + 64 * 128 * 27 + 2 * 128
     + 256 * 256 + 256 + 256 * 2 + 2, "6 element channels, 5x5x5 then three 3x3x3 convolutions (BN, no bias), max and "
                                      "mean pooled (2 x 128) into 256 hidden units, 2 classes"),
    ("resnet3d", {}, 27 * 32 + 2 * 32 + 2 * (32 * 32 * 27 + 2 * 32) + 32 * 64 * 27 + 64 * 64 * 27 + 2 * 2 * 64
     + 32 * 64 + 2 * 64 + 64 * 128 * 27 + 128 * 128 * 27 + 2 * 2 * 128 + 64 * 128 + 2 * 128 + 128 * 10 + 10,
     "3x3x3 stem of 32, one basic block per stage (32, 64, 128; projection shortcuts where the width changes)"),
    ("minatar_dqn", {"num_actions": 6}, 4 * 16 * 9 + 16 + 16 * 8 * 8 * 128 + 128 + 128 * 6 + 6,
     "Young & Tian 2019: conv 3x3 16 on 10x10x4 -> 8x8x16, FC 128, Breakout's 6 actions"),
    ("dqn", {"num_actions": 6, "dueling": True}, 4 * 32 * 64 + 32 + 32 * 64 * 16 + 64 + 64 * 64 * 9 + 64
     + 2 * (3136 * 512 + 512) + 512 + 1 + 512 * 6 + 6, "Wang et al. 2016: value and advantage streams of 512"),
]


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "kwargs", "expected", "source"), PARAMETER_COUNTS,
                         ids=[f"{row[0]}-{i}" for i, row in enumerate(PARAMETER_COUNTS)])
def test_parameter_count_at_paper_input(name, kwargs, expected, source):
    with torch.device("meta"):  # nothing is allocated, so even C3D and VGG-16 build in milliseconds
        model = create(name, **kwargs)
    assert count(model) == expected, source


def test_every_model_has_a_parameter_count():
    assert set(NAMES) <= {row[0] for row in PARAMETER_COUNTS}


def test_every_model_has_a_docstring_citing_its_paper():
    for entry in list_models():
        module = __import__(entry.build.__module__, fromlist=["_"])
        assert entry.paper and entry.description, entry.name
        assert entry.paper.split()[0].rstrip(",") in module.__doc__, (entry.name, entry.paper)


EXAMPLE_DATA = {
    "image": ({"input_kind": "image", "input_shape": [1, 28, 28]}, lambda n: torch.randn(n, 1, 28, 28)),
    "signal": ({"input_kind": "signal", "input_shape": [2, 64]}, lambda n: torch.randn(n, 2, 64)),
    "tokens": ({"input_kind": "tokens", "input_shape": [12], "vocab_size": 50},
               lambda n: torch.randint(0, 50, (n, 12))),
    "clip": ({"input_kind": "clip", "input_shape": [3, 4, 16, 16]}, lambda n: torch.randn(n, 3, 4, 16, 16)),
    "volume": ({"input_kind": "volume", "input_shape": [2, 8, 8, 8]}, lambda n: torch.randn(n, 2, 8, 8, 8)),
}
"""A small example of every input kind, as a dataset would describe it (`Dataset.describe()`)."""

Q_NETWORKS = {"dqn": [4, 84, 84], "minatar_dqn": [4, 10, 10]}
"""The Q-networks and the frame stacks they take: they map game screens to action values, not classes."""

CASES = [(entry.name, kind) for entry in list_models() for kind in entry.inputs if entry.name not in Q_NETWORKS]
"""Every registered model with every kind of input it accepts (the Q-networks take frame stacks, tested apart)."""


def small_input(name: str, kind: str, batch: int = 2, outputs: int = 10) -> tuple[dict, torch.Tensor]:
    """create() arguments for `outputs` outputs built from the example data of `kind`, and a random batch of it."""
    description, sample = EXAMPLE_DATA[kind]
    return data_arguments(name, description, outputs), sample(batch)


def loss_of(model: torch.nn.Module, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    own = model_loss(model, output, target)
    return own if own is not None else F.cross_entropy(output, target)


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_every_model_trains_one_step_on_every_input_kind_it_accepts(name, kind):
    kwargs, x = small_input(name, kind)
    model = create(name, **kwargs).train()
    target = torch.tensor([3, 7])
    before = {key: value.detach().clone() for key, value in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    output = model(x)
    assert output.shape == (2, 10)
    loss = loss_of(model, output, target)
    assert torch.isfinite(loss)
    loss.backward()
    trainable = {key: p for key, p in model.named_parameters() if p.requires_grad}
    assert [key for key, p in trainable.items() if p.grad is None] == []  # every parameter takes part
    optimizer.step()
    apply_model_constraints(model)
    changed = [key for key, p in trainable.items() if not torch.equal(p.detach(), before[key])]
    assert len(changed) >= 0.5 * len(trainable), sorted(set(trainable) - set(changed))


def test_models_refuse_input_kinds_they_do_not_take():
    with pytest.raises(ConfigError, match=r"Model `lenet5` takes image inputs, but the data holds tokens inputs of "
                                          r"shape 12: choose a model for tokens data"):
        data_arguments("lenet5", EXAMPLE_DATA["tokens"][0], 2)
    with pytest.raises(ConfigError, match=r"Model `textcnn` takes tokens inputs, but the data holds image inputs"):
        data_arguments("textcnn", EXAMPLE_DATA["image"][0], 2)


IMAGE_MODELS = [entry.name for entry in list_models() if len(entry.input_shape) == 3 and entry.name not in Q_NETWORKS]
"""Everything that classifies (C, H, W) images; the Q-networks map frame stacks to Q-values instead."""


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_image_models_take_fashion_mnist(name):
    with torch.device("meta"):  # shapes only
        model = create(name, num_classes=10, in_channels=1, input_size=(28, 28)).eval()
        assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("name", NAMES)
def test_paper_input_gives_one_output_per_class(name):
    entry = get_entry(name)
    tokens = entry.inputs == ("tokens",)
    with torch.device("meta"):
        model = create(name, **{entry.output_parameter: 7}, **({"vocab_size": 50} if tokens else {})).eval()
        x = torch.zeros(2, *entry.input_shape, dtype=torch.long if tokens else torch.float)
        assert model(x).shape == (2, 7)


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_reset_classifier(name, kind):
    kwargs, x = small_input(name, kind)
    with torch.device("meta"):
        model = create(name, **kwargs).eval()
        model.reset_classifier(4)
        assert model(x.to("meta")).shape == (2, 4)


@pytest.mark.parametrize(("kwargs", "input_shape"), [
    ({"widths": (16, 32), "depth": 1, "head": "flatten"}, (1, 28, 28)),
    ({"widths": (8, 16, 32), "depth": 3, "head": "flatten", "hidden": 20, "in_channels": 3}, (3, 32, 30)),
    ({"widths": (8, 16), "depth": 1, "head": "avg", "hidden": 5}, (1, 9, 9)),
])
def test_convnet_variants_give_logits_and_count_their_blocks(kwargs, input_shape):
    model = create("convnet", num_classes=4, input_size=input_shape[1:], **kwargs).eval()
    assert model(torch.zeros(2, *input_shape)).shape == (2, 4)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == len(kwargs["widths"]) * kwargs["depth"]
    assert [c.out_channels for c in convs] == [w for w in kwargs["widths"] for _ in range(kwargs["depth"])]


def test_convnet_rejects_unknown_head_and_zero_depth():
    with pytest.raises(ConfigError, match="Invalid convnet `head` 'gap': expected 'avg' or 'flatten'"):
        create("convnet", head="gap")
    with pytest.raises(ConfigError, match="Invalid convnet `depth` 0"):
        create("convnet", depth=0)


def test_convnet_pool_first_computes_the_same_function_when_batch_norm_scales_are_positive():
    """conv-pool-norm-act against conv-norm-act-pool with the same weights: max pooling commutes with ReLU and with a
    per-channel affine map of positive scale, so in eval mode the outputs agree; a negative scale breaks it."""
    torch.manual_seed(0)
    kwargs = {"widths": (4, 6), "depth": 2, "head": "flatten", "hidden": 0, "num_classes": 3, "input_size": (12, 12)}
    first, last = create("convnet", pool_first=True, **kwargs).double(), create("convnet", **kwargs).double()

    def by_type(model, kind):
        return [m for m in model.modules() if isinstance(m, kind)]

    for kind in (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear):
        for a, b in zip(by_type(first, kind), by_type(last, kind), strict=True):
            if kind is torch.nn.BatchNorm2d:
                a.running_mean.uniform_(-1, 1), a.running_var.uniform_(0.5, 2), a.bias.data.uniform_(-1, 1)
                a.weight.data.uniform_(0.5, 2)  # positive scales
            b.load_state_dict(a.state_dict())
    assert [type(m).__name__ for m in first.features[1]] == ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]
    x = torch.randn(5, 1, 12, 12, dtype=torch.float64)
    first.eval(), last.eval()
    torch.testing.assert_close(first(x), last(x), rtol=1e-12, atol=1e-12)
    for model in (first, last):  # a negative scale (zero shift, so ReLU keeps both signs) turns max pooling into min
        norm = by_type(model, torch.nn.BatchNorm2d)[1]
        norm.weight.data[0], norm.bias.data[0], norm.running_mean[0] = -1.0, 0.0, 0.0
    assert not torch.allclose(first(x), last(x))
