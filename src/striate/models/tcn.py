"""Temporal convolutional network (Bai, Kolter & Koltun 2018, "An empirical evaluation of generic convolutional and
recurrent networks for sequence modeling").

Usage for forecasting: with `output="sequence"` the network returns `(N, K, L)`, one K-vector per time step, and
the value at step t depends only on inputs 0..t. To forecast the next value of a K-variate series, feed the series
`x` `(N, K, L)` and train `output[..., :-1]` against `x[..., 1:]` (mean squared error); at inference the last
step's output is the one-step-ahead forecast, and feeding it back extends the forecast. For sequence
classification keep `output="last"`: the logits are read at the last step, which has seen the whole sequence.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import weight_norm as apply_weight_norm

from striate.errors import ConfigError
from striate.models._base import Classifier
from striate.models._registry import register_model


class CausalConv1d(nn.Conv1d):
    """A 1-D convolution padded on the left only, by (kernel_size - 1) * dilation, so output t sees inputs <= t.

    Input: `(N, C_in, L)` -> Output: `(N, C_out, L)`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.causal_padding = (kernel_size - 1) * dilation

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(input, (self.causal_padding, 0)))  # (N, C, L) -> (N, C, pad + L)


def causal_conv(in_channels: int, out_channels: int, kernel_size: int, dilation: int, weight_norm: bool) -> nn.Module:
    """A `CausalConv1d` with weights drawn from N(0, 0.01) (the reference code), optionally weight-normalised."""
    conv = CausalConv1d(in_channels, out_channels, kernel_size, dilation)
    nn.init.normal_(conv.weight, 0.0, 0.01)
    return apply_weight_norm(conv) if weight_norm else conv


class TemporalBlock(nn.Module):
    """Two dilated causal convolutions (weight norm, ReLU, dropout each) plus a residual connection, then ReLU.

    The residual is a 1x1 convolution when the channel count changes. Input: `(N, C_in, L)` -> Output: `(N, C_out, L)`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, dropout: float = 0.0,
                 weight_norm: bool = True):
        super().__init__()
        self.residual = nn.Sequential(
            causal_conv(in_channels, out_channels, kernel_size, dilation, weight_norm), nn.ReLU(), nn.Dropout(dropout),
            causal_conv(out_channels, out_channels, kernel_size, dilation, weight_norm), nn.ReLU(), nn.Dropout(dropout),
        )
        self.shortcut = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        if isinstance(self.shortcut, nn.Conv1d):
            nn.init.normal_(self.shortcut.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x) + self.shortcut(x))


class TCN(Classifier):
    """Stacked temporal blocks with dilation 2^i in block i, then a linear layer per time step.

    The receptive field is 1 + 2 (k - 1)(2^levels - 1) steps: 3,061 for the sequential-MNIST setting of the paper
    (8 levels of 25 channels, kernel 7, dropout 0.05), whose reference implementation has 66,910 parameters for 10
    classes (the paper's table rounds to 70K).

    Input: `(N, C, L)`. Output: `(N, K)` logits read at the last step (`output="last"`), or `(N, K, L)` with
    `output="sequence"` (see the module docstring for forecasting).

    Args:
        channels: output channels of each temporal block.
        kernel_size: kernel size of every causal convolution.
        dropout: dropout after each convolution.
        output: "last" or "sequence".
        weight_norm: weight normalisation (Salimans & Kingma 2016) on the causal convolutions, as in the paper.
        instance_norm: forecasting: each input window is standardised per channel (mean and std over its steps) and
            the outputs are mapped back with channel 0's statistics, so they are in the series' own units (reversible
            instance normalisation, Kim et al. 2022); `striate train --task forecast` sets it.
    """

    feature_layout = "temporal"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, channels: tuple[int, ...] = (25,) * 8,
                 kernel_size: int = 7, dropout: float = 0.05, output: str = "last", weight_norm: bool = True,
                 instance_norm: bool = False):
        super().__init__()
        self.instance_norm = instance_norm
        if output not in ("last", "sequence"):
            raise ConfigError(f"Invalid `output` for the TCN: expected 'last' or 'sequence', received {output!r}.")
        blocks = []
        for level, width in enumerate(channels):
            blocks.append(TemporalBlock(in_channels, width, kernel_size, 2**level, dropout, weight_norm))
            in_channels = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.head.weight, 0.0, 0.01)
        self.output = output
        self.receptive_field = 1 + 2 * (kernel_size - 1) * (2 ** len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.instance_norm:
            return super().forward(x)
        mean = x.mean(dim=-1, keepdim=True)  # (N, C, 1)
        std = x.std(dim=-1, keepdim=True, correction=0).clamp_min(1e-5)
        output = self.forward_head(self.forward_features((x - mean) / std))  # (N, K) or (N, K, L)
        scale, shift = std[:, 0], mean[:, 0]  # (N, 1): channel 0 is the series forecast
        return output * scale.unsqueeze(-1) + shift.unsqueeze(-1) if output.dim() == 3 else output * scale + shift

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, L)` -> `(N, C_last, L)`: the features at every time step."""
        return self.blocks(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        if self.output == "last":
            return self.head(features[:, :, -1])  # (N, C, L) -> (N, C) -> (N, K)
        return self.head(features.transpose(1, 2)).transpose(1, 2)  # (N, L, C) -> (N, L, K) -> (N, K, L)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh output layer with `num_classes` outputs per step."""
        self.head = nn.Linear(self.head.in_features, num_classes)


@register_model("tcn", paper="Bai et al. 2018", input_shape=(1, 784))
def tcn(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int] = (784,),
        channels: tuple[int, ...] = (25,) * 8, kernel_size: int = 7, dropout: float = 0.05, output: str = "last",
        weight_norm: bool = True, instance_norm: bool = False) -> TCN:
    """Temporal convolutional network: dilated causal convolutions, residual blocks; 66,910 parameters (seq. MNIST)."""
    return TCN(num_classes, in_channels, tuple(channels), kernel_size, dropout, output, weight_norm, instance_norm)
