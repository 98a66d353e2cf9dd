"""A small modern CNN: 3x3 convolutions with batch normalisation (Ioffe & Szegedy 2015), ReLU and max pooling."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn

from striate.errors import ConfigError
from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models._utils import run_layers


def conv_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (no bias, batch norm follows), batch norm, ReLU; keeps the spatial size."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class ConvNet(Classifier):
    """Stages of `depth` conv-bn-relu blocks each, halving the resolution between stages, then a classifier head.

    The default (three stages of two blocks, global average pooling) is the throughput benchmark's batch-norm CNN.
    `head="flatten"` max-pools the last stage once more and flattens it into the classifier, keeping where features
    are: with one block per stage this is the classic conv-pool-conv-pool-dense network, which reaches a given
    Fashion-MNIST accuracy in fewer multiply-adds than the average-pooled stack (the speedrun recipes use it).

    Input: `(N, C, H, W)` with H, W >= 2**len(widths) (flatten head) or 2**(len(widths) - 1).
    Features: `(N, widths[-1], H', W')`, the last stage's map (after its 2x2 max pooling with the flatten head),
    128x7x7 for the default on 28x28. Output: `(N, K)`.

    Args:
        widths: channels of each stage.
        dropout: dropout rate before the classifier.
        depth: conv-bn-relu blocks per stage.
        head: "avg" (global average pooling) or "flatten" (2x2 max pooling, then flatten).
        hidden: width of a fully connected ReLU layer before the classifier (0: none).
        pool_first: in the block before each 2x2 max pooling, pool straight after the convolution, then batch norm
            and ReLU (conv-pool-norm-act, as in the CIFAR-10 speedruns). Max pooling commutes with ReLU and with a
            batch norm of positive scale, so the network computes nearly the same functions while normalisation and
            activation (memory-bound on a CPU) touch 4x fewer values: measured 1.3x more training images/s for
            widths (32, 64) with the flatten head on two CPU cores.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28),
                 widths: tuple[int, ...] = (32, 64, 128), dropout: float = 0.1, depth: int = 2,
                 head: Literal["avg", "flatten"] = "avg", hidden: int = 0, pool_first: bool = False):
        super().__init__()
        if head not in ("avg", "flatten"):
            raise ConfigError(f"Invalid convnet `head` {head!r}: expected 'avg' or 'flatten'.")
        if depth < 1:
            raise ConfigError(f"Invalid convnet `depth` {depth}: expected at least 1 block per stage.")
        layers, channels, height, width_px = [], in_channels, *input_size
        for index, width in enumerate(widths):
            pooled = index < len(widths) - 1 or head == "flatten"  # 2x2 max pooling follows this stage
            for block in range(depth):
                if pool_first and pooled and block == depth - 1:
                    layers.append(nn.Sequential(nn.Conv2d(channels, width, 3, padding=1, bias=False),
                                                nn.MaxPool2d(2), nn.BatchNorm2d(width), nn.ReLU(inplace=True)))
                else:
                    layers.append(conv_bn(channels, width))
                channels = width
            if pooled and not pool_first:
                layers.append(nn.MaxPool2d(2))
            if pooled:
                height, width_px = height // 2, width_px // 2
        # The pooling, flatten and hidden layer stay in `features` (so that the hidden layer keeps its state_dict
        # key), but they belong to the head: `forward_features` stops at `map_layers`, before the first of them.
        self.map_layers = len(layers)
        if head == "avg":
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # (N, C, H, W) -> (N, C)
            features = channels
        else:
            layers.append(nn.Flatten())  # (N, C, H/2**n, W/2**n) -> (N, C * H/2**n * W/2**n)
            features = channels * height * width_px
        if hidden:
            layers += [nn.Linear(features, hidden), nn.ReLU(inplace=True)]
            features = hidden
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, widths[-1], H', W')`."""
        return run_layers(self.features, x, stop=self.map_layers)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(run_layers(self.features, features, start=self.map_layers)))


@register_model("convnet", paper="Ioffe & Szegedy 2015 (batch norm); Simonyan & Zisserman 2014 (3x3 stacks)",
                input_shape=(1, 28, 28))
def convnet(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28),
            widths: tuple[int, ...] = (32, 64, 128), dropout: float = 0.1, depth: int = 2,
            head: Literal["avg", "flatten"] = "avg", hidden: int = 0, pool_first: bool = False) -> ConvNet:
    """Small batch-norm CNN: stages of 3x3 conv-bn-relu blocks with max pooling between them, then a classifier."""
    return ConvNet(num_classes, in_channels, input_size, tuple(widths), dropout, depth, head, hidden, pool_first)
