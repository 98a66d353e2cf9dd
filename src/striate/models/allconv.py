"""The all-convolutional net (Springenberg, Dosovitskiy, Brox & Riedmiller 2014, "Striving for simplicity")."""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.models._base import Classifier
from striate.models._registry import register_model


def conv_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> list:
    return [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(inplace=True)]


class AllCNNC(Classifier):
    """All-CNN-C: model C of the paper with each max pool replaced by a 3x3 convolution of stride 2.

    Layers (Table 2): dropout 0.2 on the input; conv 3x3 96, conv 3x3 96, conv 3x3 96 stride 2, dropout 0.5; conv 3x3
    192, conv 3x3 192, conv 3x3 192 stride 2, dropout 0.5; conv 3x3 192 (no padding), conv 1x1 192, conv 1x1 K; global
    average pooling over the K class maps gives the logits. ReLU after every convolution except the last; there
    are no fully connected layers. 1,369,738 parameters for 32x32x3 CIFAR-10 (the paper rounds to 1.4M).

    No adaptation is needed for 28x28: the maps run 28 -> 14 -> 7 -> 5 (32 -> 16 -> 8 -> 6 on CIFAR).

    Input: `(N, C, H, W)`, H, W >= 9. Output: `(N, K)` logits.

    Args:
        input_dropout: dropout rate on the input image.
        dropout: dropout rate after each stride-2 convolution.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, input_dropout: float = 0.2, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Dropout(input_dropout),
            *conv_relu(in_channels, 96, 3, padding=1), *conv_relu(96, 96, 3, padding=1),
            *conv_relu(96, 96, 3, stride=2, padding=1), nn.Dropout(dropout),
            *conv_relu(96, 192, 3, padding=1), *conv_relu(192, 192, 3, padding=1),
            *conv_relu(192, 192, 3, stride=2, padding=1), nn.Dropout(dropout),
            *conv_relu(192, 192, 3), *conv_relu(192, 192, 1),
        )
        self.head = nn.Conv2d(192, num_classes, 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, 192, H', W')`: the maps the 1x1 class convolution reads."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features).mean(dim=(2, 3))  # (N, K, H', W') -> (N, K): global average pooling

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh 1x1 class convolution with `num_classes` maps."""
        self.head = nn.Conv2d(self.head.in_channels, num_classes, 1)


@register_model("allcnn_c", paper="Springenberg et al. 2014", input_shape=(3, 32, 32))
def allcnn_c(num_classes: int = 10, in_channels: int = 3, input_size: tuple[int, int] = (32, 32),
             input_dropout: float = 0.2, dropout: float = 0.5) -> AllCNNC:
    """All-CNN-C: strided convolutions instead of pooling, 1,369,738 parameters on CIFAR-10."""
    return AllCNNC(num_classes, in_channels, input_dropout, dropout)
