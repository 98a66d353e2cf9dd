"""The in-memory dataset every part of striate shares.

A `Dataset` carries its tensors and the metadata downstream code needs (task, input shape, class names,
normalisation), so nothing after loading assumes 28x28 images. Images are kept as uint8 `(N, C, H, W)`; the
conversion to float and the normalisation happen per batch on the compute device (see `BatchLoader`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from striate.errors import DataError


@dataclass
class Dataset:
    """Tensors plus metadata.

    Attributes:
        x: inputs, `(N, *input_shape)`; uint8 images are scaled by 1/255 before normalisation.
        y: targets, `(N,)` int64 class indices for classification.
        classes: class names, index i names class i.
        name: short identifier, e.g. "fashion-mnist".
        task: "classification" (other tasks plug in through `striate.tasks`).
        mean, std: per-channel normalisation applied after scaling to [0, 1]; computed from `x` when omitted.
    """

    x: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    name: str = "dataset"
    task: str = "classification"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise DataError(f"Dataset `{self.name}` has {self.x.shape[0]} inputs but {self.y.shape[0]} targets.")
        if self.task == "classification" and len(self.y) and (int(self.y.min()) < 0 or
                                                              int(self.y.max()) >= len(self.classes)):
            raise DataError(f"Dataset `{self.name}` has labels in [{int(self.y.min())}, {int(self.y.max())}]: "
                            f"expected class indices in [0, {len(self.classes)}) for its {len(self.classes)} classes.")
        if self.mean is None or self.std is None:
            self.mean, self.std = channel_stats(self.x)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input without the batch dimension, e.g. (1, 28, 28)."""
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, index: torch.Tensor) -> Dataset:
        """A dataset with the rows `index`, sharing metadata and normalisation."""
        return replace(self, x=self.x[index], y=self.y[index])

    def split(self, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Split off a stratified `fraction` (second part) with a fixed seed; both keep this set's normalisation."""
        generator = torch.Generator().manual_seed(seed)
        held = []
        for label in torch.unique(self.y):
            rows = torch.nonzero(self.y == label).flatten()
            rows = rows[torch.randperm(len(rows), generator=generator)]
            held.append(rows[: round(len(rows) * fraction)])
        mask = torch.zeros(len(self), dtype=torch.bool)
        mask[torch.cat(held)] = True
        return self.subset(torch.nonzero(~mask).flatten()), self.subset(torch.nonzero(mask).flatten())

    def describe(self) -> dict:
        """JSON-serialisable metadata (what `model.json` records)."""
        return {"name": self.name, "task": self.task, "input_shape": list(self.input_shape),
                "classes": list(self.classes), "mean": list(self.mean), "std": list(self.std),
                "scale": 1 / 255 if self.x.dtype == torch.uint8 else 1.0}


@dataclass
class Splits:
    """The train / validation / test parts of one dataset; `val` is None when no validation split is used."""

    train: Dataset
    test: Dataset
    val: Dataset | None = None


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of `x` `(N, C, ...)`, uint8 scaled to [0, 1].

    For uint8 data the statistics come exactly from a 256-bin histogram per channel (fast, no float rounding).
    """
    x = x if x.dim() > 1 else x.unsqueeze(1)
    if x.dtype == torch.uint8:
        values = torch.arange(256, dtype=torch.float64) / 255
        counts = torch.stack([torch.bincount(x[:, c].reshape(-1), minlength=256) for c in range(x.shape[1])])
        counts = counts.to(torch.float64)  # (C, 256)
        total = counts.sum(dim=1).clamp_min(1)
        mean = (counts * values).sum(dim=1) / total
        var = (counts * (values - mean[:, None]) ** 2).sum(dim=1) / total
    else:
        flat = x.transpose(0, 1).reshape(x.shape[1], -1).to(torch.float64)  # (N, C, ...) -> (C, N * rest)
        mean, var = flat.mean(dim=1), flat.var(dim=1, correction=0)
    return tuple(mean.tolist()), tuple(var.clamp_min(1e-12).sqrt().tolist())
