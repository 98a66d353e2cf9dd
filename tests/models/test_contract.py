"""The model contract of `striate.models._base`, for every registered model: `forward_features` returns the unpooled
map that `feature_layout` describes, `forward_head` does the rest, and moving that split kept every state_dict key."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from striate.errors import ShapeError
from striate.models import create, get_entry, list_models
from striate.models._registry import data_arguments
from striate.models.capsnet import margin_loss
from striate.models.multicolumn import CiresanColumn, MultiColumn
from striate.models.spec import build_spec

from .test_zoo import EXAMPLE_DATA, PARAMETER_COUNTS, Q_NETWORKS, small_input

NAMES = [entry.name for entry in list_models()]
RANKS = {"spatial": 4, "temporal": 3, "spatiotemporal": 5, "capsules": 3, "vector": 2}
"""Each allowed `feature_layout` and the number of dimensions, batch included, of the features it describes."""

CASES = [(entry.name, kind) for entry in list_models() for kind in entry.inputs if entry.name not in Q_NETWORKS]


def build(name: str, kind: str) -> tuple[nn.Module, torch.Tensor]:
    """A small instance of `name` for the example data of `kind` (a Q-network on its frame stacks), and a batch."""
    if name in Q_NETWORKS:
        description = {"input_kind": "image", "input_shape": Q_NETWORKS[name]}
        return create(name, **data_arguments(name, description, 6)), torch.randn(2, *Q_NETWORKS[name])
    kwargs, x = small_input(name, kind)
    return create(name, **kwargs), x


def seeded(fn, *args):
    torch.manual_seed(0)  # the same dropout masks in both calls
    return fn(*args)


@pytest.mark.parametrize(("name", "kind"), [*CASES, *((name, "image") for name in Q_NETWORKS)])
def test_forward_is_the_head_of_the_features_and_reset_classifier_keeps_them(name, kind):
    model, x = build(name, kind)
    assert model.feature_layout in RANKS
    with torch.no_grad():
        for mode in (True, False):  # training mode runs the auxiliary heads and fills the loss caches
            model.train(mode)
            features = seeded(model.forward_features, x)
            assert features.dim() == RANKS[model.feature_layout], (mode, tuple(features.shape))
            head = seeded(model.forward_head, features)
            assert torch.equal(head, seeded(model, x)), mode
        model.reset_classifier(4)
        assert torch.equal(model.forward_features(x), features)
        assert model(x).shape == (2, 4)


# (name, create() arguments, input without the batch, features without the batch), worked out from the papers' layer
# tables: the map the last convolution, pool or capsule layer outputs, before any global pool, flatten or dense layer.
FEATURE_SHAPES = [
    ("lenet5", {}, (1, 28, 28), (16, 5, 5)),  # 28 -pad 2, 5x5-> 28 -pool-> 14 -5x5-> 10 -pool-> 5
    ("lenet5_classic", {}, (1, 32, 32), (120, 1, 1)),  # C5, a 5x5 convolution over the 5x5 S4 maps
    ("lenet5_classic", {}, (1, 64, 64), (120, 9, 9)),  # 64 -> 60 -> 30 -> 26 -> 13 -> 9: F6 flattens it
    ("convnet", {}, (1, 28, 28), (128, 7, 7)),  # 28 -> 14 -> 7, no pool after the last stage
    ("convnet", {"widths": (32, 64), "depth": 1, "head": "flatten", "hidden": 128}, (1, 28, 28), (64, 7, 7)),
    ("alexnet", {}, (3, 224, 224), (256, 6, 6)),  # 55 -> 27 -> 13 -> 6 (three overlapping 3x3/2 pools)
    ("alexnet", {}, (1, 28, 28), (256, 2, 2)),  # small stem: 28 -> 13 -> 6 -> 2
    ("vgg11", {}, (3, 224, 224), (512, 7, 7)),  # five 2x2 pools: 224 / 32
    ("vgg16", {}, (3, 224, 224), (512, 7, 7)),
    ("vgg11", {}, (1, 28, 28), (512, 1, 1)),  # 28 -> 14 -> 7 -> 3 -> 1, the fifth pool skipped
    ("googlenet", {}, (3, 224, 224), (1024, 7, 7)),  # Inception 5b: 384 + 384 + 128 + 128 channels
    ("googlenet", {}, (1, 28, 28), (1024, 4, 4)),  # small stem: 14 -> 7 -> 4
    ("resnet18", {}, (3, 224, 224), (512, 7, 7)),
    ("resnet34", {}, (3, 224, 224), (512, 7, 7)),
    ("resnet50", {}, (3, 224, 224), (2048, 7, 7)),  # 4 x 512 bottleneck outputs
    ("resnet20", {}, (3, 32, 32), (64, 8, 8)),  # 32 -> 16 -> 8 in stages 2 and 3
    ("resnet32", {}, (3, 32, 32), (64, 8, 8)),
    ("resnet56", {}, (3, 32, 32), (64, 8, 8)),
    ("resnet110", {}, (3, 32, 32), (64, 8, 8)),
    ("allcnn_c", {}, (3, 32, 32), (192, 6, 6)),  # 32 -> 16 -> 8 -> 6 (unpadded 3x3); the class convolution is the head
    ("mcdnn", {}, (1, 29, 29), (4 * 40, 3, 3)),  # four columns of 26 -> 13 -> 9 -> 3, concatenated
    ("neocognitron", {}, (1, 16, 16), (24, 4, 4)),  # S3 on 16 -> 8 -> 4; C3's whole-plane average is the head
    ("capsnet", {}, (1, 28, 28), (32 * 6 * 6, 8)),  # 28 -9x9-> 20 -9x9/2-> 6: 1,152 primary capsules of 8-D
    ("dqn", {}, (4, 84, 84), (64, 7, 7)),  # 84 -8x8/4-> 20 -4x4/2-> 9 -3x3-> 7
    ("minatar_dqn", {}, (4, 10, 10), (16, 8, 8)),  # 10 -3x3-> 8
    ("tdnn", {}, (16, 15), (8, 13)),  # 15 frames, 3-frame windows
    ("tdnn2d", {}, (1, 16, 15), (8, 14, 13)),
    ("tcn", {}, (1, 784), (25, 784)),  # causal: one feature vector per step
    ("textcnn", {"vocab_size": 50}, (56,), (300,)),  # max over time of 3 x 100 maps of unequal lengths
    ("c3d", {}, (3, 16, 112, 112), (512, 1, 4, 4)),  # T 16 -> 16 -> 8 -> 4 -> 2 -> 1, H 112 -> ... -> 7 -pad-> 4
    ("cnn_lstm", {}, (3, 16, 112, 112), (256, 16, 7, 7)),  # every frame's 112 -> 56 -> 28 -> 14 -> 7 map
    ("two_stream", {}, (3, 16, 112, 112), (2 * 128, 16, 14, 14)),  # both streams' 112 -> 56 -> 28 -> 14 frame maps
    ("atomnet", {}, (6, 24, 24, 24), (128, 6, 6, 6)),  # two 2x2x2 pools: 24 -> 12 -> 6
    ("resnet3d", {}, (1, 32, 32, 32), (128, 8, 8, 8)),  # stride 2 in stages 2 and 3: 32 -> 16 -> 8
    ("fcn", {}, (1, 150), (128, 150)),  # 'same' convolutions
    ("resnet_ts", {}, (1, 150), (128, 150)),
    ("inception_time", {}, (1, 150), (4 * 32, 150)),  # four branches of 32 filters
    ("inception_time_ensemble", {}, (1, 150), (5 * 128, 150)),  # five members, concatenated
]

ONE_PIXEL_MAPS = {("lenet5_classic", (1, 32, 32)), ("vgg11", (1, 28, 28))}
"""Maps that are genuinely one position wide at the size tested: convolutions and 2x2 pools got there (C5 is a 5x5
convolution over 5x5 maps; VGG's four pools take 28 down to 1), not a global pool."""


@pytest.mark.parametrize(("name", "kwargs", "input_shape", "expected"), FEATURE_SHAPES,
                         ids=[f"{row[0]}-{'x'.join(map(str, row[2]))}" for row in FEATURE_SHAPES])
def test_features_are_the_unpooled_map(name, kwargs, input_shape, expected):
    entry = get_entry(name)
    tokens = entry.inputs == ("tokens",)
    sizes = {} if tokens else {"in_channels": input_shape[0], "input_size": input_shape[1:]}
    with torch.device("meta"):  # shapes only, so VGG-16 and C3D cost nothing
        model = create(name, **sizes, **kwargs).eval()
        x = torch.zeros(2, *input_shape, dtype=torch.long if tokens else torch.float)
        features = model.forward_features(x)
        assert tuple(features.shape) == (2, *expected)
        assert features.dim() == RANKS[model.feature_layout]
        assert model.forward_head(features).shape == model(x).shape
    if model.feature_layout in ("spatial", "temporal", "spatiotemporal") and (name, input_shape) not in ONE_PIXEL_MAPS:
        assert math.prod(features.shape[2:]) > 1


def test_every_model_has_a_feature_shape():
    assert set(NAMES) <= {row[0] for row in FEATURE_SHAPES}


@pytest.mark.parametrize("name", NAMES)
def test_output_kind(name):
    with torch.device("meta"):
        model = create(name, **({"vocab_size": 50} if name == "textcnn" else {}))
    expected = "q_values" if name in Q_NETWORKS else {"capsnet": "capsule_lengths"}.get(name, "logits")
    assert model.output_kind == expected
    assert (model.feature_layout == "capsules") == (name == "capsnet")


# ------------------------------------------------------------------------------------------- state_dict keys kept

STATE_DIGESTS = {
    ("convnet", 0): "1e3eaf738896c2b5", ("convnet", 1): "b6ac121c721ced79", ("convnet", 2): "a80425132e773a8e",
    ("lenet5", 3): "d602617c68750eb9", ("lenet5_classic", 4): "c0abf436c51790b8",
    ("lenet5_classic", 5): "136b59c87e410542", ("alexnet", 6): "f87d744e1a4355de", ("vgg11", 7): "1f5cc1757258b5ae",
    ("vgg16", 8): "1ae3a9ee0e410773", ("googlenet", 9): "62eae8ca73d7fdb1", ("googlenet", 10): "f04d33d9d24fda60",
    ("resnet18", 11): "36563293a25d0087", ("resnet34", 12): "a36d37cc02f67410", ("resnet50", 13): "443e1a22cb1d4ea0",
    ("resnet20", 14): "d471acddb7a829f2", ("resnet20", 15): "f40d42463ad71c82", ("resnet32", 16): "0ce521f43459a153",
    ("resnet56", 17): "32210a3ee794a780", ("resnet110", 18): "fa0d1201ebbfa13f", ("allcnn_c", 19): "31d6a02e3092fb8d",
    ("mcdnn", 20): "e2ca9aa7dfb67067", ("mcdnn", 21): "d16afcebcc6a1505", ("tdnn", 22): "86ee59067f006933",
    ("tdnn2d", 23): "5880fa20d852b14a", ("tcn", 24): "8e0c26d91e93f8fe", ("textcnn", 25): "b0832c5226c7ee6b",
    ("c3d", 26): "78833cd32f004046", ("c3d", 27): "74d80f540ab91360", ("cnn_lstm", 28): "724060e7c0de96b1",
    ("dqn", 29): "1cbb3c19621913eb", ("capsnet", 30): "2d929b9017b992b8", ("capsnet", 31): "af612adf89565f03",
    ("fcn", 32): "26a1285a97d6b55e", ("resnet_ts", 33): "0a7941c769ba2fe0", ("inception_time", 34): "aa4172cae48074d7",
    ("inception_time_ensemble", 35): "30c5cce3a03e3162", ("neocognitron", 36): "1ee1941af31f0704",
    ("two_stream", 37): "354aa019325608e9", ("atomnet", 38): "7bd57d97855e8732", ("resnet3d", 39): "1371f935f318bbf1",
    ("minatar_dqn", 40): "ba5b6ba00ef4a7b5", ("dqn", 41): "2a40703466e60c1b",
}
"""`state_digest` of each row of `test_zoo.PARAMETER_COUNTS` (by name and row index), computed with the code of
commit c9ae572, before `forward_features` returned unpooled maps (rows 37-39, the video and volume models, with the
code that first released them; rows 40-41, the MinAtar network and the dueling DQN, likewise). A run saved then must
still load."""

VARIANT_DIGESTS = [
    ("convnet", {"widths": (8, 16), "depth": 1, "head": "avg", "hidden": 5}, "fb6979e768feb3a4"),
    ("convnet", {"widths": (32, 64), "depth": 2, "head": "flatten", "pool_first": True}, "02ec579393411781"),
    ("vgg16", {"batch_norm": True}, "65ed02c1dc23a767"),
    ("alexnet", {"lrn": True}, "a8c9e56ac2e1414d"),
    ("alexnet", {"input_size": (28, 28), "in_channels": 1}, "2ee4bd55f0756836"),
    ("googlenet", {"input_size": (28, 28), "in_channels": 1, "aux_logits": True}, "6bb31cf72b5c1b81"),
    ("cnn_lstm", {"widths": (8, 16)}, "958ac7a5d5fb720d"),
    ("neocognitron", {"inhibition": False}, "3f26da746399bb09"),
]

SPEC_DIGESTS = {"allconv": "7ecb228705a87d47", "lenet5": "1cfd2ed72197e3cf", "locally-connected": "8c43db7df0bcb0b6",
                "mini-inception": "c9c29b70e5c83f71", "small-resnet": "768af33be97fd685",
                "vgg-mini": "eb2ee2eb9e9575c5"}

CONFIGS = Path(__file__).parents[2] / "configs" / "models"


def state_digest(model: nn.Module) -> str:
    """A short hash of every state_dict key with its shape, in sorted order."""
    lines = "\n".join(f"{key}:{tuple(value.shape)}" for key, value in sorted(model.state_dict().items()))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


@pytest.mark.parametrize(("index", "row"), list(enumerate(PARAMETER_COUNTS)),
                         ids=[f"{row[0]}-{i}" for i, row in enumerate(PARAMETER_COUNTS)])
def test_state_dict_keys_are_those_of_saved_runs(index, row):
    name, kwargs = row[:2]
    with torch.device("meta"):
        model = create(name, **kwargs)
    assert state_digest(model) == STATE_DIGESTS[name, index], sorted(model.state_dict())


@pytest.mark.parametrize(("name", "kwargs", "digest"), VARIANT_DIGESTS, ids=[row[0] for row in VARIANT_DIGESTS])
def test_state_dict_keys_of_variants_are_those_of_saved_runs(name, kwargs, digest):
    with torch.device("meta"):
        model = create(name, **kwargs)
    assert state_digest(model) == digest, sorted(model.state_dict())


@pytest.mark.parametrize("stem", sorted(SPEC_DIGESTS))
def test_state_dict_keys_of_specs_are_those_of_saved_runs(stem):
    model = build_spec(CONFIGS / f"{stem}.yaml")
    assert state_digest(model) == SPEC_DIGESTS[stem], sorted(model.state_dict())


# Readable spot checks of the same: the layers that follow a flatten or a pool keep their old indices and names.
KNOWN_KEYS = {
    "lenet5": ["features.0.weight", "features.3.weight", "hidden.0.weight", "hidden.2.weight", "head.weight"],
    "lenet5_classic": ["features.0.weight", "features.2.weight", "features.4.weight", "features.6.weight",
                       "features.8.weight", "hidden.0.weight", "head.codes"],
    "convnet": ["features.0.0.weight", "features.0.1.running_mean", "features.7.1.weight", "head.weight"],
    "alexnet": ["features.0.weight", "features.10.weight", "hidden.1.weight", "hidden.4.weight", "head.weight"],
    "vgg11": ["features.0.weight", "features.18.weight", "hidden.0.weight", "hidden.3.weight", "head.weight"],
    "googlenet": ["stem.0.0.weight", "inception5.3.branch_pool.1.0.weight", "head.weight"],
    "resnet20": ["stem.0.0.weight", "stages.2.2.residual.2.1.running_var", "head.weight"],
    "mcdnn": ["columns.0.features.0.weight", "columns.3.features.3.weight", "columns.3.hidden.0.weight",
              "columns.3.head.weight"],
    "neocognitron": ["features.0.beta", "features.4.conv.weight", "head.weight"],
    "capsnet": ["conv.0.weight", "primary.conv.weight", "head.weight", "decoder.4.weight"],
    "dqn": ["features.0.weight", "features.4.weight", "hidden.0.weight", "head.weight"],
    "c3d": ["features.0.weight", "features.18.weight", "hidden.0.weight", "hidden.3.weight", "head.weight"],
    "cnn_lstm": ["encoder.0.weight", "encoder.13.running_mean", "lstm.weight_ih_l0", "head.weight"],
}


@pytest.mark.parametrize("name", sorted(KNOWN_KEYS))
def test_known_state_dict_keys(name):
    with torch.device("meta"):
        model = create(name)
    assert set(KNOWN_KEYS[name]) <= set(model.state_dict())


# ------------------------------------------------------------------------------------------------ family details


def test_convnet_hidden_layer_after_the_flatten_is_in_the_head():
    model = create("convnet", widths=(8, 16), depth=1, head="flatten", hidden=12, num_classes=3,
                   input_size=(12, 12)).eval()
    x = torch.randn(2, 1, 12, 12)
    features = model.forward_features(x)
    assert features.shape == (2, 16, 3, 3)  # 12 -> 6 -> 3: the flatten head's last pool belongs to the map
    hidden = model.features[model.map_layers + 1]
    assert isinstance(hidden, nn.Linear) and hidden.in_features == 16 * 3 * 3
    expected = model.head(F.relu(hidden(features.flatten(1))))
    assert torch.equal(model(x), expected)


def test_mcdnn_keeps_its_ensemble_output_and_column_losses():
    model = create("mcdnn", preprocess=("original", "contrast", "stretch_0.8"), num_classes=4).eval()
    x, target = torch.randn(3, 1, 29, 29), torch.tensor([0, 3, 1])
    with torch.no_grad():
        whole = [column(prep(x)) for column, prep in zip(model.columns, model.preprocessors, strict=True)]
        expected = torch.stack([F.softmax(z, dim=1) for z in whole]).mean(0).log()  # the averaged prediction
        torch.testing.assert_close(model(x), expected)
        features = model.forward_features(x)
    assert features.shape == (3, 3 * 40, 3, 3) and model.feature_layout == "spatial"
    assert torch.equal(features[:, 40:80], model.columns[1].forward_features(model.preprocessors[1](x)))
    output = model.train()(x)
    assert len(model.column_logits) == 3
    per_column = sum(F.cross_entropy(z, target) for z in model.column_logits)
    torch.testing.assert_close(model.compute_loss(output, target), per_column)
    assert model.column_logits == []


def test_mcdnn_of_plain_columns_falls_back_to_their_logits():
    columns = [nn.Sequential(nn.Flatten(), nn.Linear(16, 5)) for _ in range(2)]
    model = MultiColumn(columns, [nn.Identity(), nn.Identity()]).eval()
    x = torch.randn(2, 1, 4, 4)
    assert model.feature_layout == "vector" and model.forward_features(x).shape == (2, 10)
    assert torch.equal(model(x), model.forward_head(model.forward_features(x)))


def test_mcdnn_refuses_columns_whose_maps_differ():
    model = MultiColumn([CiresanColumn(3, 1, (29, 29)), CiresanColumn(3, 1, (29, 29))],
                        [nn.Identity(), nn.Upsample(scale_factor=2)])  # 58 -> 55 -> 27 -> 23 -> 7
    with pytest.raises(ShapeError, match=re.escape("Invalid `columns` for the multi-column network: expected feature "
                                                   "maps of one shape to stack, received 40x3x3, 40x7x7.")):
        model.forward_features(torch.randn(1, 1, 29, 29))


def test_capsnet_training_cache_survives_the_split():
    model = create("capsnet", num_classes=4, input_size=(20, 20)).train()
    x, target = torch.randn(2, 1, 20, 20), torch.tensor([1, 3])
    output = model.forward_head(model.forward_features(x))  # as an explanation method would call it
    capsules, cached_input = model._cache
    assert cached_input is x and model._input is None
    error = (model.reconstruct(capsules, target) - x).square().sum(dim=(1, 2, 3)).mean()
    torch.testing.assert_close(model.compute_loss(output, target), margin_loss(output, target) + 0.0005 * error)
    model.eval()(x)
    assert model._cache is None and model._input is None


def test_cnn_lstm_features_are_every_frames_map():
    model = create("cnn_lstm", num_classes=3, widths=(4, 8)).eval()
    x = torch.randn(2, 3, 5, 12, 12)
    features = model.forward_features(x)
    assert features.shape == (2, 8, 5, 3, 3)  # 12 -> 6 -> 3, per frame
    assert torch.equal(features[:, :, 2], model.encoder(x[:, :, 2]))


SPEC_FEATURES = [
    ("lenet5", "spatial", (16, 5, 5)), ("allconv", "spatial", (10, 5, 5)),
    ("small-resnet", "spatial", (64, 7, 7)), ("mini-inception", "spatial", (128, 7, 7)),
    ("vgg-mini", "spatial", (128, 3, 3)), ("locally-connected", "spatial", (16, 5, 5)),
]


@pytest.mark.parametrize(("stem", "layout", "expected"), SPEC_FEATURES, ids=[row[0] for row in SPEC_FEATURES])
def test_spec_features_end_before_the_first_flatten_or_global_pool(stem, layout, expected):
    model = build_spec(CONFIGS / f"{stem}.yaml").eval()
    x = torch.randn(2, *model.input_shape)
    features = model.forward_features(x)
    assert (model.feature_layout, tuple(features.shape[1:])) == (layout, expected)
    assert torch.equal(model.forward_head(features), model(x))


@pytest.mark.parametrize(("layers", "input_shape", "layout", "map_layers"), [
    ([{"type": "conv1d", "out_channels": 4, "kernel_size": 3}, "relu", "global_max_pool", "linear"], (2, 9),
     "temporal", 2),
    ([{"type": "conv3d", "out_channels": 4, "kernel_size": 3}, "global_avg_pool", "linear"], (1, 5, 6, 6),
     "spatiotemporal", 1),
    ([{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, "relu", {"type": "adaptive_maxpool2d", "output_size": 1},
      "flatten", "linear"], (1, 6, 6), "spatial", 2),  # an adaptive pool to 1x1 is a global pool
    ([{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "adaptive_avgpool2d", "output_size": 2},
      "flatten", "linear"], (1, 6, 6), "spatial", 2),  # a 2x2 adaptive pool is not global: the map ends at flatten
    ([{"type": "linear", "out_features": 8}, "relu", "linear"], (6,), "vector", 2),  # no map: all of `features`
    ([{"type": "conv2d", "out_channels": 16, "kernel_size": 5}, "relu",
      {"type": "primary_capsules", "channels": 2, "dim": 4, "kernel_size": 3, "stride": 2},  # 2 x 3 x 3 capsules
      {"type": "dynamic_routing", "in_capsules": 18, "out_capsules": 3, "in_dim": 4, "out_dim": 6},
      "capsule_length"], (1, 12, 12), "capsules", 3),
])
def test_spec_layout_rule(layers, input_shape, layout, map_layers):
    model = build_spec({"layers": layers}, input_shape, num_classes=3).eval()
    assert (model.feature_layout, model.map_layers) == (layout, map_layers)
    x = torch.randn(2, *input_shape)
    features = model.forward_features(x)
    assert features.dim() == RANKS[layout]
    assert torch.equal(model.forward_head(features), model(x))


def test_example_data_covers_every_input_kind():
    assert {kind for entry in list_models() for kind in entry.inputs} <= set(EXAMPLE_DATA)
