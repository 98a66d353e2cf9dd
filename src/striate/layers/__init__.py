"""The article's building blocks as `torch.nn` modules, and a registry of layers by name.

Most blocks are torch's own and are only re-exported or named here. Hand-written, because torch.nn lacks them:

- `conv_output_size` / `same_padding`: the article's (W - K + 2P)/S + 1 arithmetic, raising when the neurons cannot
  tile the input symmetrically (torch floors silently); `Conv1d/2d/3d` add padding='same' with a stride.
- `LocallyConnected1d/2d`: convolution without weight sharing (torch only has `F.unfold`).
- `StochasticPool2d`, `LpPool1d/2d` over |x|, `GlobalAvgPool` / `GlobalMaxPool` for any rank, and `RoIPool` /
  `RoIAlign` (in torchvision, which the CPU build used here cannot install).
- `DropConnectLinear`: dropout on connections rather than units.
- Capsules (Sabour et al. 2017): `PrimaryCapsules`, `DynamicRouting` (routing by agreement; `DigitCapsules` is the
  same class), `Squash` / `squash`, `CapsuleLength` and `margin_loss`.

`LAYERS` maps lowercase names to classes for configs and model specs; `get_layer(name)` looks one up.
"""

from __future__ import annotations

from torch import nn

from striate.errors import ConfigError, did_you_mean
from striate.layers.activations import ACTIVATIONS, get_activation
from striate.layers.capsules import (
    CapsuleLength,
    DigitCapsules,
    DynamicRouting,
    PrimaryCapsules,
    Squash,
    margin_loss,
    squash,
)
from striate.layers.conv import Conv1d, Conv2d, Conv3d, conv_output_size, same_padding
from striate.layers.linear import DropConnectLinear
from striate.layers.local import LocallyConnected1d, LocallyConnected2d
from striate.layers.pooling import (
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    FractionalMaxPool2d,
    GlobalAvgPool,
    GlobalMaxPool,
    LpPool1d,
    LpPool2d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    RoIAlign,
    RoIPool,
    StochasticPool2d,
    overlapping_max_pool2d,
)

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "CapsuleLength",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "DigitCapsules",
    "DropConnectLinear",
    "DynamicRouting",
    "FractionalMaxPool2d",
    "GlobalAvgPool",
    "GlobalMaxPool",
    "LocallyConnected1d",
    "LocallyConnected2d",
    "LpPool1d",
    "LpPool2d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "PrimaryCapsules",
    "RoIAlign",
    "RoIPool",
    "Squash",
    "StochasticPool2d",
    "conv_output_size",
    "get_activation",
    "get_layer",
    "margin_loss",
    "overlapping_max_pool2d",
    "same_padding",
    "squash",
]

LAYERS: dict[str, type[nn.Module]] = {
    # convolution and local connectivity
    "conv1d": Conv1d,
    "conv2d": Conv2d,
    "conv3d": Conv3d,
    "locally_connected1d": LocallyConnected1d,
    "locally_connected2d": LocallyConnected2d,
    # pooling
    "maxpool1d": MaxPool1d,
    "maxpool2d": MaxPool2d,
    "maxpool3d": MaxPool3d,
    "avgpool1d": AvgPool1d,
    "avgpool2d": AvgPool2d,
    "avgpool3d": AvgPool3d,
    "lppool1d": LpPool1d,
    "lppool2d": LpPool2d,
    "fractional_maxpool2d": FractionalMaxPool2d,
    "stochastic_pool2d": StochasticPool2d,
    "adaptive_avgpool2d": nn.AdaptiveAvgPool2d,
    "adaptive_maxpool2d": nn.AdaptiveMaxPool2d,
    "global_avg_pool": GlobalAvgPool,
    "global_max_pool": GlobalMaxPool,
    "roi_pool": RoIPool,
    "roi_align": RoIAlign,
    # fully connected and regularisation
    "linear": nn.Linear,
    "dropconnect_linear": DropConnectLinear,
    "dropout": nn.Dropout,
    "dropout1d": nn.Dropout1d,
    "dropout2d": nn.Dropout2d,
    "dropout3d": nn.Dropout3d,
    "alpha_dropout": nn.AlphaDropout,
    # normalisation
    "batchnorm1d": nn.BatchNorm1d,
    "batchnorm2d": nn.BatchNorm2d,
    "batchnorm3d": nn.BatchNorm3d,
    "layernorm": nn.LayerNorm,
    "groupnorm": nn.GroupNorm,
    "local_response_norm": nn.LocalResponseNorm,
    # capsules: (N, C, H, W) -> (N, I, D) -> (N, K, D') -> (N, K)
    "primary_capsules": PrimaryCapsules,
    "dynamic_routing": DynamicRouting,
    "squash": Squash,
    "capsule_length": CapsuleLength,
    # shape
    "flatten": nn.Flatten,
    **ACTIVATIONS,
}
"""Lowercase name -> layer class, including every activation in `ACTIVATIONS`."""


def get_layer(name: str) -> type[nn.Module]:
    """Return the layer class called `name` (case-insensitive, '-' read as '_').

    Raises:
        ConfigError: For an unknown name, suggesting the closest known one.

    Example:
        >>> import torch
        >>> from striate.layers import get_layer
        >>> get_layer("dropout")(p=0.3)
        Dropout(p=0.3, inplace=False)
    """
    key = str(name).lower().replace("-", "_")
    if key not in LAYERS:
        raise ConfigError(
            f"Invalid layer `name`: expected one of the {len(LAYERS)} names in striate.layers.LAYERS, "
            f"received {name!r}." + did_you_mean(key, LAYERS)
        )
    return LAYERS[key]
