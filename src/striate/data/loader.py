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
        shard: `(rank, processes)` for data-parallel training. Shuffled (training): every process draws the same
            permutation and takes its equal part of each global batch of `batch_size` rows; a last batch is trimmed
            to a multiple of `processes` (at most `processes - 1` rows sit out an epoch, different ones each epoch).
            Not shuffled (evaluation): each process reads one contiguous part of the data, in order.
    """

    def __init__(self, dataset: Dataset, batch_size: int, *, shuffle: bool = False, device: str | torch.device = "cpu",
                 generator: torch.Generator | None = None, drop_last: bool = False, channels_last: bool = False,
                 augment: torch.nn.Module | None = None, preprocess: Preprocess | None = None,
                 shard: tuple[int, int] = (0, 1)):
        self.dataset = dataset
        self.rank, self.processes = shard
        if shuffle and batch_size % self.processes:
            raise ValueError(f"batch_size {batch_size} is not a multiple of {self.processes} processes")
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
        first, end = self._rows()
        full, rest = divmod(end - first, self.batch_size)
        if self.shuffle and self.processes > 1:
            rest -= rest % self.processes  # the last global batch, trimmed to equal parts
        return full if self.drop_last or rest == 0 else full + 1

    def _rows(self) -> tuple[int, int]:
        """The rows this process reads: all for training (it takes its part of every batch), a contiguous part of
        them for evaluation."""
        n = len(self.dataset)
        if self.shuffle or self.processes == 1:
            return 0, n
        bounds = [len(part) for part in torch.arange(n).tensor_split(self.processes)]
        start = sum(bounds[: self.rank])
        return start, start + bounds[self.rank]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches()

    def batches(self, skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches; `skip` leaves out the first ones without preparing them (no augmentation randomness
        is drawn for them), which is how a run resumed mid-epoch continues exactly where it stopped."""
        indices = self._indices(skip)
        if hasattr(self.x, "prefetch"):  # clips streamed from disk: the next batches decode in a background thread
            for index, raw in self.x.prefetch(indices):
                yield self.prepare(raw), self.y[index]
            return
        for index in indices:
            yield self.prepare(self.x[index]), self.y[index]

    def _indices(self, skip: int) -> Iterator[slice | torch.Tensor]:
        """Each batch's rows: a slice in order (evaluation), or an index tensor on the device (training)."""
        first, end = self._rows()
        order = torch.randperm(end, generator=self.generator) if self.shuffle else None
        for start in range(first + skip * self.batch_size, first + len(self) * self.batch_size, self.batch_size):
            if order is None:
                yield slice(start, min(start + self.batch_size, end))
            else:
                index = order[start: start + self.batch_size]
                if self.processes > 1:
                    index = index[: len(index) - len(index) % self.processes].view(self.processes, -1)[self.rank]
                yield index.to(self.device)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """A raw batch `(B, *input_shape)` as the model takes it, on the loader's device."""
        return self.preprocess(x, self.augment)
