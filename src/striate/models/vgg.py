"""VGG (Simonyan & Zisserman 2014, "Very deep convolutional networks for large-scale image recognition")."""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models._utils import dense_relu_dropout, flat_features

CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "A": ((64,), (128,), (256, 256), (512, 512), (512, 512)),  # VGG-11
    "D": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),  # VGG-16
}
"""Table 1 of the paper: the 3x3 convolution widths of each of the five stages, by column letter."""


def conv_stage(in_channels: int, widths: tuple[int, ...], batch_norm: bool) -> list[nn.Module]:
    """3x3 convolutions with padding 1 (size-preserving), each followed by ReLU (and batch norm before it)."""
    layers = []
    for width in widths:
        norm = [nn.BatchNorm2d(width)] if batch_norm else []
        layers += [nn.Conv2d(in_channels, width, 3, padding=1), *norm, nn.ReLU(inplace=True)]
        in_channels = width
    return layers


class VGG(Classifier):
    """Five stages of 3x3 convolutions, each closed by 2x2 max pooling, then FC 4096 - FC 4096 - FC K with dropout.

    VGG-16 (configuration D) has 138,357,544 parameters for 224x224x3 inputs and 1000 classes, VGG-11 (A)
    132,863,336. `batch_norm=True` adds batch normalisation after every convolution (Ioffe & Szegedy 2015; not in the
    paper).

    Adaptation: a stage's max pool is skipped once the map is 1 pixel high or wide, so small inputs keep a valid
    map without being upsampled: 28x28 runs 28 -> 14 -> 7 -> 3 -> 1 and the fifth stage works at 1x1; 32x32 CIFAR
    keeps all five pools (1x1 at the end). The classifier reads the final map directly (7x7x512 = 25,088 features at
    224x224; 512 at 28x28); torchvision's adaptive 7x7 average pool is dropped because it would upsample small maps.

    Input: `(N, C, H, W)`. Features: `(N, 512, H', W')`, the map after the last pool (7x7 at 224x224, 1x1 at 28x28
    or 32x32, where the maps are that small). Output: `(N, K)` logits.

    Args:
        config: column of Table 1 ("A" is VGG-11, "D" VGG-16).
        batch_norm: batch normalisation after each convolution.
        dropout: dropout rate before each hidden FC layer.
        hidden: width of the two hidden FC layers.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: tuple[int, int] = (224, 224),
                 config: str = "D", batch_norm: bool = False, dropout: float = 0.5, hidden: int = 4096):
        super().__init__()
        layers, channels, size = [], in_channels, min(input_size)
        for widths in CONFIGS[config]:
            layers += conv_stage(channels, widths, batch_norm)
            channels = widths[-1]
            if size >= 2:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        self.features = nn.Sequential(*layers)
        flat = flat_features(self.features, (in_channels, *input_size))
        self.hidden = dense_relu_dropout(flat, hidden, dropout)
        self.head = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, 512, H', W')`."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(features.flatten(1)))  # (N, 512, H', W') -> (N, 512 * H' * W') -> (N, K)


@register_model("vgg11", paper="Simonyan & Zisserman 2014", input_shape=(3, 224, 224))
def vgg11(num_classes: int = 1000, in_channels: int = 3, input_size: tuple[int, int] = (224, 224),
          batch_norm: bool = False, dropout: float = 0.5, hidden: int = 4096) -> VGG:
    """VGG-11 (configuration A), 132,863,336 parameters at 224x224x3, 1000 classes."""
    return VGG(num_classes, in_channels, tuple(input_size), "A", batch_norm, dropout, hidden)


@register_model("vgg16", paper="Simonyan & Zisserman 2014", input_shape=(3, 224, 224))
def vgg16(num_classes: int = 1000, in_channels: int = 3, input_size: tuple[int, int] = (224, 224),
          batch_norm: bool = False, dropout: float = 0.5, hidden: int = 4096) -> VGG:
    """VGG-16 (configuration D), 138,357,544 parameters at 224x224x3, 1000 classes."""
    return VGG(num_classes, in_channels, tuple(input_size), "D", batch_norm, dropout, hidden)
