"""Residual networks (He, Zhang, Ren & Sun 2015, "Deep residual learning for image recognition").

Two families from the paper: the ImageNet networks of its Table 1 (ResNet-18/34 with basic blocks, ResNet-50 with
bottlenecks) and the CIFAR-10 networks of its section 4.2 (ResNet-20/32/56/110: 6n+2 layers, 16-32-64 maps).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models._utils import is_small


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """Convolution (no bias: batch norm follows) with 'same' padding for odd kernels, then batch norm."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
                         nn.BatchNorm2d(out_channels))


class ZeroPadShortcut(nn.Module):
    """Option A shortcut: identity, subsampled by `stride` and zero-padded with extra channels; no parameters.

    Input: `(N, C_in, H, W)` -> Output: `(N, C_out, ceil(H / stride), ceil(W / stride))`.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.extra, self.stride = out_channels - in_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (N, C, H, W) -> (N, C, H / s, W / s)
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # (N, C_in, ...) -> (N, C_out, ...), new channels zero


def shortcut(in_channels: int, out_channels: int, stride: int, option: str) -> nn.Module:
    """Identity when the shape is unchanged; otherwise option "A" (zero padding) or "B" (1x1 projection + BN)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if option == "A":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return conv_bn(in_channels, out_channels, 1, stride)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a shortcut around them: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)).

    Input: `(N, C_in, H, W)` -> Output: `(N, C_out, H / stride, W / stride)`.
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, option: str = "B"):
        super().__init__()
        self.residual = nn.Sequential(conv_bn(in_channels, channels, 3, stride), nn.ReLU(inplace=True),
                                      conv_bn(channels, channels, 3))
        self.shortcut = shortcut(in_channels, channels, stride, option)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, as in torchvision's "v1.5"), 1x1 expand by 4, with a shortcut.

    Input: `(N, C_in, H, W)` -> Output: `(N, 4 * channels, H / stride, W / stride)`.
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, option: str = "B"):
        super().__init__()
        self.residual = nn.Sequential(conv_bn(in_channels, channels, 1), nn.ReLU(inplace=True),
                                      conv_bn(channels, channels, 3, stride), nn.ReLU(inplace=True),
                                      conv_bn(channels, 4 * channels, 1))
        self.shortcut = shortcut(in_channels, 4 * channels, stride, option)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x) + self.shortcut(x))


def make_stage(block: type[BasicBlock | Bottleneck], in_channels: int, channels: int, blocks: int, stride: int,
               option: str) -> tuple[nn.Sequential, int]:
    """`blocks` residual blocks, the first with `stride`; returns the stage and its output channels."""
    layers = []
    for index in range(blocks):
        layers.append(block(in_channels, channels, stride if index == 0 else 1, option))
        in_channels = channels * block.expansion
    return nn.Sequential(*layers), in_channels


class ResNet(Classifier):
    """A stem, stages of residual blocks (each after the first halving the resolution), global average pooling, FC.

    The ImageNet networks (Table 1) use a 7x7/2 conv 64 and a 3x3/2 max pool as the stem, four stages of 64-128-256-512
    base widths and projection shortcuts (option B) where the shape changes. Counts for 224x224x3 inputs and 1000
    classes: ResNet-18 11,689,512, ResNet-34 21,797,672, ResNet-50 25,557,032 (torchvision's numbers).

    Adaptation: for inputs under 64 pixels a side the stem is a 3x3/1 conv 64 followed by the same 3x3/2 max pool,
    so a 28x28 input reaches the stages at 14x14 (14, 7, 4, 2) instead of being reduced to 1x1 before the last stage.

    Input: `(N, C, H, W)`. Features: `(N, C_last, H', W')`, the last stage's map (512x7x7 for ResNet-18 at 224x224,
    64x8x8 for ResNet-20 at 32x32). Output: `(N, K)` logits.

    Args:
        block: `BasicBlock` or `Bottleneck`.
        layers: blocks per stage.
        widths: base width of each stage (the block's output is `expansion` times this).
        stem: "imagenet" (7x7/2 conv + max pool), "small" (3x3/1 conv + max pool) or "cifar" (3x3/1 conv only).
        shortcut: "A" (zero padding, parameter-free) or "B" (1x1 projections) where the shape changes.
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: tuple[int, ...], widths: tuple[int, ...],
                 num_classes: int = 1000, in_channels: int = 3, stem: str = "imagenet", shortcut: str = "B"):
        super().__init__()
        self.stem = self._stem(in_channels, widths[0], stem)
        stages, channels = [], widths[0]
        for index, (blocks, width) in enumerate(zip(layers, widths, strict=True)):
            stage, channels = make_stage(block, channels, width, blocks, 1 if index == 0 else 2, shortcut)
            stages.append(stage)
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, num_classes)
        self._init_weights()

    @staticmethod
    def _stem(in_channels: int, width: int, kind: str) -> nn.Sequential:
        if kind == "cifar":
            return nn.Sequential(conv_bn(in_channels, width, 3), nn.ReLU(inplace=True))
        conv = conv_bn(in_channels, width, 7, 2) if kind == "imagenet" else conv_bn(in_channels, width, 3)
        return nn.Sequential(conv, nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))

    def _init_weights(self) -> None:
        """He-normal convolution weights in fan-out mode, as torchvision; batch norm keeps its unit scales."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, C_last, H', W')`."""
        return self.stages(self.stem(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(features).flatten(1))  # (N, C, 1, 1) -> (N, C) -> (N, K)


def imagenet_resnet(block: type[BasicBlock | Bottleneck], layers: tuple[int, ...], num_classes: int,
                    in_channels: int, input_size: tuple[int, ...]) -> ResNet:
    stem = "small" if is_small(input_size) else "imagenet"
    return ResNet(block, layers, (64, 128, 256, 512), num_classes, in_channels, stem, "B")


def cifar_resnet(depth: int, num_classes: int, in_channels: int, shortcut: str) -> ResNet:
    """The CIFAR ResNet of section 4.2: depth 6n+2, three stages of n basic blocks with 16, 32, 64 maps."""
    return ResNet(BasicBlock, ((depth - 2) // 6,) * 3, (16, 32, 64), num_classes, in_channels, "cifar", shortcut)


PAPER = "He et al. 2015"


@register_model("resnet18", paper=PAPER, input_shape=(3, 224, 224))
def resnet18(num_classes: int = 1000, in_channels: int = 3, input_size: tuple[int, int] = (224, 224)) -> ResNet:
    """ResNet-18, basic blocks [2, 2, 2, 2], 11,689,512 parameters at 224x224x3, 1000 classes."""
    return imagenet_resnet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, tuple(input_size))


@register_model("resnet34", paper=PAPER, input_shape=(3, 224, 224))
def resnet34(num_classes: int = 1000, in_channels: int = 3, input_size: tuple[int, int] = (224, 224)) -> ResNet:
    """ResNet-34, basic blocks [3, 4, 6, 3], 21,797,672 parameters at 224x224x3, 1000 classes."""
    return imagenet_resnet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, tuple(input_size))


@register_model("resnet50", paper=PAPER, input_shape=(3, 224, 224))
def resnet50(num_classes: int = 1000, in_channels: int = 3, input_size: tuple[int, int] = (224, 224)) -> ResNet:
    """ResNet-50, bottleneck blocks [3, 4, 6, 3], 25,557,032 parameters at 224x224x3, 1000 classes."""
    return imagenet_resnet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, tuple(input_size))


# The CIFAR networks work on any input size (three stages, global pooling), so `input_size` is not needed.


@register_model("resnet20", paper=PAPER, input_shape=(3, 32, 32))
def resnet20(num_classes: int = 10, in_channels: int = 3, input_size: tuple[int, int] = (32, 32),
             shortcut: str = "A") -> ResNet:
    """CIFAR ResNet-20 (n=3), option-A shortcuts: 269,722 parameters for 10 classes (0.27M in the paper)."""
    return cifar_resnet(20, num_classes, in_channels, shortcut)


@register_model("resnet32", paper=PAPER, input_shape=(3, 32, 32))
def resnet32(num_classes: int = 10, in_channels: int = 3, input_size: tuple[int, int] = (32, 32),
             shortcut: str = "A") -> ResNet:
    """CIFAR ResNet-32 (n=5), option-A shortcuts: 464,154 parameters for 10 classes (0.46M in the paper)."""
    return cifar_resnet(32, num_classes, in_channels, shortcut)


@register_model("resnet56", paper=PAPER, input_shape=(3, 32, 32))
def resnet56(num_classes: int = 10, in_channels: int = 3, input_size: tuple[int, int] = (32, 32),
             shortcut: str = "A") -> ResNet:
    """CIFAR ResNet-56 (n=9), option-A shortcuts: 853,018 parameters for 10 classes (0.85M in the paper)."""
    return cifar_resnet(56, num_classes, in_channels, shortcut)


@register_model("resnet110", paper=PAPER, input_shape=(3, 32, 32))
def resnet110(num_classes: int = 10, in_channels: int = 3, input_size: tuple[int, int] = (32, 32),
              shortcut: str = "A") -> ResNet:
    """CIFAR ResNet-110 (n=18), option-A shortcuts: 1,727,962 parameters for 10 classes (1.7M in the paper)."""
    return cifar_resnet(110, num_classes, in_channels, shortcut)
