"""Networks for video clips `(N, C, T, H, W)`: C3D's 3-D convolutions (Tran, Bourdev, Fergus, Torresani & Paluri
2015, "Learning spatiotemporal features with 3D convolutional networks") and a per-frame CNN followed by an LSTM
(Donahue et al. 2015, "Long-term recurrent convolutional networks", LRCN).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models._utils import dense_relu_dropout, flat_features

C3D_STAGES = ((64,), (128,), (256, 256), (512, 512), (512, 512))
"""Figure 3 of the paper: the 3x3x3 convolutions of each of the five stages, each closed by max pooling."""


def conv3d_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv3d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True)]


def c3d_pool(stage: int, size: tuple[int, int, int]) -> tuple[nn.MaxPool3d, tuple[int, int, int]]:
    """The pool closing `stage` and the (T, H, W) after it.

    The paper pools 1x2x2 after the first stage (to keep early temporal information), 2x2x2 after the others, and
    pads pool5 by one pixel in H and W (7x7 -> 4x4; here only where the side is odd, so that the padding never adds a
    row). A dimension already down to 1 is not pooled, so short or small clips stay valid.
    """
    kernel = [1 if stage == 0 else 2, 2, 2]
    kernel = [k if s >= 2 else 1 for k, s in zip(kernel, size, strict=True)]
    padding = [0] + [1 if stage == 4 and k == 2 and s % 2 else 0 for k, s in zip(kernel[1:], size[1:], strict=True)]
    out = tuple((s + 2 * p - k) // k + 1 for s, k, p in zip(size, kernel, padding, strict=True))
    return nn.MaxPool3d(kernel, stride=kernel, padding=padding), out


class C3D(Classifier):
    """C3D: eight 3x3x3 convolutions in five stages (64-128-256-512-512 maps), two FC layers of 4096, dropout 0.5.

    For 16-frame 112x112 RGB clips the last pool gives 512x1x4x4 = 8,192 features; with the 487 Sports-1M classes
    the network has 79,991,015 parameters (101 UCF101 classes: 78,409,573). Every convolution has stride 1 and
    'same' padding, so the shape arithmetic is in the pools (`c3d_pool`); smaller clips skip pooling a dimension
    once it reaches 1, and the first FC layer reads whatever map remains.

    Input: `(N, C, T, H, W)`. Features: `(N, 512, T', H', W')`, the map after pool5 (512x1x4x4 for 16x112x112).
    Output: `(N, K)` logits.

    Args:
        dropout: dropout rate after each hidden FC layer.
        hidden: width of the two hidden FC layers.
    """

    feature_layout = "spatiotemporal"

    def __init__(self, num_classes: int = 487, in_channels: int = 3, input_size: tuple[int, int, int] = (16, 112, 112),
                 dropout: float = 0.5, hidden: int = 4096):
        super().__init__()
        layers, channels, size = [], in_channels, tuple(input_size)
        for stage, widths in enumerate(C3D_STAGES):
            for width in widths:
                layers += conv3d_relu(channels, width)
                channels = width
            pool, size = c3d_pool(stage, size)
            layers.append(pool)
        self.features = nn.Sequential(*layers)
        flat = flat_features(self.features, (in_channels, *input_size))
        self.hidden = dense_relu_dropout(flat, hidden, dropout)
        self.head = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, T, H, W)` -> `(N, 512, T', H', W')`."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(features.flatten(1)))  # (N, 512, T', H', W') -> (N, 512 * T' * H' * W') -> (N, K)


def frame_encoder(in_channels: int, widths: tuple[int, ...]) -> nn.Sequential:
    """A small per-frame CNN: 3x3 conv-BN-ReLU stages, each halving the resolution (rounding up).

    Input: `(N, C, H, W)` -> Output: `(N, widths[-1], ceil(H / 2**len(widths)), ceil(W / 2**len(widths)))`.
    """
    layers = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                   nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]
        in_channels = width
    return nn.Sequential(*layers)


class CNNLSTM(Classifier):
    """A CNN encodes each frame, an LSTM runs over the frame features, and the classifier reads its last state.

    This is LRCN's activity-recognition layout (per-frame CNN -> LSTM -> classes) with a small frame CNN (four
    conv-BN-ReLU-pool stages, 32-64-128-256 maps, global average pooling) in place of CaffeNet, so it trains on a CPU;
    the LSTM has 256 hidden units as in the paper. LRCN averages the per-frame predictions; reading the last state
    (`average=False`) is the other common choice. 941,189 parameters for 3-channel frames and 101 classes.

    The features are the frame CNN's maps before its global average pooling, stacked over time as
    `(N, widths[-1], T, H', W')`: "spatiotemporal" like C3D's, so that an explanation hooked there localises in every
    frame. The LSTM reads their pooled vectors, so it belongs to the head with the pooling: its states are no map of
    the input (each mixes every earlier frame); `lstm_states` returns them for whoever wants the sequence.

    Input: `(N, C, T, H, W)`, any T, H, W. Features: `(N, widths[-1], T, H', W')`, H' = ceil(H / 2**len(widths)):
    256x16x7x7 for 16x112x112 clips. Output: `(N, K)` logits.

    Args:
        widths: channels of the frame CNN's stages.
        hidden_size: LSTM state size.
        average: average the per-step predictions over time (LRCN) instead of using the last step's.
        dropout: dropout before the classifier.
    """

    feature_layout = "spatiotemporal"

    def __init__(self, num_classes: int = 101, in_channels: int = 3, widths: tuple[int, ...] = (32, 64, 128, 256),
                 hidden_size: int = 256, average: bool = True, dropout: float = 0.5):
        super().__init__()
        self.encoder = frame_encoder(in_channels, widths)
        self.lstm = nn.LSTM(widths[-1], hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes)
        self.average = average

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, T, H, W)` -> `(N, F, T, H', W')`: every frame's CNN map."""
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)  # (N, T, C, H, W) -> (N * T, C, H, W)
        maps = self.encoder(frames)  # (N * T, F, H', W')
        return maps.reshape(n, t, *maps.shape[1:]).transpose(1, 2)  # (N, T, F, H', W') -> (N, F, T, H', W')

    def lstm_states(self, features: torch.Tensor) -> torch.Tensor:
        """`(N, F, T, H', W')` frame maps -> `(N, T, hidden_size)`: the LSTM state after every frame."""
        pooled = features.mean(dim=(3, 4)).transpose(1, 2)  # global average pooling: (N, F, T) -> (N, T, F)
        return self.lstm(pooled)[0]  # (N, T, hidden_size)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        states = self.lstm_states(features)
        if self.average:
            return self.head(self.dropout(states)).mean(dim=1)  # (N, T, K) -> (N, K)
        return self.head(self.dropout(states[:, -1]))  # (N, hidden_size) -> (N, K)


@register_model("c3d", paper="Tran et al. 2015", input_shape=(3, 16, 112, 112))
def c3d(num_classes: int = 487, in_channels: int = 3, input_size: tuple[int, int, int] = (16, 112, 112),
        dropout: float = 0.5, hidden: int = 4096) -> C3D:
    """C3D 3-D convolutional network for clips (N, C, T, H, W); 79,991,015 parameters for 16x112x112, 487 classes."""
    return C3D(num_classes, in_channels, tuple(input_size), dropout, hidden)


@register_model("cnn_lstm", paper="Donahue et al. 2015", input_shape=(3, 16, 112, 112))
def cnn_lstm(num_classes: int = 101, in_channels: int = 3, input_size: tuple[int, int, int] = (16, 112, 112),
             widths: tuple[int, ...] = (32, 64, 128, 256), hidden_size: int = 256, average: bool = True,
             dropout: float = 0.5) -> CNNLSTM:
    """Per-frame CNN + LSTM for frame sequences (N, C, T, H, W), LRCN layout; any clip size."""
    return CNNLSTM(num_classes, in_channels, tuple(widths), hidden_size, average, dropout)
