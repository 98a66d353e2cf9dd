"""Activations and layers by name, the public surface, and the runnable docstring examples."""

import doctest
import importlib
import re

import pytest
import torch
from torch import nn

import striate.layers
from striate.errors import ConfigError
from striate.layers import ACTIVATIONS, LAYERS, Conv2d, get_activation, get_layer

REQUIRED = [
    "conv1d", "conv2d", "conv3d", "locally_connected1d", "locally_connected2d", "maxpool2d", "avgpool2d", "lppool2d",
    "stochastic_pool2d", "fractional_maxpool2d", "global_avg_pool", "global_max_pool", "roi_pool", "roi_align",
    "linear", "dropconnect_linear", "dropout", "dropout2d", "batchnorm1d", "batchnorm2d", "batchnorm3d", "flatten",
    "relu", "tanh", "sigmoid", "gelu", "silu", "leaky_relu", "elu", "selu", "mish", "hardswish", "softplus", "identity",
]  # fmt: skip


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_builds_and_keeps_shape(name):
    kwargs = {"dim": 1} if name in ("softmax", "log_softmax") else {}
    module = get_activation(name, **kwargs)
    assert isinstance(module, ACTIVATIONS[name])
    assert module(torch.randn(2, 3, 4)).shape == (2, 3, 4)


def test_get_activation_normalises_names_and_passes_kwargs():
    assert isinstance(get_activation("ReLU"), nn.ReLU)
    assert get_activation("Leaky-ReLU", negative_slope=0.2).negative_slope == 0.2
    assert get_activation("swish").__class__ is nn.SiLU


def test_get_activation_errors():
    pattern = r"Invalid activation `name`: expected one of celu, elu, .*, received 'relux'\. Did you mean `relu`\?"
    with pytest.raises(ConfigError, match=pattern):
        get_activation("relux")
    with pytest.raises(ConfigError, match=re.escape("Invalid arguments for activation 'relu': expected those of")):
        get_activation("relu", negative_slope=0.1)


def test_layer_registry():
    assert set(REQUIRED) <= set(LAYERS)
    assert set(ACTIVATIONS) <= set(LAYERS)
    assert all(isinstance(cls, type) and issubclass(cls, nn.Module) for cls in LAYERS.values())
    assert get_layer("Conv2d") is Conv2d
    assert get_layer("dropout")(p=0.3).p == 0.3


def test_get_layer_suggests_the_closest_name():
    message = f"Invalid layer `name`: expected one of the {len(LAYERS)} names in striate.layers.LAYERS, received "
    with pytest.raises(ConfigError, match=re.escape(message + "'conv2'. Did you mean `conv2d`?")):
        get_layer("conv2")
    with pytest.raises(ConfigError, match=re.escape(message + "'xyzzy'.")):
        get_layer("xyzzy")


def test_public_surface():
    for name in striate.layers.__all__:
        assert getattr(striate.layers, name) is not None


@pytest.mark.parametrize("module", ["__init__", "activations", "conv", "linear", "local", "pooling"])
def test_docstring_examples_run(module):
    name = "striate.layers" if module == "__init__" else f"striate.layers.{module}"
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0
