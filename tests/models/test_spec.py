"""Model specs: the shipped configs, shape inference, numeric parity, rebuilding, and every error's wording."""

import doctest
import functools
import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import striate.models.spec
from striate.errors import ConfigError, ShapeError
from striate.layers import LAYERS, LocallyConnected2d
from striate.models import create
from striate.models.spec import Concat, Residual, SpecModel, build_spec, is_spec_path, load_spec

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "models").glob("*.yaml"))
MNIST = (1, 28, 28)


def conv(out_channels, kernel_size=3, **kwargs):
    return {"type": "conv2d", "out_channels": out_channels, "kernel_size": kernel_size, **kwargs}


def basic(width, stride=1, shortcut="identity"):
    """A ResNet basic block as a spec entry."""
    layers = [conv(width, stride=stride, padding=1, bias=False), "batchnorm2d", "relu",
              conv(width, padding=1, bias=False), "batchnorm2d"]
    return {"type": "residual", "layers": layers, "shortcut": shortcut, "activation": "relu"}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@functools.cache
def config_model(stem):
    """The shipped config `stem` built for MNIST and 10 classes, once per test session (tests only read it)."""
    return build_spec(CONFIGS[0].parent / f"{stem}.yaml", MNIST, num_classes=10).eval()


# --------------------------------------------------------------------------------------------------- shipped configs


def test_every_image_model_has_a_config():
    assert {path.stem for path in CONFIGS} >= {"lenet5", "small-resnet", "mini-inception", "allconv",
                                               "locally-connected", "vgg-mini"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_config_builds_for_mnist_and_classifies(path):
    header = path.read_text().splitlines()[:8]
    assert header[0].startswith("# ") and any(line.startswith("# Paper: ") for line in header)
    model = config_model(path.stem)
    assert isinstance(model, SpecModel) and model.spec["name"] == path.stem
    assert model(torch.randn(2, *MNIST)).shape == (2, 10)  # batch 2 throughout: CPU kernels set up once per shape
    assert model.output_shape == (10,)
    assert json.loads(json.dumps(model.spec)) == model.spec


def test_configs_use_the_composites_they_advertise():
    def types(stem):
        return {m.__class__ for m in config_model(stem).modules()}

    assert Residual in types("small-resnet")
    assert Concat in types("mini-inception")
    assert LocallyConnected2d in types("locally-connected")
    assert not {nn.MaxPool2d, nn.Linear} & types("allconv")
    assert load_spec(CONFIGS[0].parent / "vgg-mini.yaml")["blocks"]


def test_lenet5_has_the_zoo_parameter_count():
    conv1 = 1 * 6 * 5 * 5 + 6  # 156
    conv2 = 6 * 16 * 5 * 5 + 16  # 2,416
    fc = (16 * 5 * 5) * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10  # 48,120 + 10,164 + 850
    assert conv1 + conv2 + fc == 61_706 == n_params(config_model("lenet5")) == n_params(create("lenet5"))


def test_num_classes_and_input_shape_override_the_spec_defaults():
    model = build_spec(CONFIGS[0].parent / "lenet5.yaml", (3, 32, 32), num_classes=5)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert model.features[0].in_channels == 3 and model.head.in_features == 84
    assert model.spec["input_shape"] == [3, 32, 32] and model.spec["num_classes"] == 5


# --------------------------------------------------------------------------------------------------- shape inference


def test_every_registered_layer_is_available_by_name():
    args = {"conv": {"out_channels": 4, "kernel_size": 3}, "locally_connected": {"out_channels": 2, "kernel_size": 3},
            "lppool": {"norm_type": 2, "kernel_size": 2}, "fractional_maxpool2d": {"kernel_size": 2, "output_size": 3},
            "adaptive": {"output_size": 2}, "maxpool": {"kernel_size": 2}, "avgpool": {"kernel_size": 2},
            "stochastic": {"kernel_size": 2}, "linear": {"out_features": 5}, "dropconnect": {"out_features": 5},
            "groupnorm": {"num_groups": 2}, "local_response_norm": {"size": 2},
            "primary_capsules": {"kernel_size": 3}, "dynamic_routing": {"in_capsules": 4, "out_capsules": 3}}
    shapes = {"1d": (4, 8), "2d": (4, 8, 8), "3d": (4, 6, 6, 6)}
    own_shapes = {"dynamic_routing": (4, 8)}  # 4 capsules of 8-D
    for name in sorted(set(LAYERS) - {"roi_pool", "roi_align"}):
        entry = {"type": name, **next((v for k, v in args.items() if name.startswith(k)), {})}
        shape = own_shapes.get(name) or ((16,) if "linear" in name else shapes.get(name[-2:], (4, 8, 8)))
        model = build_spec({"layers": [entry]}, shape)
        assert isinstance(model.features[0] if len(model.features) else model.head, LAYERS[name])
        assert model.eval()(torch.zeros(2, *shape)).shape == (2, *model.output_shape), name


def test_input_sizes_are_inferred():
    spec = {"layers": [conv(6, 5), "batchnorm2d", {"type": "groupnorm", "num_groups": 3}, "layernorm",
                       {"type": "locally_connected2d", "out_channels": 4, "kernel_size": 3}, "flatten",
                       {"type": "linear", "out_features": 7}, "batchnorm1d"]}
    model = build_spec(spec, (2, 12, 12))
    conv_, bn, gn, ln, local = model.features[:5]
    assert (conv_.in_channels, bn.num_features, gn.num_channels, tuple(ln.normalized_shape)) == (2, 6, 6, (6, 8, 8))
    assert (local.in_channels, local.input_size, local.output_size) == (6, (8, 8), (6, 6))
    assert model.head.in_features == 4 * 6 * 6 and model.output_shape == (7,)


def test_equal_input_sizes_may_be_given():
    spec = {"layers": [conv(6, in_channels=3), "flatten", {"type": "linear", "in_features": 6 * 6 * 6}]}
    assert build_spec(spec, (3, 8, 8), 10).head.in_features == 216


def test_strided_same_padding_and_rank_1_and_3_inputs():
    assert build_spec({"layers": [conv(4, stride=2, padding="same")]}, (1, 7, 7)).output_shape == (4, 4, 4)
    seq = {"layers": [{"type": "conv1d", "out_channels": 8, "kernel_size": 3}, "global_max_pool", "linear"]}
    assert build_spec(seq, (2, 20), 3)(torch.zeros(5, 2, 20)).shape == (5, 3)
    vol = {"layers": [{"type": "conv3d", "out_channels": 2, "kernel_size": 3}, {"type": "maxpool3d", "kernel_size": 2}]}
    assert build_spec(vol, (1, 6, 8, 8)).output_shape == (2, 2, 3, 3)


def test_softmax_defaults_to_the_class_dimension():
    model = build_spec({"layers": ["flatten", "linear", "softmax"]}, (2, 3, 3), 4)
    assert isinstance(model.tail[0], nn.Softmax) and model.tail[0].dim == 1
    assert torch.allclose(model(torch.randn(5, 2, 3, 3)).sum(1), torch.ones(5))


# --------------------------------------------------------------------------------------------------- composites


class ReferenceBlock(nn.Module):
    """A ResNet basic block written out by hand, the parity reference for `residual`."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.proj is None else self.proj(x)))


def test_residual_matches_a_hand_written_resnet():
    spec = {"layers": [conv(8, padding=1), basic(8), basic(16, stride=2, shortcut="projection"), "global_avg_pool",
                       "linear"]}
    model = build_spec(spec, (3, 9, 9), num_classes=4)
    reference = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), ReferenceBlock(8, 8, 1), ReferenceBlock(8, 16, 2),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
    state = {key: torch.rand_like(value.float()).to(value.dtype) + 0.5 for key, value in model.state_dict().items()}
    model.load_state_dict(state)  # random running statistics too, so eval mode is tested
    ref_state = reference.state_dict()
    assert [v.shape for v in state.values()] == [v.shape for v in ref_state.values()]
    reference.load_state_dict(dict(zip(ref_state, state.values(), strict=True)))
    x = torch.randn(4, 3, 9, 9)
    torch.testing.assert_close(model.eval()(x), reference.eval()(x))
    torch.testing.assert_close(model.train()(x), reference.train()(x))  # batch statistics
    assert model.features[2].shortcut[0].stride == (2, 2) and model.output_shape == (4,)


def test_projection_stride_matches_odd_sizes():
    spec = {"layers": [{"type": "residual", "shortcut": "projection", "layers": [conv(6, stride=2, padding=1)]}]}
    model = build_spec(spec, (3, 7, 7))
    assert model.features[0].shortcut[0].stride == (2, 2) and model.output_shape == (6, 4, 4)
    dense = {"type": "linear", "out_features": 5}
    flat = {"layers": [{"type": "residual", "shortcut": "projection", "layers": [dense]}]}
    assert build_spec(flat, (3,))(torch.randn(2, 3)).shape == (2, 5)


def test_concat_adds_up_channels():
    spec = {"layers": [{"type": "concat", "branches": [[conv(4, 1)], [conv(6, padding=1), "relu"], []]}]}
    model = build_spec(spec, (3, 8, 8))
    assert model.output_shape == (13, 8, 8)
    x = torch.randn(2, 3, 8, 8)
    out = model(x)
    assert out.shape == (2, 13, 8, 8) and torch.equal(out[:, 10:], x)


def test_blocks_repeat_and_fill_parameters():
    spec = {"blocks": {"unit": [conv("$width", padding=1), "relu"],
                       "stage": [{"type": "block", "name": "unit", "args": {"width": "$width"}, "repeat": 2},
                                 {"type": "maxpool2d", "kernel_size": 2}]},
            "layers": [{"type": "block", "name": "stage", "args": {"width": 4}},
                       {"type": "block", "name": "stage", "args": {"width": 8}, "repeat": 2}]}
    model = build_spec(spec, (1, 16, 16))
    assert model.output_shape == (8, 2, 2)
    assert model.features[1][1][0][1][0].out_channels == 8  # layer 1, repeat 1, entry 0 (unit x2), repeat 1, conv


def test_module_paths_follow_the_spec():
    spec = {"blocks": {"unit": [conv(4, padding=1)]},
            "layers": [{"type": "residual", "layers": [conv(3, padding=1)], "activation": "relu"},
                       {"type": "concat", "branches": [[conv(2, 1)], [{"type": "block", "name": "unit"}]]},
                       "flatten", "linear"]}
    keys = set(build_spec(spec, (3, 4, 4), 2).state_dict())
    assert {"features.0.layers.0.weight", "features.1.branches.0.0.weight", "features.1.branches.1.0.0.0.weight",
            "head.weight"} <= keys


# --------------------------------------------------------------------------------------------------- rebuilding


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_model_spec_rebuilds_the_same_network(path):
    model = config_model(path.stem)
    rebuilt = build_spec(json.loads(json.dumps(model.spec))).eval()  # what model.json stores
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, *MNIST)
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


def test_spec_is_normalised_and_the_input_is_left_alone():
    user = {"layers": [conv(4, (3, 3)), "flatten", "linear"]}
    model = build_spec(user, (1, 5, 5), 3)
    assert user["layers"][2] == "linear"
    assert model.spec == {"name": "spec", "input_shape": [1, 5, 5], "num_classes": 3, "blocks": {},
                          "layers": [conv(4, [3, 3]), {"type": "flatten"},
                                     {"type": "linear", "out_features": "$num_classes"}]}


def test_classifier_interface_and_reset_classifier():
    model = build_spec({"layers": [conv(4), "flatten", {"type": "linear", "out_features": 8}, "relu",
                                   {"type": "linear", "out_features": 10}, "log_softmax"]}, (1, 6, 6))
    x = torch.randn(2, 1, 6, 6)
    torch.testing.assert_close(model(x), model.forward_head(model.forward_features(x)))
    assert model.forward_features(x).shape == (2, 4, 4, 4) and model.num_classes is None  # stops before flatten
    assert (model.map_layers, model.feature_layout) == (1, "spatial")
    features = model.features
    model.reset_classifier(3)
    assert model.features is features and model(x).shape == (2, 3) and model.spec["num_classes"] == 3
    assert build_spec(model.spec).state_dict().keys() == model.state_dict().keys()


def test_reset_classifier_needs_a_linear_head():
    model = build_spec(CONFIGS[0].parent / "allconv.yaml")  # not the shared one: a failed reset must not touch it
    with pytest.raises(ConfigError, match=re.escape("Cannot reset the classifier of spec `allconv`: it has no "
                                                    "top-level linear layer; rebuild it with build_spec(")):
        model.reset_classifier(5)


# --------------------------------------------------------------------------------------------------- errors


def raises(error, pattern, spec, input_shape=(1, 8, 8), num_classes=None):
    with pytest.raises(error, match=pattern):
        build_spec(spec, input_shape, num_classes)


def test_unknown_layer_type_suggests_the_closest():
    raises(ConfigError, r"^Unknown layer type `conv2` at layer 0: expected one of the \d+ layers in "
                        r"striate\.layers\.LAYERS or residual, concat, block\. Did you mean `conv2d`\?$",
           {"layers": [conv(4) | {"type": "conv2"}]})
    raises(ConfigError, r"at layer 1: .*\(`stem` is a block: write \{type: block, name: stem\}\)",
           {"blocks": {"stem": ["relu"]}, "layers": ["relu", "stem"]})


def test_unknown_argument_lists_the_valid_ones():
    raises(ConfigError, re.escape("Unknown argument `kernal_size` for layer 1 (conv2d): expected one of bias, "
                                  "dilation, groups, kernel_size, out_channels, padding, padding_mode, stride. "
                                  "Did you mean `kernel_size`?"),
           {"layers": ["relu", {"type": "conv2d", "out_channels": 4, "kernal_size": 3}]})
    raises(ConfigError, re.escape("Unknown argument `p` for layer 0 (relu): expected one of inplace."),
           {"layers": [{"type": "relu", "p": 0.5}]})
    raises(ConfigError, re.escape("Unknown argument `shorcut` for layer 0 (residual): expected one of activation, "
                                  "layers, shortcut. Did you mean `shortcut`?"),
           {"layers": [{"type": "residual", "layers": ["relu"], "shorcut": "identity"}]})


def test_missing_argument_is_named():
    raises(ConfigError, re.escape("Missing argument `kernel_size` for layer 0 (conv2d): expected values for "
                                  "kernel_size (optional: bias, dilation,"),
           {"layers": [{"type": "conv2d", "out_channels": 4}]})


def test_kernel_larger_than_the_padded_input_names_layer_and_shape():
    spec = {"layers": [conv(16, padding=1), "relu", {"type": "maxpool2d", "kernel_size": 2}, conv(16, 5)]}
    raises(ShapeError, re.escape("Invalid `kernel_size` for layer 3 (conv2d): expected at most the padded input size "
                                 "4x4, received 5x5 (incoming shape 16x4x4)."), spec)
    pool = {"layers": [conv(4, 5), {"type": "avgpool2d", "kernel_size": 5}]}
    raises(ShapeError, re.escape("Invalid `kernel_size` for layer 1 (avgpool2d): expected at most the padded input "
                                 "size 4x4, received 5x5 (incoming shape 4x4x4)."), pool)
    local = {"layers": [{"type": "locally_connected2d", "out_channels": 2, "kernel_size": 9}]}
    raises(ShapeError, r"^Invalid `kernel_size` for layer 0 \(locally_connected2d\): .* 8x8, received 9x9", local)


def test_in_features_that_disagree_with_the_flattened_shape():
    spec = {"layers": [conv(16, 5), "flatten", {"type": "linear", "in_features": 256, "out_features": 10}]}
    raises(ShapeError, re.escape("Invalid `in_features` for layer 2 (linear): expected 400 from the incoming shape "
                                 "400 (flat) (leave it out and it is inferred), received 256."), spec, (1, 9, 9))


def test_in_features_is_accepted_when_equal():
    spec = {"layers": [conv(16, 5), "flatten", {"type": "linear", "in_features": 256, "out_features": 10}]}
    assert build_spec(spec, (1, 8, 8)).head.in_features == 256


def test_wrong_input_rank_is_explained():
    raises(ShapeError, re.escape("Invalid layer 1 (linear): expected an input shaped (F,), received the incoming "
                                 "shape 4x6x6; add `flatten` or `global_avg_pool` before it."),
           {"layers": [conv(4), "linear"]}, num_classes=10)
    raises(ShapeError, re.escape("Invalid layer 2 (conv2d): expected an input shaped (C, H, W), received the incoming "
                                 "shape 144 (flat)."), {"layers": [conv(4), "flatten", conv(4)]})


def test_identity_residual_with_a_new_shape_suggests_projection():
    raises(ShapeError, re.escape("Invalid `shortcut` for layer 1 (residual): an identity shortcut needs the layers to "
                                 "keep the incoming shape 4x8x8, but they give 8x4x4; use `shortcut: projection`."),
           {"layers": [conv(4, padding=1), basic(8, stride=2)]})
    raises(ConfigError, r"expected identity or projection, received 'projected'\. Did you mean `projection`\?",
           {"layers": [basic(4, shortcut="projected")]})
    raises(ShapeError, r"a projection maps the incoming shape 1x8x8 .* cannot give 4x6x6",
           {"layers": [basic(4, shortcut="projection") | {"layers": [conv(4)]}]})


def test_concat_with_mismatched_spatial_sizes_names_the_branch():
    spec = {"layers": [{"type": "concat", "branches": [[conv(4, 1)], [conv(4, padding=1)], [conv(4)]]}]}
    raises(ShapeError, re.escape("Invalid `branches` for layer 0 (concat): expected every branch to match branch 0 "
                                 "(4x8x8) in all but the channel count, received 4x6x6 from branch 2 (incoming shape "
                                 "1x8x8)."), spec)


def test_errors_inside_composites_name_the_nested_path():
    spec = {"blocks": {"unit": [conv(4, 3), conv(4, 9)]},
            "layers": [{"type": "concat", "branches": [["relu"], [{"type": "block", "name": "unit"}]]}]}
    raises(ShapeError, re.escape("Invalid `kernel_size` for layer 0.branches.1.0.0.1 (conv2d) in block `unit`: "
                                 "expected at most the padded input size 6x6, received 9x9 (incoming shape 4x6x6)."),
           spec)


def test_block_errors():
    blocks = {"unit": [conv("$width", padding=1)], "stage": [{"type": "block", "name": "unit", "args": {"width": 4}}]}
    raises(ConfigError, re.escape("Unknown block `unti` for layer 0 (block): expected one of stage, unit. "
                                  "Did you mean `unit`?"),
           {"blocks": blocks, "layers": [{"type": "block", "name": "unti"}]})
    raises(ConfigError, re.escape("Missing argument `width` for block `unit` at layer 0 (block): it uses $width; pass "
                                  "them in `args`."), {"blocks": blocks, "layers": [{"type": "block", "name": "unit"}]})
    raises(ConfigError, re.escape("Unknown argument `widht` for block `unit` at layer 0 (block): expected one of the "
                                  "parameters it uses, width. Did you mean `width`?"),
           {"blocks": blocks, "layers": [{"type": "block", "name": "unit", "args": {"widht": 4}}]})
    raises(ConfigError, re.escape("Invalid `repeat` for layer 0 (block): expected an int of at least 1, received 0."),
           {"blocks": blocks, "layers": [{"type": "block", "name": "stage", "repeat": 0}]})
    loop = {"a": [{"type": "block", "name": "b"}], "b": [{"type": "block", "name": "a"}]}
    raises(ConfigError, re.escape("block `a` refers to itself through a -> b -> a."),
           {"blocks": loop, "layers": [{"type": "block", "name": "a"}]})


def test_parameter_errors():
    raises(ConfigError, re.escape("Unknown parameter `$width` for layer 0 (conv2d): expected one of $num_classes."),
           {"layers": [conv("$width")]})
    raises(ConfigError, re.escape("Missing `num_classes` for layer 2 (linear): it uses `$num_classes`; pass "
                                  "num_classes to build_spec or set `num_classes:` in the spec."),
           {"layers": [conv(4), "flatten", "linear"]})
    raises(ShapeError, re.escape("Invalid model spec `spec`: expected (N, 3) class scores for num_classes=3, received "
                                 "(N, 10); leave out"), {"layers": ["flatten", {"type": "linear", "out_features": 10}]},
           num_classes=3)


def test_residual_activation_must_keep_the_shape():
    raises(ShapeError, re.escape("Invalid `activation` for layer 0 (residual): expected a layer that keeps the shape "
                                 "4x8x8, received one giving 4x4x4."),
           {"layers": [basic(4, shortcut="projection") | {"activation": {"type": "maxpool2d", "kernel_size": 2}}]})


def test_layers_that_need_two_inputs_are_refused():
    raises(ConfigError, re.escape("Invalid layer 0 (roi_pool): its forward takes (input, boxes), so it cannot be a "
                                  "step of a layer sequence"), {"layers": [{"type": "roi_pool", "output_size": 2}]})


def test_layer_construction_errors_are_reworded():
    raises(ConfigError, re.escape("Invalid layer 0 (conv2d): in_channels must be divisible by groups (incoming shape "
                                  "3x8x8)."), {"layers": [conv(4, groups=2)]}, (3, 8, 8))
    raises(ConfigError, re.escape("Invalid `p` for layer 2 (dropconnect_linear): expected a drop probability in "
                                  "[0, 1), received 1.5 (incoming shape 64 (flat))."),
           {"layers": [conv(1), "flatten", {"type": "dropconnect_linear", "out_features": 2, "p": 1.5}]}, (1, 10, 10))


def test_spec_structure_errors():
    raises(ConfigError, re.escape("Unknown key `layer` for model spec: expected one of blocks, description, "
                                  "input_shape, layers, name, num_classes, paper. Did you mean `layers`?"),
           {"layer": ["relu"]})
    raises(ConfigError, r"^Invalid model spec: expected a mapping with a `layers` list, received a list", [conv(4)])
    raises(ConfigError, re.escape("Invalid layer 1: expected a layer name or a mapping with a `type`"),
           {"layers": ["relu", {"out_channels": 3}]})
    raises(ConfigError, re.escape("Invalid `input_shape`: expected 1 to 4 positive ints such as (3, 32, 32), "
                                  "received (0, 8)."), {"layers": ["relu"]}, (0, 8))
    raises(ConfigError, re.escape("Missing `input_shape`: pass input_shape=(C, H, W)"), {"layers": ["relu"]}, None)


def test_load_spec_errors(tmp_path):
    (tmp_path / "net.yaml").write_text("- {type: conv2d}\n- relu\n")
    with pytest.raises(ConfigError, match=r"^Invalid model spec .*net\.yaml: expected a mapping with a `layers` list, "
                                          r"received a list"):
        load_spec(tmp_path / "net.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match=r"received nothing \(an empty file\)\.$"):
        build_spec(tmp_path / "empty.yaml", MNIST)
    (tmp_path / "broken.yaml").write_text("layers:\n  - {type: conv2d, out_channels: 4\n")
    with pytest.raises(ConfigError, match=r"^Invalid YAML in model spec .*broken\.yaml: .* at line 3, column 1\.$"):
        load_spec(tmp_path / "broken.yaml")
    with pytest.raises(ConfigError, match=r"^Model spec not found: .*net\.yml \(expected a YAML file\)\. "
                                          r"Did you mean `net\.yaml`\?$"):
        load_spec(tmp_path / "net.yml")


def test_load_spec_reads_yaml_and_names_it_after_the_file(tmp_path):
    path = tmp_path / "tiny-net.yaml"
    path.write_text("layers:\n  - {type: conv2d, out_channels: $num_classes, kernel_size: 3}\n  - global_avg_pool\n")
    assert load_spec(path)["layers"][0]["out_channels"] == "$num_classes"
    model = build_spec(str(path), (1, 5, 5), num_classes=4)
    assert model.spec["name"] == "tiny-net" and model.output_shape == (4,)
    assert is_spec_path(path) and is_spec_path("a.YML") and not is_spec_path("lenet5")


def test_docstring_examples_run():
    assert doctest.testmod(striate.models.spec, verbose=False).failed == 0
