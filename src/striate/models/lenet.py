"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document recognition")."""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.models._base import Classifier
from striate.models._registry import register_model


class LeNet5(Classifier):
    """The modern LeNet-5: two 5x5 convolutions (6 and 16 maps) with ReLU and 2x2 max pooling, then 120-84-K.

    The first convolution pads by 2 so that a 28x28 input behaves like the paper's 32x32 one; with K=10 classes the
    network has 61,706 parameters. Inputs smaller than 20x20 (such as 8x8 digits) would leave the second 5x5
    convolution without room, so there it pads by 2 as well.

    Input: `(N, C, H, W)`. Output: `(N, K)` logits.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28)):
        super().__init__()
        small = min(input_size) < 20
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=2 if small else 0), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        flat = self.features(torch.zeros(1, in_channels, *input_size)).shape[1]
        self.hidden = nn.Sequential(nn.Linear(flat, 120), nn.ReLU(inplace=True), nn.Linear(120, 84),
                                    nn.ReLU(inplace=True))
        self.head = nn.Linear(84, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.features(x))


@register_model("lenet5", paper="LeCun et al. 1998", input_shape=(1, 28, 28))
def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28)) -> LeNet5:
    """LeNet-5, modern variant (ReLU, max pooling), 61,706 parameters for 10 classes."""
    return LeNet5(num_classes, in_channels, input_size)
