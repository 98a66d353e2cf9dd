"""AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet classification with deep convolutional neural networks")."""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.layers import overlapping_max_pool2d
from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models._utils import flat_features, is_small


def conv_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> list:
    return [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(inplace=True)]


class AlexNet(Classifier):
    """AlexNet in the common single-tower form: five convolutions, overlapping 3x3/2 max pooling, two dropout FC layers.

    Layers: conv 11x11/4 64 - pool - conv 5x5 192 - pool - conv 3x3 384 - conv 3x3 256 - conv 3x3 256 - pool - FC 4096
    - FC 4096 - FC K, ReLU after every hidden layer, dropout 0.5 before the two hidden FC layers. These are the widths
    of Krizhevsky's "one weird trick" (2014) single-GPU model that torchvision ships: 61,100,840 parameters for a
    224x224x3 input and 1000 classes. The 2012 paper split 96-256-384-384-256 maps over two GPUs and added local
    response normalisation after the first two convolutions (`lrn=True` adds it here; it has no parameters).

    Adaptation: for inputs under 64 pixels a side (28x28 Fashion-MNIST, 32x32 CIFAR) the 11x11/4 stem would leave
    nothing for the three pools, so conv1 becomes 3x3 with stride 1 (28 -> 28 -> 13 -> 13 -> 6 -> 6 -> 2); the first
    FC layer then reads the 256x2x2 map. Nothing is upsampled and torchvision's adaptive 6x6 average pool is dropped:
    the classifier reads the map the convolutions produce (6x6 at 224x224).

    Input: `(N, C, H, W)`. Features: `(N, 256, H', W')`, the map after the third pool (6x6 at 224x224, 2x2 at
    28x28). Output: `(N, K)` logits.

    Args:
        dropout: dropout rate before each hidden FC layer.
        hidden: width of the two hidden FC layers.
        lrn: local response normalisation (size 5, alpha 1e-4, beta 0.75, k 2) after conv1 and conv2, as in 2012.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: tuple[int, int] = (224, 224),
                 dropout: float = 0.5, hidden: int = 4096, lrn: bool = False):
        super().__init__()
        stem = conv_relu(in_channels, 64, 3, 1, 1) if is_small(input_size) else conv_relu(in_channels, 64, 11, 4, 2)
        norm = [nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)] if lrn else []
        self.features = nn.Sequential(
            *stem, *norm, overlapping_max_pool2d(3, 2),
            *conv_relu(64, 192, 5, padding=2), *norm, overlapping_max_pool2d(3, 2),
            *conv_relu(192, 384, 3, padding=1), *conv_relu(384, 256, 3, padding=1), *conv_relu(256, 256, 3, padding=1),
            overlapping_max_pool2d(3, 2),
        )
        flat = flat_features(self.features, (in_channels, *input_size))
        self.hidden = nn.Sequential(nn.Dropout(dropout), nn.Linear(flat, hidden), nn.ReLU(inplace=True),
                                    nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.head = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, 256, H', W')`."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(features.flatten(1)))  # (N, 256, H', W') -> (N, 256 * H' * W') -> (N, K)


@register_model("alexnet", paper="Krizhevsky et al. 2012", input_shape=(3, 224, 224))
def alexnet(num_classes: int = 1000, in_channels: int = 3, input_size: tuple[int, int] = (224, 224),
            dropout: float = 0.5, hidden: int = 4096, lrn: bool = False) -> AlexNet:
    """AlexNet, single tower, overlapping pooling and dropout; 61,100,840 parameters at 224x224x3, 1000 classes."""
    return AlexNet(num_classes, in_channels, tuple(input_size), dropout, hidden, lrn)
