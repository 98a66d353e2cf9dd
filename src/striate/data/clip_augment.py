"""Clip-consistent augmentation: every image augmentation of `striate.data.augment`, with one draw per clip.

A clip `(N, C, T, H, W)` is folded into an image batch `(N, C * T, H, W)`: kornia's augmentations (and the
hand-written crop and elastic deformation) draw their random parameters once per batch element and apply them to all
of its channels, so every frame of a clip gets the same crop, flip, rotation or brightness. Hand-written here: only
the fold and unfold (kornia's video support, `VideoSequential`, draws per clip too but takes `(N, T, C, H, W)` and not
every augmentation, e.g. the asymmetric crop).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn


class ClipConsistent(nn.Module):
    """Apply an image augmentation to clips with the same random parameters for every frame of a clip.

    Input: `(N, C, T, H, W)` -> Output: `(N, C, T, H, W)`. An image batch `(N, C, H, W)` passes straight to `inner`.

    Args:
        inner: an augmentation of image batches `(N, C', H, W)` that draws one set of parameters per image.
    """

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return self.inner(x)
        n, c, t, h, w = x.shape
        folded = self.inner(x.reshape(n, c * t, h, w))  # (N, C, T, H, W) -> (N, C * T, H, W): frames as channels
        return folded.reshape(n, c, t, h, w)  # (N, C * T, H, W) -> (N, C, T, H, W)


def build_clip_augmentation(items: Sequence[str | dict], input_shape: tuple[int, ...]) -> ClipConsistent | None:
    """The configured augmentations (names as for images) for clips `input_shape` = (C, T, H, W), or None."""
    from striate.data.augment import build_augmentation

    channels, frames, height, width = input_shape
    inner = build_augmentation(items, (channels * frames, height, width))
    return ClipConsistent(inner) if inner is not None else None
