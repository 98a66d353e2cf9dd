"""GoogLeNet / Inception v1 (Szegedy et al. 2014, "Going deeper with convolutions")."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models._utils import is_small

INCEPTION: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
"""Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj of each Inception module."""


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """Convolution (no bias), batch norm (eps 1e-3), ReLU: torchvision's `BasicConv2d`."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
                         nn.BatchNorm2d(out_channels, eps=1e-3), nn.ReLU(inplace=True))


def max_pool(kernel_size: int = 3) -> nn.MaxPool2d:
    """Stride-2 max pooling with ceil mode, so odd sides round up (torchvision's choice): 112 -> 56, 7 -> 4."""
    return nn.MaxPool2d(kernel_size, stride=2, ceil_mode=True)


class Inception(nn.Module):
    """Four parallel branches concatenated along channels: 1x1; 1x1 -> 3x3; 1x1 -> "5x5"; 3x3 max pool -> 1x1.

    Input: `(N, C_in, H, W)` -> Output: `(N, c1 + c3 + c5 + pool_proj, H, W)`.

    Args:
        widths: the six numbers of a row of Table 1 (see `INCEPTION`).
        branch5x5_kernel_size: 5 as in the paper; 3 reproduces torchvision, whose weights were trained with 3x3
            kernels in this branch (a known slip it keeps for compatibility).
    """

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int], branch5x5_kernel_size: int = 5):
        super().__init__()
        c1, c3_reduce, c3, c5_reduce, c5, pool_proj = widths
        k = branch5x5_kernel_size
        self.branch1 = conv_bn(in_channels, c1, 1)
        self.branch3 = nn.Sequential(conv_bn(in_channels, c3_reduce, 1), conv_bn(c3_reduce, c3, 3, padding=1))
        self.branch5 = nn.Sequential(conv_bn(in_channels, c5_reduce, 1), conv_bn(c5_reduce, c5, k, padding=k // 2))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                         conv_bn(in_channels, pool_proj, 1))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)  # (N, sum of branch widths, H, W)


class AuxClassifier(nn.Module):
    """An auxiliary classifier on an intermediate map: 4x4 average pool, 1x1 conv 128, FC 1024, dropout 0.7, FC K.

    The paper pools 5x5 windows with stride 3 (4x4 on a 14x14 map); an adaptive pool to 4x4 gives the same there and
    also fits the smaller maps of small inputs (7x7 for a 28x28 image).

    Input: `(N, C, H, W)` -> Output: `(N, K)` logits.
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv = conv_bn(in_channels, 128, 1)
        self.fc = nn.Linear(128 * 4 * 4, 1024)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pool(x)).flatten(1)  # (N, 128, 4, 4) -> (N, 2048)
        return self.head(self.dropout(F.relu(self.fc(x), inplace=True)))


class GoogLeNet(Classifier):
    """GoogLeNet: a stem, nine Inception modules in three groups separated by max pooling, global average pooling.

    Reference count: 6,624,904 parameters for 224x224x3 inputs and 1000 classes without the auxiliary classifiers
    and 13,004,888 with them. These are torchvision's numbers, which this module reproduces with its defaults:
    batch-normalised convolutions without bias (the paper predates batch norm), 3x3 kernels in the "5x5" branch and
    a 2x2/2 max pool before Inception 5a. `paper=True` gives Table 1's layout instead: 5x5 kernels in that branch
    and a 3x3/2 max pool before 5a (both pools give 7x7 from 14x14; from a small input's 7x7, 3x3 rather than 4x4).
    At 224x224 the receptive field of the last Inception module, 5b, is then the paper's 715 pixels; it is 379 with
    the defaults and 699 with only `branch5x5_kernel_size=5`. There is no local response normalisation in either.

    With `aux_logits=True` two auxiliary classifiers read the outputs of 4a and 4d. `forward` always returns the main
    logits; in training mode it keeps the auxiliary logits, and `compute_loss` adds 0.3 times their cross-entropy.

    Adaptation: for inputs under 64 pixels a side the stem is conv 3x3/1 64 - max pool 3x3/2 - conv 1x1 64 -
    conv 3x3 192, which downsamples by 2 instead of 8 (7x7/2 conv and two pools): a 28x28 input reaches the
    Inception modules at 14x14, then 7x7 and 4x4, as a 112x112 input would in the original.

    Input: `(N, C, H, W)`. Features: `(N, 1024, H', W')`, the output of Inception 5b (7x7 at 224x224, 4x4 at
    28x28). Output: `(N, K)` logits.

    Args:
        aux_logits: build the two auxiliary classifiers.
        dropout: dropout rate before the final classifier (the paper's 40%).
        branch5x5_kernel_size: see `Inception`; None for 5 with `paper=True`, else 3.
        paper: Table 1's kernels and pooling rather than torchvision's (the parameter count is that of
            `branch5x5_kernel_size=5`: 7,005,832 for 1000 classes at 224x224x3 without the auxiliary classifiers).
    """

    aux_weight = 0.3

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: tuple[int, int] = (224, 224),
                 aux_logits: bool = False, dropout: float = 0.4, branch5x5_kernel_size: int | None = None,
                 paper: bool = False):
        super().__init__()
        if is_small(input_size):
            self.stem = nn.Sequential(conv_bn(in_channels, 64, 3, padding=1), max_pool(),
                                      conv_bn(64, 64, 1), conv_bn(64, 192, 3, padding=1))
        else:
            self.stem = nn.Sequential(conv_bn(in_channels, 64, 7, stride=2, padding=3), max_pool(),
                                      conv_bn(64, 64, 1), conv_bn(64, 192, 3, padding=1), max_pool())
        # Split where the auxiliary classifiers read: after 4a and after 4d.
        k = (5 if paper else 3) if branch5x5_kernel_size is None else branch5x5_kernel_size
        self.inception3, channels = self._modules_for(192, ("3a", "3b"), k)
        self.inception4a, channels = self._modules_for(channels, (max_pool(), "4a"), k)
        self.inception4d, channels = self._modules_for(channels, ("4b", "4c", "4d"), k)
        pool4 = max_pool(3 if paper else 2)  # Table 1: 3x3/2; torchvision: 2x2/2
        self.inception5, channels = self._modules_for(channels, ("4e", pool4, "5a", "5b"), k)
        self.aux1 = AuxClassifier(512, num_classes) if aux_logits else None
        self.aux2 = AuxClassifier(528, num_classes) if aux_logits else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(1024, num_classes)
        self.aux_outputs: tuple[torch.Tensor, ...] = ()

    @staticmethod
    def _modules_for(in_channels: int, items: tuple[str | nn.Module, ...],
                     kernel_size: int) -> tuple[nn.Sequential, int]:
        """A sequence of Inception modules (named rows of `INCEPTION`) and pools; returns it and its output channels."""
        modules = []
        for item in items:
            if isinstance(item, str):
                item = Inception(in_channels, INCEPTION[item], kernel_size)
                in_channels = item.out_channels
            modules.append(item)
        return nn.Sequential(*modules), in_channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, 1024, H', W')`; in training mode also runs the auxiliary classifiers."""
        x = self.inception4a(self.inception3(self.stem(x)))
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(x)
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        self.aux_outputs = () if aux1 is None else (aux1, aux2)
        return self.inception5(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.pool(features).flatten(1)))  # (N, 1024, 1, 1) -> (N, 1024) -> (N, K)

    def compute_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the main logits plus 0.3 x that of each auxiliary classifier from the last training pass.

        Args:
            output: `(N, K)` main logits from `forward`.
            target: `(N,)` class indices.
        """
        loss = F.cross_entropy(output, target)
        for aux in self.aux_outputs:
            loss = loss + self.aux_weight * F.cross_entropy(aux, target)
        self.aux_outputs = ()
        return loss

    def reset_classifier(self, num_classes: int) -> None:
        """Fresh main and (when present) auxiliary output layers for `num_classes`."""
        super().reset_classifier(num_classes)
        for aux in (self.aux1, self.aux2):
            if aux is not None:
                aux.head = nn.Linear(aux.head.in_features, num_classes)


@register_model("googlenet", paper="Szegedy et al. 2014", input_shape=(3, 224, 224))
def googlenet(num_classes: int = 1000, in_channels: int = 3, input_size: tuple[int, int] = (224, 224),
              aux_logits: bool = False, dropout: float = 0.4, branch5x5_kernel_size: int | None = None,
              paper: bool = False) -> GoogLeNet:
    """GoogLeNet (Inception v1), optional auxiliary classifiers; 6,624,904 parameters without them (1000 classes).

    `paper=True` gives Table 1's 5x5 kernels and 3x3/2 pooling before 5a in place of torchvision's 3x3 and 2x2/2.
    """
    return GoogLeNet(num_classes, in_channels, tuple(input_size), aux_logits, dropout, branch5x5_kernel_size, paper)
