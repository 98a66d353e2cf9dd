"""Batches built by indexing in-memory tensors on the compute device.

Hand-written because torch's `DataLoader` assembles each batch from per-sample Python calls, which dominates the
epoch time of small CNNs on a CPU; here the whole raw dataset is moved to the device once and a batch is one
indexing operation plus the shared `Preprocess` module (a fused scale-and-normalise for images).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from striate.data._dataset import Dataset
from striate.data.preprocess import Preprocess


class BatchLoader:
    """Iterate over `(inputs, targets)` batches of a `Dataset`.

    Inputs come out as `preprocess` makes them (float32 `(B, *input_shape)` scaled and normalised, int64 token ids);
    targets keep their dtype.

    Args:
        dataset: the data; its tensors are copied to `device` once.
        batch_size: rows per batch (the last batch may be smaller unless `drop_last`).
        shuffle: draw a fresh permutation every epoch from `generator`.
        generator: CPU generator for the permutation; its state is part of the trainer's state.
        channels_last: return 4-D inputs in channels-last memory format (used when `preprocess` is not given).
        augment: module applied to every batch after scaling to [0, 1] and before normalisation (training only).
        preprocess: the preprocessing module; by default the one the dataset's description gives.
    """

    def __init__(self, dataset: Dataset, batch_size: int, *, shuffle: bool = False, device: str | torch.device = "cpu",
                 generator: torch.Generator | None = None, drop_last: bool = False, channels_last: bool = False,
                 augment: torch.nn.Module | None = None, preprocess: Preprocess | None = None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.device = torch.device(device)
        self.generator = generator if generator is not None else torch.Generator()
        self.augment = augment
        self.x = dataset.x.to(self.device)
        self.y = dataset.y.to(self.device)
        if preprocess is None:
            preprocess = Preprocess.from_description(dataset.describe(), channels_last=channels_last)
        self.preprocess = preprocess.to(self.device)

    def __len__(self) -> int:
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches()

    def batches(self, skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches; `skip` leaves out the first ones without preparing them (no augmentation randomness
        is drawn for them), which is how a run resumed mid-epoch continues exactly where it stopped."""
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for start in range(skip * self.batch_size, len(self) * self.batch_size, self.batch_size):
            if order is None:
                rows = slice(start, min(start + self.batch_size, n))
                yield self.prepare(self.x[rows]), self.y[rows]
            else:
                index = order[start: start + self.batch_size].to(self.device)
                yield self.prepare(self.x[index]), self.y[index]

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """A raw batch `(B, *input_shape)` as the model takes it, on the loader's device."""
        return self.preprocess(x, self.augment)
