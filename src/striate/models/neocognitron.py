"""A neocognitron-style network (Fukushima 1980, "Neocognitron: a self-organizing neural network model for a mechanism
of pattern recognition unaffected by shift in position").

The neocognitron alternates S-cell layers, whose cells share modifiable weights over a small window of every plane
below (a convolution), and C-cell layers, whose cells average one S-plane over a neighbourhood with fixed weights
(spatial averaging), each layer tolerating a little more shift than the last. Fukushima self-organised the S-cells
without a teacher; this is a structural variant trained end to end by backpropagation instead.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.models._base import Classifier
from striate.models._registry import register_model


class SCells(nn.Module):
    """S-cells: a convolution over all planes below, with Fukushima's shunting inhibition by a V-cell.

    u_S = phi((1 + e) / (1 + b v / 2) - 1) with e = conv(u_C) the excitation, v = sqrt(mean over the window of
    sum over planes of u_C^2) the V-cell's inhibition (fixed, uniform weights), b = softplus(beta) >= 0 a trainable
    inhibition strength per plane, and phi = ReLU. This is the paper's formula with selectivity r = 1; its
    excitatory weights were constrained to be non-negative, here they are free, and there is no bias (the 1 plays
    that role). With `inhibition=False` the layer is a plain convolution + ReLU.

    Input: `(N, C_in, H, W)` -> Output: `(N, C_out, H, W)` ('same' padding).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, inhibition: bool = True):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=not inhibition)
        # softplus(-3) ~ 0.05: weak inhibition at first, so that most cells start in the ReLU's active range.
        self.beta = nn.Parameter(torch.full((out_channels,), -3.0)) if inhibition else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        excitation = self.conv(x)
        if self.beta is None:
            return F.relu(excitation)
        energy = F.avg_pool2d(x.square().sum(1, keepdim=True), self.kernel_size, 1, self.kernel_size // 2,
                              count_include_pad=False)  # (N, 1, H, W)
        v = torch.sqrt(energy + 1e-6)
        b = F.softplus(self.beta)[:, None, None]  # (C_out,) -> (C_out, 1, 1)
        return F.relu((1 + excitation) / (1 + 0.5 * b * v) - 1)


class CCells(nn.Module):
    """C-cells: fixed spatial averaging of each S-plane, then the saturation psi(x) = x / (1 + x); no parameters.

    With `kernel_size=None` each C-cell averages its whole plane (the top layer, whose planes are one cell).

    Input: `(N, C, H, W)` -> Output: `(N, C, H_out, W_out)`, H_out = (H + 2 (k // 2) - k) // stride + 1, or 1.
    """

    def __init__(self, kernel_size: int | None = 3, stride: int = 2):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size is None:
            pooled = x.mean(dim=(2, 3), keepdim=True)  # (N, C, H, W) -> (N, C, 1, 1)
        else:
            pooled = F.avg_pool2d(x, self.kernel_size, self.stride, self.kernel_size // 2, count_include_pad=False)
        return pooled / (1 + pooled)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class Neocognitron(Classifier):
    """Three S/C modules: S1-C1-S2-C2-S3-C3, then a linear read-out of the top C-planes.

    S-layers: 5x5, 5x5 and 3x3 windows, 'same' padding; C1 and C2 average 3x3 neighbourhoods with stride 2, halving
    the planes; C3 averages each whole plane to one cell, so the top responds wherever the pattern lies. 24 planes
    per layer by default. On a 16x16 input the planes shrink 16 -> 8 -> 4 -> 1; a 28x28 image (no adaptation
    needed) runs 28 -> 14 -> 7 -> 1. The paper read the answer off which top C-cell fired; a linear layer over the
    top planes gives the class logits here. 20,381 parameters for 1 input channel and 5 classes (Fukushima's
    simulation used five digit patterns); with `inhibition=False` the S-layers have biases instead of the
    inhibition strengths, which happens to give the same count.

    Input: `(N, C, H, W)`. Features: `(N, planes[2], H', W')`, the S3 planes (4x4 on 16x16, 7x7 on 28x28): C3's
    whole-plane averaging is a global pool, so it opens the head. Output: `(N, K)` logits.

    Args:
        planes: number of cell-planes in S1/C1, S2/C2 and S3/C3.
        inhibition: shunting inhibition in the S-cells (see `SCells`).
    """

    def __init__(self, num_classes: int = 5, in_channels: int = 1, planes: tuple[int, int, int] = (24, 24, 24),
                 inhibition: bool = True):
        super().__init__()
        s1, s2, s3 = planes
        self.features = nn.Sequential(
            SCells(in_channels, s1, 5, inhibition), CCells(3, 2),
            SCells(s1, s2, 5, inhibition), CCells(3, 2),
            SCells(s2, s3, 3, inhibition),
        )
        self.pool = CCells(None)  # C3
        self.head = nn.Linear(s3, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, planes[2], H', W')`."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(features).flatten(1))  # (N, C, 1, 1) -> (N, C) -> (N, K)


@register_model("neocognitron", paper="Fukushima 1980", input_shape=(1, 16, 16))
def neocognitron(num_classes: int = 5, in_channels: int = 1, input_size: tuple[int, int] = (16, 16),
                 planes: tuple[int, int, int] = (24, 24, 24), inhibition: bool = True) -> Neocognitron:
    """Neocognitron-style S/C network (convolution, shunting inhibition, spatial averaging), trained by backprop."""
    return Neocognitron(num_classes, in_channels, tuple(planes), inhibition)
