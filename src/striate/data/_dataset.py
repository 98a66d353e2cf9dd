"""The in-memory dataset every part of striate shares, and the strategies that split it.

A `Dataset` carries its tensors and a typed description of them, so nothing after loading assumes 28x28 images:

- `input_kind`: "image" `(N, C, H, W)` uint8, "signal" `(N, C, L)` float (NaN after a series' end marks padding),
  "tokens" `(N, L)` int64 ids (0 is padding), "clip" `(N, C, T, H, W)`, "volume" `(N, C, D, H, W)`.
- `target_kind`: "class" `(N,)` int64 indices, "multilabel" `(N, K)` float 0/1, "real" `(N,)` or `(N, T)` float,
  "forecast" `(N, H + 1)` float: the next H values of a series and the series' scale (`striate.data.forecast`).
- `normalization`: "channel" (per-channel mean and std of the training data, after scaling uint8 by 1/255),
  "series" (each series z-normalised over time, per channel), or "none" (token ids, data already scaled).
- `lengths`: valid steps per example for variable-length signals and token sequences.

The conversion to float and the normalisation happen per batch on the compute device (`striate.data.Preprocess`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from striate.errors import ConfigError, DataError

INPUT_KINDS = ("image", "signal", "tokens", "clip", "volume")
TARGET_KINDS = ("class", "multilabel", "real", "forecast")
NORMALIZATIONS = ("channel", "series", "none")
SPLITS = ("auto", "stratified", "random", "temporal")
DEFAULT_TASKS = {"class": "classification", "multilabel": "multilabel", "real": "regression", "forecast": "forecast"}
_INPUT_DIMS = {"image": 3, "signal": 2, "tokens": 1, "clip": 4, "volume": 4}
ROW_META = ("tokens",)
"""`meta` entries holding one item per example (a text dataset's token lists), kept aligned by `subset` and `concat`."""


@dataclass
class Dataset:
    """Tensors plus their typed description.

    Attributes:
        x: inputs, `(N, *input_shape)`.
        y: targets: `(N,)` int64 class indices, `(N, K)` multi-hot floats, or `(N,)` / `(N, T)` real values.
        classes: class names (index i names class i), label names for multi-label data, target names for
            regression (one per column of `y`); None means "0", "1", ... for classes and "target" for regression.
        name: short identifier, e.g. "fashion-mnist".
        input_kind, target_kind, normalization: see the module docstring.
        mean, std: per-channel statistics for "channel" normalisation; computed from `x` when omitted.
        lengths: `(N,)` int64 valid steps of each example, or None when every example is full length.
        ordered: rows are in time order, so validation and test data must come from the end (temporal split).
        meta: loader-specific extras (a token vocabulary, the source files, ...).
    """

    x: torch.Tensor  # or a lazy stand-in with the same indexing (`striate.data.forecast.Windows`)
    y: torch.Tensor
    classes: list[str] | None = None
    name: str = "dataset"
    input_kind: str = "image"
    target_kind: str = "class"
    normalization: str = "channel"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    lengths: torch.Tensor | None = None
    ordered: bool = False
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_kinds()
        if self.x.shape[0] != self.y.shape[0]:
            raise DataError(f"Dataset `{self.name}` has {self.x.shape[0]} inputs but {self.y.shape[0]} targets.")
        if self.classes is None:
            self.classes = _default_names(self)
        self._check_targets()
        if self.normalization == "channel" and (self.mean is None or self.std is None):
            self.mean, self.std = channel_stats(self.x)
        elif self.normalization != "channel":
            self.mean = self.mean or ()
            self.std = self.std or ()

    def _check_kinds(self) -> None:
        for value, allowed, what in ((self.input_kind, INPUT_KINDS, "input_kind"),
                                     (self.target_kind, TARGET_KINDS, "target_kind"),
                                     (self.normalization, NORMALIZATIONS, "normalization")):
            if value not in allowed:
                raise DataError(f"Dataset `{self.name}` has {what} {value!r}: expected one of {', '.join(allowed)}.")
        if self.x.dim() - 1 != _INPUT_DIMS[self.input_kind]:
            raise DataError(f"Dataset `{self.name}` holds {self.input_kind} inputs of shape {tuple(self.x.shape)}: "
                            f"expected {_INPUT_DIMS[self.input_kind] + 1} dimensions including the batch.")

    def _check_targets(self) -> None:
        y, k = self.y, len(self.classes)
        if self.target_kind == "class":
            if y.dim() != 1 or y.is_floating_point():
                raise DataError(f"Dataset `{self.name}` has class targets of shape {tuple(y.shape)} and dtype "
                                f"{y.dtype}: expected (N,) integer class indices.")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
                raise DataError(f"Dataset `{self.name}` has labels in [{int(y.min())}, {int(y.max())}]: expected class "
                                f"indices in [0, {k}) for its {k} classes.")
        elif self.target_kind == "multilabel":
            if y.dim() != 2 or y.shape[1] != k:
                raise DataError(f"Dataset `{self.name}` has multi-label targets of shape {tuple(y.shape)}: expected "
                                f"(N, {k}), one 0/1 column per label.")
            if len(y) and not bool(((y == 0) | (y == 1)).all()):
                raise DataError(f"Dataset `{self.name}` has multi-label targets other than 0 and 1.")
        elif self.target_kind == "forecast":
            if y.dim() != 2 or y.shape[1] != k + 1 or not y.is_floating_point():
                raise DataError(f"Dataset `{self.name}` has forecast targets of shape {tuple(y.shape)}: expected float "
                                f"(N, {k + 1}), the {k} future values and the series' scale.")
            if len(y) and not bool(torch.isfinite(y).all()):
                raise DataError(f"Dataset `{self.name}` has missing or infinite forecast targets: expected finite "
                                "values.")
        else:
            width = 1 if y.dim() == 1 else y.shape[1]
            if y.dim() > 2 or not y.is_floating_point() or width != k:
                raise DataError(f"Dataset `{self.name}` has regression targets of shape {tuple(y.shape)} and dtype "
                                f"{y.dtype}: expected float (N,) or (N, {k}) for the targets {self.classes}.")
            if len(y) and not bool(torch.isfinite(y).all()):
                raise DataError(f"Dataset `{self.name}` has missing or infinite regression targets: expected finite "
                                "values; drop or fill those rows.")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input without the batch dimension, e.g. (1, 28, 28)."""
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        """Classes, labels, or target values per example: the width of the model's output."""
        return len(self.classes)

    @property
    def default_task(self) -> str:
        """The task this data declares: its loader's (`meta["task"]`, e.g. survival), else the target kind's
        (classification, multilabel, regression, forecast)."""
        return self.meta.get("task") or DEFAULT_TASKS[self.target_kind]

    @property
    def vocab_size(self) -> int | None:
        vocabulary = self.meta.get("vocabulary")
        return len(vocabulary) if vocabulary is not None else None

    def subset(self, index: torch.Tensor) -> Dataset:
        """A dataset with the rows `index`, sharing the description and normalisation."""
        lengths = None if self.lengths is None else self.lengths[index]
        rows = index.tolist()
        meta = {**self.meta, **{key: [self.meta[key][i] for i in rows] for key in ROW_META if key in self.meta}}
        x = self.x.rows(index) if hasattr(self.x, "rows") else self.x[index]  # lazy inputs stay lazy
        return replace(self, x=x, y=self.y[index], lengths=lengths, meta=meta)

    def seeded_subset(self, size: int | None, seed: int) -> Dataset:
        """`size` rows drawn with a seeded permutation (`--train-size`, `--test-size`), or self when size is None."""
        if size is None or size >= len(self):
            return self
        return self.subset(torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:size])

    def per_class_subset(self, count: int | None, seed: int) -> Dataset:
        """At most `count` rows of every class, drawn with a seeded permutation and kept in that order (few-shot
        experiments: `--train-per-class`), or self when count is None."""
        if count is None:
            return self
        if self.target_kind != "class":
            raise DataError(f"Invalid `train_per_class` for `{self.name}`: expected class targets, found "
                            f"{self.target_kind} targets; use --train-size instead.")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        taken: dict[int, int] = {}
        rows = []
        for row in order.tolist():
            label = int(self.y[row])
            if taken.get(label, 0) < count:
                taken[label] = taken.get(label, 0) + 1
                rows.append(row)
        return self.subset(torch.tensor(rows, dtype=torch.int64))

    def split(self, fraction: float, seed: int = 0, strategy: str = "auto") -> tuple[Dataset, Dataset]:
        """Split off a `fraction` (second part); both parts keep this set's normalisation.

        Args:
            fraction: share of the rows held out, in [0, 1).
            seed: seed of the stratified and random strategies.
            strategy: "stratified" (per class, seeded), "random" (seeded), "temporal" (the last rows, in order), or
                "auto": temporal for ordered data, stratified for classes, random otherwise.
        """
        strategy = self.split_strategy(strategy)
        if strategy == "temporal":
            cut = len(self) - round(len(self) * fraction)
            return self.subset(torch.arange(cut)), self.subset(torch.arange(cut, len(self)))
        generator = torch.Generator().manual_seed(seed)
        if strategy == "random":
            order = torch.randperm(len(self), generator=generator)
            held = order[: round(len(self) * fraction)]
        else:
            held = torch.cat([rows[torch.randperm(len(rows), generator=generator)][: round(len(rows) * fraction)]
                              for rows in (torch.nonzero(self.y == label).flatten() for label in torch.unique(self.y))])
        mask = torch.zeros(len(self), dtype=torch.bool)
        mask[held] = True
        return self.subset(torch.nonzero(~mask).flatten()), self.subset(torch.nonzero(mask).flatten())

    def split_strategy(self, strategy: str = "auto") -> str:
        """The concrete strategy `split` uses for `strategy` on this data (checks that it applies)."""
        if strategy not in SPLITS:
            raise ConfigError(f"Invalid `split` {strategy!r}: expected one of {', '.join(SPLITS)}.")
        if strategy == "auto":
            return "temporal" if self.ordered else "stratified" if self.target_kind == "class" else "random"
        if strategy == "stratified" and self.target_kind != "class":
            raise ConfigError(f"Invalid `split: stratified` for {self.target_kind} targets: stratifying needs one "
                              "class per example; use `split: random` (or temporal for series in time order).")
        return strategy

    def describe(self) -> dict:
        """JSON-serialisable description (what `model.json` records; `Preprocess.from_description` reads it)."""
        return {"name": self.name, "input_kind": self.input_kind, "target_kind": self.target_kind,
                "input_shape": list(self.input_shape), "classes": list(self.classes),
                "normalization": self.normalization, "mean": list(self.mean), "std": list(self.std),
                "scale": 1 / 255 if self.x.dtype == torch.uint8 else 1.0,
                "variable_length": self.lengths is not None,
                **({"lowercase": self.meta.get("lowercase", True)} if self.input_kind == "tokens" else {}),
                **({"voxelizer": self.meta["voxelizer"]} if "voxelizer" in self.meta else {})}


@dataclass
class Splits:
    """The train / validation / test parts of one dataset; `val` is None when no validation split is used."""

    train: Dataset
    test: Dataset
    val: Dataset | None = None
    notes: list[str] = field(default_factory=list)  # what loading did that a user should hear about


def label_order(label: str) -> tuple:
    """Sort key for label names read from files: numeric labels in numeric order ("2" before "10"), then the rest
    alphabetically."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def _default_names(data: Dataset) -> list[str]:
    if data.target_kind == "real":
        return ["target"] if data.y.dim() == 1 else [f"target_{i}" for i in range(data.y.shape[1])]
    if data.target_kind == "multilabel":
        return [str(i) for i in range(data.y.shape[1] if data.y.dim() == 2 else 0)]
    if data.target_kind == "forecast":
        return [f"t+{h}" for h in range(1, data.y.shape[1])]
    return [str(i) for i in range(int(data.y.max()) + 1 if len(data.y) else 0)]


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of `x` `(N, C, ...)`, uint8 scaled to [0, 1]; NaN (padding) is ignored.

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
        mean = flat.nanmean(dim=1)
        var = (flat - mean[:, None]).square().nanmean(dim=1)
    return tuple(mean.tolist()), tuple(var.clamp_min(1e-12).sqrt().tolist())
