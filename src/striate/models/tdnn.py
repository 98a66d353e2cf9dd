"""Time-delay neural networks: Waibel, Hanazawa, Hinton, Shikano & Lang (1987/1989, "Phoneme recognition using
time-delay neural networks") and the two-dimensional variant of Hampshire & Waibel (1990).

A TDNN unit sees a few consecutive frames of the layer below through one set of weights that is shared across
time: a 1-D convolution over time whose channels are the frequency bands. The output units integrate (sum) the
evidence of the last layer over time, which makes the decision invariant to where the phoneme sits in the window.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.models._base import Classifier
from striate.models._registry import register_model


class _TDNN(Classifier):
    """Logic shared by the 1-D and 2-D TDNN: a hidden layer of feature maps, a layer of one map per class, integration.

    Subclasses set `conv`: `nn.Conv1d` or `nn.Conv2d`. `forward_features` is the first (hidden) layer; the head is
    the second convolution, whose K maps are averaged over all positions to give the logits. The paper squashes the
    integrated evidence with a sigmoid; the softmax in the loss plays that role here, so the class layer stays linear.
    """

    conv: type[nn.Conv1d] | type[nn.Conv2d]

    def __init__(self, num_classes: int, in_channels: int, hidden_channels: int, kernel_sizes: tuple,
                 act_layer: type[nn.Module] = nn.Sigmoid):
        super().__init__()
        self.hidden = nn.Sequential(self.conv(in_channels, hidden_channels, kernel_sizes[0]), act_layer())
        self.head = self.conv(hidden_channels, num_classes, kernel_sizes[1])

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features).flatten(2).mean(-1)  # (N, K, *positions) -> (N, K, P) -> (N, K)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh class layer with `num_classes` maps."""
        self.head = self.conv(self.head.in_channels, num_classes, self.head.kernel_size)


class TDNN(_TDNN):
    """The TDNN of Waibel et al. for /b/, /d/, /g/: 16 mel bands x 15 frames, 8 units over 3 frames, K units over 5.

    Hidden layer 1: 8 units, each reading all 16 coefficients of 3 consecutive frames (delays 0-2), sigmoid; hidden
    layer 2: one unit per class reading the 8 units of 5 consecutive frames (delays 0-4); output: each class's
    evidence integrated over the remaining 9 frames. 515 parameters for 3 classes (392 + 123).

    Input: `(N, F, T)` spectrogram, F frequency bands as channels, T >= 7 frames. Output: `(N, K)` logits.
    A single-channel image `(N, 1, H, W)` is not accepted; use `tdnn2d` for image-like input.
    """

    conv = nn.Conv1d
    feature_layout = "temporal"

    def __init__(self, num_classes: int = 3, in_channels: int = 16, hidden_channels: int = 8,
                 kernel_sizes: tuple[int, int] = (3, 5), act_layer: type[nn.Module] = nn.Sigmoid):
        super().__init__(num_classes, in_channels, hidden_channels, kernel_sizes, act_layer)


class TDNN2d(_TDNN):
    """The two-dimensional TDNN (Hampshire & Waibel 1990): weights shared across frequency as well as time.

    The spectrogram is one input channel `(N, 1, F, T)`; both layers convolve over (frequency, time), with 3x3 and
    5x5 windows, and the class maps are integrated over both axes, so the decision is invariant to shifts in time and
    in frequency. 683 parameters for 3 classes and one channel (80 + 603).

    Any image works the same way: a 28x28 Fashion-MNIST image gives 26x26 hidden maps and 22x22 class maps.

    Input: `(N, C, F, T)`, F, T >= 7. Output: `(N, K)` logits.
    """

    conv = nn.Conv2d

    def __init__(self, num_classes: int = 3, in_channels: int = 1, hidden_channels: int = 8,
                 kernel_sizes: tuple[int, int] = (3, 5), act_layer: type[nn.Module] = nn.Sigmoid):
        super().__init__(num_classes, in_channels, hidden_channels, kernel_sizes, act_layer)


@register_model("tdnn", paper="Waibel et al. 1987", input_shape=(16, 15), inputs=("signal",))
def tdnn(num_classes: int = 3, in_channels: int = 16, input_size: tuple[int] = (15,), hidden_channels: int = 8,
         kernel_sizes: tuple[int, int] = (3, 5)) -> TDNN:
    """Time-delay neural network: 1-D convolution over time on (bands, frames) spectrograms, 515 parameters."""
    return TDNN(num_classes, in_channels, hidden_channels, tuple(kernel_sizes))


@register_model("tdnn2d", paper="Hampshire & Waibel 1990", input_shape=(1, 16, 15))
def tdnn2d(num_classes: int = 3, in_channels: int = 1, input_size: tuple[int, int] = (16, 15),
           hidden_channels: int = 8, kernel_sizes: tuple[int, int] = (3, 5)) -> TDNN2d:
    """Two-dimensional TDNN: convolution over frequency and time, integrated over both; 683 parameters."""
    return TDNN2d(num_classes, in_channels, hidden_channels, tuple(kernel_sizes))
