"""A small modern CNN: 3x3 convolutions with batch normalisation (Ioffe & Szegedy 2015), ReLU and max pooling."""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.models._base import Classifier
from striate.models._registry import register_model


def conv_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (no bias, batch norm follows), batch norm, ReLU; keeps the spatial size."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class ConvNet(Classifier):
    """Stages of two conv-bn-relu blocks each, halving the resolution between stages, then global average pooling.

    Input: `(N, C, H, W)` with H, W >= 2**(len(widths) - 1). Output: `(N, K)` logits.

    Args:
        widths: channels of each stage.
        dropout: dropout rate before the classifier.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28),
                 widths: tuple[int, ...] = (32, 64, 128), dropout: float = 0.1):
        super().__init__()
        layers, channels = [], in_channels
        for index, width in enumerate(widths):
            if index > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [conv_bn(channels, width), conv_bn(width, width)]
            channels = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (N, C, H, W) -> (N, C)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.features(x))


@register_model("convnet", paper="Ioffe & Szegedy 2015 (batch norm); Simonyan & Zisserman 2014 (3x3 stacks)",
                input_shape=(1, 28, 28))
def convnet(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28),
            widths: tuple[int, ...] = (32, 64, 128), dropout: float = 0.1) -> ConvNet:
    """Small batch-norm CNN: three stages of two 3x3 conv-bn-relu blocks, global average pooling."""
    return ConvNet(num_classes, in_channels, input_size, tuple(widths), dropout)
