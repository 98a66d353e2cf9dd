"""Networks for volumes `(N, C, D, H, W)`: an AtomNet-style 3-D CNN and 3-D residual networks.

AtomNet (Wallach, Dzamba & Heifets 2015, "AtomNet: a deep convolutional neural network for bioactivity prediction
in structure-based drug discovery") reads atoms voxelised by element (`striate.data.volumes.voxelize`) with 3-D
convolutions and fully connected layers. The residual networks are the zoo's residual blocks (`striate.models.resnet`,
He et al. 2015) with 3x3x3 convolutions, as in Hara, Kataoka & Satoh 2018 ("Can spatiotemporal 3D CNNs retrace the
history of 2D CNNs and ImageNet?").
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.models._base import Classifier
from striate.models._registry import register_model


def conv_bn3d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """3-D convolution (no bias: batch norm follows) with 'same' padding for odd kernels, then batch norm."""
    return nn.Sequential(nn.Conv3d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
                         nn.BatchNorm3d(out_channels))


def shortcut3d(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity when the shape is unchanged, else a 1x1x1 projection with batch norm (the paper's option B)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return conv_bn3d(in_channels, out_channels, 1, stride)


class BasicBlock3d(nn.Module):
    """`striate.models.resnet.BasicBlock` in 3-D: two 3x3x3 conv-BN layers and a shortcut,
    relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)).

    Input: `(N, C_in, D, H, W)` -> Output: `(N, channels, ceil(D / stride), ceil(H / stride), ceil(W / stride))`.

    Example:
        >>> BasicBlock3d(4, 8, stride=2)(torch.zeros(1, 4, 6, 6, 6)).shape
        torch.Size([1, 8, 3, 3, 3])
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.residual = nn.Sequential(conv_bn3d(in_channels, channels, 3, stride), nn.ReLU(inplace=True),
                                      conv_bn3d(channels, channels, 3))
        self.shortcut = shortcut3d(in_channels, channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x) + self.shortcut(x))


class Bottleneck3d(nn.Module):
    """`striate.models.resnet.Bottleneck` in 3-D: 1x1x1 reduce, 3x3x3 (carrying the stride), 1x1x1 expand by 4.

    Input: `(N, C_in, D, H, W)` -> Output: `(N, 4 * channels, ceil(D / stride), ceil(H / stride), ceil(W / stride))`.
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.residual = nn.Sequential(conv_bn3d(in_channels, channels, 1), nn.ReLU(inplace=True),
                                      conv_bn3d(channels, channels, 3, stride), nn.ReLU(inplace=True),
                                      conv_bn3d(channels, 4 * channels, 1))
        self.shortcut = shortcut3d(in_channels, 4 * channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x) + self.shortcut(x))


class ResNet3d(Classifier):
    """A 3x3x3 conv stem, stages of 3-D residual blocks (each after the first halving every side), global average
    pooling and a linear classifier.

    Input: `(N, C, D, H, W)`, any size. Features: `(N, C_last, D', H', W')`, D' = ceil(D / 2**(stages - 1)).
    Output: `(N, K)` logits.

    Args:
        block: `BasicBlock3d` or `Bottleneck3d`.
        layers: blocks per stage.
        widths: base width of each stage (the block's output is `expansion` times this).
    """

    feature_layout = "spatiotemporal"  # a 5-D map: explanations and Grad-CAM read it as they read a clip's
    input_kind = "volume"  # the first spatial axis is depth, so summaries name it D

    def __init__(self, block: type[BasicBlock3d | Bottleneck3d], layers: tuple[int, ...], widths: tuple[int, ...],
                 num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.stem = nn.Sequential(conv_bn3d(in_channels, widths[0], 3), nn.ReLU(inplace=True))
        stages, channels = [], widths[0]
        for index, (blocks, width) in enumerate(zip(layers, widths, strict=True)):
            stage = []
            for number in range(blocks):
                stage.append(block(channels, width, 2 if index and not number else 1))
                channels = width * block.expansion
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, D, H, W)` -> `(N, C_last, D', H', W')`."""
        return self.stages(self.stem(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features.mean(dim=(2, 3, 4)))  # global average pooling: (N, C, D', H', W') -> (N, C) -> (N, K)


class AtomNet(Classifier):
    """AtomNet-style 3-D CNN: 3-D conv-BN-ReLU layers (the first two each closed by 2x2x2 max pooling), global max
    and average pooling side by side, a hidden fully connected layer, and the output layer.

    AtomNet had four convolutions (128 5x5x5, then 256 3x3x3 three times) on a 20 Angstrom cube at 1 Angstrom and
    two hidden layers of 1024; `widths=(128, 256, 256, 256)`, `kernels=(5, 3, 3, 3)`, `hidden=1024` come close. The
    defaults are a quarter of those widths (and one hidden layer) so it trains on a CPU, and the global pooling lets
    one network read any grid size and makes it indifferent to where in the grid a pattern sits.

    Input: `(N, C, D, H, W)`. Features: `(N, widths[-1], D', H', W')`, D' = D // 4 (the two pools).
    Output: `(N, K)` logits (or K regression values).

    Args:
        widths: output channels of each convolution.
        kernels: kernel size of each convolution (odd: 'same' padding).
        hidden: width of the hidden fully connected layer.
        dropout: dropout before the output layer.
    """

    feature_layout = "spatiotemporal"  # a 5-D map: explanations and Grad-CAM read it as they read a clip's
    input_kind = "volume"  # the first spatial axis is depth, so summaries name it D

    def __init__(self, num_classes: int = 2, in_channels: int = 6, widths: tuple[int, ...] = (32, 64, 64, 128),
                 kernels: tuple[int, ...] = (5, 3, 3, 3), hidden: int = 256, dropout: float = 0.2):
        super().__init__()
        layers, channels = [], in_channels
        for index, (width, kernel) in enumerate(zip(widths, kernels, strict=True)):
            layers += [conv_bn3d(channels, width, kernel), nn.ReLU(inplace=True)]
            if index < 2:
                layers.append(nn.MaxPool3d(2, ceil_mode=True))
            channels = width
        self.features = nn.Sequential(*layers)
        self.hidden = nn.Sequential(nn.Linear(2 * channels, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.head = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, D, H, W)` -> `(N, widths[-1], D', H', W')`."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        flat = features.flatten(2)  # (N, C, D', H', W') -> (N, C, D' * H' * W')
        pooled = torch.cat([flat.amax(dim=2), flat.mean(dim=2)], dim=1)  # (N, 2C)
        return self.head(self.hidden(pooled))  # (N, hidden) -> (N, K)


@register_model("atomnet", paper="Wallach et al. 2015", input_shape=(6, 24, 24, 24), inputs=("volume",))
def atomnet(num_classes: int = 2, in_channels: int = 6, input_size: tuple[int, int, int] = (24, 24, 24),
            widths: tuple[int, ...] = (32, 64, 64, 128), kernels: tuple[int, ...] = (5, 3, 3, 3), hidden: int = 256,
            dropout: float = 0.2) -> AtomNet:
    """AtomNet-style 3-D CNN for voxelised atoms and other volumes (N, C, D, H, W); any grid size."""
    return AtomNet(num_classes, in_channels, tuple(widths), tuple(kernels), hidden, dropout)


@register_model("resnet3d", paper="He et al. 2015", input_shape=(1, 32, 32, 32), inputs=("volume",))
def resnet3d(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int, int] = (32, 32, 32),
             layers: tuple[int, ...] = (1, 1, 1), widths: tuple[int, ...] = (32, 64, 128),
             bottleneck: bool = False) -> ResNet3d:
    """Small 3-D ResNet: basic (or bottleneck) 3x3x3 residual blocks, stages of 32-64-128; any volume size."""
    return ResNet3d(Bottleneck3d if bottleneck else BasicBlock3d, tuple(layers), tuple(widths), num_classes,
                    in_channels)
