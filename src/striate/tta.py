"""Test-time augmentation: average a model's outputs over label-preserving variants of each input.

`hflip` averages the logits of each image and its mirror image (flipped along the width), the flip test-time
augmentation of the fast-training literature (e.g. Keller Jordan's CIFAR-10 speedruns). It costs one more forward
pass per evaluated image and only helps a model trained with horizontal-flip augmentation (`augment: [hflip]`): a
model that never saw mirrored images scores far lower on them (a LeNet-style network trained 2 epochs on
Fashion-MNIST, whose shoes all face left: 90.4% plain, 77.1% with hflip averaging). It is wrong for data whose mirror
image changes the class (digits, text), so it is off by default.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.errors import ConfigError

TTA_MODES = ("none", "hflip")


def check_tta(mode: str, input_shape: tuple[int, ...]) -> None:
    """Raise a ConfigError when `mode` is unknown or cannot apply to inputs of `input_shape` (without the batch)."""
    if mode not in TTA_MODES:
        raise ConfigError(f"Invalid `tta` {mode!r}: expected one of {', '.join(TTA_MODES)}.")
    if mode == "hflip" and len(input_shape) != 3:
        raise ConfigError(f"`tta: hflip` mirrors images (C, H, W) but the inputs have shape {tuple(input_shape)}; "
                          "use `tta: none` for this data.")


def tta_logits(model: nn.Module, x: torch.Tensor, mode: str = "none") -> torch.Tensor:
    """The model's output on `x` `(N, C, H, W)`; with `hflip` the mean of its outputs on `x` and `x` mirrored."""
    if mode == "none":
        return model(x)
    if mode == "hflip":
        return (model(x) + model(x.flip(-1))) / 2  # flip keeps the memory format (channels-last stays so)
    raise ConfigError(f"Invalid `tta` {mode!r}: expected one of {', '.join(TTA_MODES)}.")
