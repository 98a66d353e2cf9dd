"""One preprocessing module for every consumer: the batch loader, `Run.predict`, evaluation and (later) export.

`Preprocess` turns raw inputs, as a dataset stores them, into what a model sees: uint8 images scaled by 1/255 and
normalised per channel, series z-normalised one by one (padding after a series' end, stored as NaN, becomes 0),
token ids passed through as int64. It is a `torch.nn.Module` whose statistics are buffers, so it moves with `.to`,
and it is rebuilt from the description a run records in `model.json`, so a model never sees inputs prepared two
ways. `Pipeline` chains it with the model and test-time augmentation: raw inputs in, model outputs out.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from striate.tta import check_tta, tta_logits


class Preprocess(nn.Module):
    """Raw batch `(B, *input_shape)` -> float32 model input (int64 for token ids), on the module's device.

    Args:
        input_kind: "image", "signal", "tokens", "clip" or "volume".
        normalization: "channel" (`(x * scale - mean) / std` per channel), "series" (per-series z-normalisation over
            the last axis, per channel, ignoring NaN) or "none" (`x * scale`).
        mean, std: per-channel statistics for "channel".
        scale: factor applied first (1/255 for uint8 images).
        channels_last: return 4-D inputs in channels-last memory format (faster convolutions on CPU).

    Example:
        >>> pre = Preprocess("image", "channel", mean=(0.5,), std=(0.25,), scale=1 / 255)
        >>> pre(torch.full((2, 1, 3, 3), 255, dtype=torch.uint8))[0, 0, 0, 0].item()
        2.0
    """

    def __init__(self, input_kind: str = "image", normalization: str = "channel", mean=(), std=(),
                 scale: float = 1.0, channels_last: bool = False):
        super().__init__()
        self.input_kind, self.normalization, self.scale = input_kind, normalization, float(scale)
        self.channels_last = channels_last
        mean = torch.tensor(list(mean) or [0.0], dtype=torch.float32)
        std = torch.tensor(list(std) or [1.0], dtype=torch.float32)
        self.register_buffer("mul", self.scale / std, persistent=False)  # fused: x * scale / std - mean / std
        self.register_buffer("add", -mean / std, persistent=False)

    @classmethod
    def from_description(cls, info: dict[str, Any], channels_last: bool = False) -> Preprocess:
        """The module a run's `model.json` (or `Dataset.describe()`) describes."""
        kind = info.get("input_kind", "image")
        return cls(kind, info.get("normalization", "channel"), info.get("mean", ()), info.get("std", ()),
                   info.get("scale", 1.0), channels_last and kind == "image")

    def forward(self, x: torch.Tensor, augment: nn.Module | None = None) -> torch.Tensor:
        """Prepare `x`; `augment` (training only) runs on images scaled to [0, 1], before normalisation."""
        if self.input_kind == "tokens":
            return x.to(self.mul.device, torch.int64)
        x = x.to(self.mul.device, torch.float32)
        if self.normalization == "series":
            x = _znormalize(x * self.scale)
        elif self.normalization == "channel":
            x = self._channel(x, augment)
        else:
            x = x * self.scale
        if self.input_kind != "image":
            x = x.nan_to_num(0.0)  # padding after a series' end (and missing values) become 0 after normalisation
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def _channel(self, x: torch.Tensor, augment: nn.Module | None) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)  # broadcast per channel over (B, C, ...)
        mul, add = self.mul.view(shape), self.add.view(shape)
        if augment is None:
            return torch.addcmul(add, x, mul)
        return torch.addcmul(add, augment(x * self.scale), mul / self.scale)

    def extra_repr(self) -> str:
        return f"input_kind={self.input_kind!r}, normalization={self.normalization!r}, scale={self.scale:g}"


def _znormalize(x: torch.Tensor) -> torch.Tensor:
    """Each series `(B, C, L)` minus its mean over time, divided by its std (constant series -> 0); NaN ignored."""
    mean = x.nanmean(dim=-1, keepdim=True)
    centred = x - mean
    std = centred.square().nanmean(dim=-1, keepdim=True).sqrt()
    return torch.where(std > 1e-8, centred / std.clamp_min(1e-8), torch.zeros_like(x))


class Pipeline(nn.Module):
    """Raw inputs -> model outputs: `Preprocess`, then the model, averaged over test-time augmentation variants.

    Input: `(B, *input_shape)` raw. Output: whatever the model returns, e.g. `(B, K)`.
    """

    def __init__(self, preprocess: Preprocess, model: nn.Module, tta: str = "none"):
        super().__init__()
        self.preprocess, self.model, self.tta = preprocess, model, tta
        check_tta(tta, (3, 1, 1) if preprocess.input_kind == "image" else (1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tta_logits(self.model, self.preprocess(x), self.tta)
