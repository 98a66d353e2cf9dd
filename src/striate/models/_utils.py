"""Plumbing shared by the model families: shape inference by a dry run on the meta device, and the small-input rule."""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.func import functional_call

SMALL_INPUT = 64
"""Image side below which ImageNet-sized families (AlexNet, GoogLeNet, ResNet) switch to their small stem."""


def is_small(input_size: tuple[int, ...]) -> bool:
    """True when the smallest spatial side is under `SMALL_INPUT`, e.g. for 28x28 Fashion-MNIST or 32x32 CIFAR."""
    return min(input_size) < SMALL_INPUT


def output_shape(module: nn.Module, input_shape: tuple[int, ...]) -> torch.Size:
    """The output shape of `module` for one input of shape `input_shape` (no batch dim), batch dim included.

    The dry run uses meta tensors in place of the module's parameters and buffers, so it allocates and computes
    nothing whatever device the module lives on, and leaves running statistics untouched.
    """
    state = {name: torch.empty_like(tensor, device="meta")
             for name, tensor in [*module.named_parameters(), *module.named_buffers()]}
    with torch.no_grad():
        return functional_call(module, state, (torch.zeros(1, *input_shape, device="meta"),)).shape


def flat_features(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Number of features per example that `module` outputs for inputs of shape `input_shape`."""
    return output_shape(module, input_shape)[1:].numel()


def run_layers(layers: nn.Sequential, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """`layers[start:stop](x)` without building a new `nn.Sequential` on every call.

    The zoo keeps a network's layers in one `nn.Sequential` (its state_dict keys, `features.3.weight`, are what saved
    runs hold) even where `forward_features` stops partway through it, as before a hidden layer that follows a flatten.
    """
    for layer in list(layers)[start:stop]:
        x = layer(x)
    return x


def dense_relu_dropout(in_features: int, hidden: int, dropout: float) -> nn.Sequential:
    """The VGG/C3D classifier trunk: two fully connected layers of `hidden` units, each followed by ReLU and dropout."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                         nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
