"""Capsule network with dynamic routing (Sabour, Frosst & Hinton 2017, "Dynamic routing between capsules").

A capsule is a vector of neurons: its length is the probability that an entity is present, its orientation the
entity's pose. Primary capsules come from a convolution; each predicts every digit capsule through its own pose
transform, and routing by agreement sends its output to the digit capsules whose consensus its prediction matches.
The capsule layers and the margin loss live in `striate.layers.capsules` (re-exported here for older imports).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.layers import DigitCapsules, DynamicRouting, PrimaryCapsules, margin_loss, squash
from striate.models._base import Classifier
from striate.models._registry import register_model

__all__ = ["CapsNet", "DigitCapsules", "DynamicRouting", "PrimaryCapsules", "capsnet", "margin_loss", "squash"]


def decoder(num_classes: int, capsule_dim: int, out_features: int, sigmoid: bool) -> nn.Sequential:
    """FC 512 - FC 1024 - FC out_features from the masked class capsules `(N, K * capsule_dim)`."""
    layers = [nn.Linear(num_classes * capsule_dim, 512), nn.ReLU(inplace=True), nn.Linear(512, 1024),
              nn.ReLU(inplace=True), nn.Linear(1024, out_features)]
    return nn.Sequential(*layers, *([nn.Sigmoid()] if sigmoid else []))


class CapsNet(Classifier):
    """CapsNet: conv 9x9 256 ReLU, primary capsules (32 maps of 8-D, 9x9/2), 16-D class capsules, decoder.

    On 28x28 MNIST the primary layer has 32 x 6 x 6 = 1,152 capsules and the network has 8,215,568 parameters,
    6,804,224 without the decoder (the paper's 8.2M and 6.8M). The same sizes hold for 28x28 Fashion-MNIST; other
    image sizes change the number of primary capsules and the decoder's output.

    `forward` returns the class capsules' lengths `(N, K)`; their argmax is the prediction. In training mode it keeps
    the class capsules and the input, and `compute_loss(output, target)` returns the margin loss plus 0.0005 x the
    summed squared error of the decoder's reconstruction of the input from the target class's capsule (the others
    masked to zero). The paper's decoder ends in a sigmoid for [0, 1] pixels; striate's loader standardises images,
    so the default output is linear (`sigmoid_output=True` restores the paper's).

    The features are the primary capsules `(N, I, 8)` (`feature_layout` "capsules"), the last layer before routing;
    `forward_head` routes them to the class capsules and returns their lengths. The training-time cache is split the
    same way: `forward_features` keeps the input (the reconstruction target), `forward_head` the class capsules.

    Input: `(N, C, H, W)`, H, W >= 17. Features: `(N, I, 8)`, I = 32 x 6 x 6 = 1,152 on 28x28. Output: `(N, K)`
    capsule lengths in [0, 1).

    Args:
        routing_iterations: rounds of routing by agreement (3 in the paper).
        reconstruction: build the decoder and add its loss.
        sigmoid_output: end the decoder with a sigmoid.
    """

    output_kind = "capsule_lengths"
    feature_layout = "capsules"
    reconstruction_weight = 0.0005

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28),
                 routing_iterations: int = 3, reconstruction: bool = True, sigmoid_output: bool = False):
        super().__init__()
        self.input_shape = (in_channels, *input_size)
        self.conv = nn.Sequential(nn.Conv2d(in_channels, 256, 9), nn.ReLU(inplace=True))
        self.primary = PrimaryCapsules(256, 32, 8)
        h, w = ((side - 8 - 9) // 2 + 1 for side in input_size)
        self.head = DynamicRouting(32 * h * w, num_classes, 8, 16, routing_iterations)
        self.decoder = decoder(num_classes, 16, self._pixels(), sigmoid_output) if reconstruction else None
        self.sigmoid_output = sigmoid_output
        self._input: torch.Tensor | None = None  # kept by forward_features for forward_head's cache
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def _pixels(self) -> int:
        c, h, w = self.input_shape
        return c * h * w

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, I, 8)` primary capsules."""
        self._input = x if self.training and self.decoder is not None else None
        return self.primary(self.conv(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """`(N, I, 8)` primary capsules -> `(N, K)` class capsule lengths."""
        capsules = self.head(features)  # (N, K, 16)
        keep = self.training and self.decoder is not None and self._input is not None
        self._cache, self._input = ((capsules, self._input) if keep else None), None
        return capsules.norm(dim=-1)  # (N, K, 16) -> (N, K)

    def reconstruct(self, capsules: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The decoder's image `(N, C, H, W)` from the class capsules `(N, K, 16)`, all but `target`'s zeroed."""
        mask = F.one_hot(target, capsules.shape[1]).to(capsules.dtype)  # (N, K)
        flat = (capsules * mask.unsqueeze(-1)).flatten(1)  # (N, K, 16) -> (N, K * 16)
        return self.decoder(flat).view(-1, *self.input_shape)  # (N, C * H * W) -> (N, C, H, W)

    def compute_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Margin loss of the lengths, plus 0.0005 x the reconstruction's squared error after a training pass."""
        loss = margin_loss(output, target)
        if self._cache is not None:
            capsules, x = self._cache
            self._cache = None
            error = (self.reconstruct(capsules, target) - x).square().flatten(1).sum(dim=1).mean()
            loss = loss + self.reconstruction_weight * error
        return loss

    def reset_classifier(self, num_classes: int) -> None:
        """New class capsules (and decoder) for `num_classes`."""
        old = self.head
        self.head = DynamicRouting(old.in_capsules, num_classes, old.in_dim, old.out_dim, old.iterations)
        if self.decoder is not None:
            self.decoder = decoder(num_classes, old.out_dim, self._pixels(), self.sigmoid_output)


@register_model("capsnet", paper="Sabour et al. 2017", input_shape=(1, 28, 28))
def capsnet(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28),
            routing_iterations: int = 3, reconstruction: bool = True, sigmoid_output: bool = False) -> CapsNet:
    """Capsule network, dynamic routing, margin + reconstruction loss; 8,215,568 parameters on MNIST."""
    return CapsNet(num_classes, in_channels, tuple(input_size), routing_iterations, reconstruction, sigmoid_output)
