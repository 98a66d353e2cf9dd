"""Time-series datasets: the UCR/UEA archives aeon ships, `.ts` and UCR `.tsv` files, by name.

Series are `(N, C, L)` float32 signals. Unequal lengths are padded after each series' end with NaN (the mask: the
preprocessing z-normalises over the valid steps and sets padding to 0), resampled to one length, or truncated, by the
`unequal` option; `normalize=series` z-normalises every series on its own (the usual UCR practice), `channel` (the
default) standardises each channel with the training statistics. The files are read by `striate.data.series`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from striate.data._dataset import Dataset, Splits, label_order
from striate.data._registry import register_dataset
from striate.data.series import STACK_MODES, SeriesTable, find_bundled, read_series_csv, read_ts, read_ucr_tsv
from striate.data.series import stack_series as _stack
from striate.errors import ConfigError, DataError

NORMALIZE = ("channel", "series", "none")


@register_dataset("ucr", location="NAME", kinds="signal, class | real",
                  description="a UCR/UEA archive aeon ships in its wheel (GunPoint, ItalyPowerDemand, BasicMotions, "
                              "CardanoSentiment, ...); options unequal=pad|resample|truncate, normalize=channel|series")
def _ucr(location: str, unequal: str = "pad", normalize: str = "channel", length: int | None = None) -> Splits:
    paths = find_bundled(location)
    return _both(read_ts(paths["train"]), read_ts(paths["test"]), location, unequal, normalize, length)


@register_dataset("ts", location="PATH", kinds="signal, class | real",
                  description="a .ts file (sktime/aeon format): univariate, multivariate or unequal length; "
                              "a PATH ending in _TRAIN.ts takes its _TEST.ts as the test part")
def _ts(location: str, unequal: str = "pad", normalize: str = "channel", length: int | None = None) -> Splits | Dataset:
    return _pair(location, read_ts, unequal, normalize, length)


@register_dataset("tsv", location="PATH", kinds="signal, class",
                  description="a UCR 2018 .tsv file (label, then values, tab separated); _TRAIN pairs with _TEST")
def _tsv(location: str, unequal: str = "pad", normalize: str = "channel",
         length: int | None = None) -> Splits | Dataset:
    return _pair(location, read_ucr_tsv, unequal, normalize, length)


@register_dataset("series-csv", location="PATH", kinds="signal, class | real",
                  description="a CSV with one univariate series per row and a label column; options label_column, "
                              "target=class|real")
def _series_csv(location: str, label_column: str = "label", target: str = "class", unequal: str = "pad",
                normalize: str = "channel") -> Dataset:
    column = int(label_column) if str(label_column).lstrip("-").isdigit() else label_column
    return from_table(read_series_csv(location, label_column=column, target_kind=target), Path(location).stem,
                      unequal, normalize, None)


def _pair(location: str, read, unequal: str, normalize: str, length: int | None) -> Splits | Dataset:
    path = Path(location)
    name = path.stem.removesuffix("_TRAIN")
    partner = path.with_name(path.name.replace("_TRAIN", "_TEST"))
    if "_TRAIN" in path.name and partner.is_file():
        return _both(read(path), read(partner), name, unequal, normalize, length)
    return from_table(read(path), name, unequal, normalize, length)


def _both(train: SeriesTable, test: SeriesTable, name: str, unequal: str, normalize: str,
          length: int | None) -> Splits:
    """Train and test parts stacked to one length: the longest of both (pad), the training one (resample), or the
    shortest of both (truncate)."""
    if length is None:
        train_lengths = [s.shape[-1] for s in train.series]
        test_lengths = [s.shape[-1] for s in test.series]
        length = {"pad": max(train_lengths + test_lengths), "resample": max(train_lengths),
                  "truncate": min(train_lengths + test_lengths)}.get(unequal)
    return Splits(train=from_table(train, name, unequal, normalize, length),
                  test=from_table(test, name, unequal, normalize, length))


def from_table(table: SeriesTable, name: str, unequal: str = "pad", normalize: str = "channel",
               length: int | None = None) -> Dataset:
    """A signal `Dataset` from a `SeriesTable`: stacked `(N, C, L)`, targets as class indices or float values."""
    if unequal not in STACK_MODES:
        raise ConfigError(f"Invalid `unequal` {unequal!r}: expected one of {', '.join(STACK_MODES)}.")
    if normalize not in NORMALIZE:
        raise ConfigError(f"Invalid `normalize` {normalize!r}: expected one of {', '.join(NORMALIZE)}.")
    if table.targets is None:
        raise DataError(f"Series file {table.source} has no labels: expected a class label or target per series.")
    x, lengths = _stack(table.series, mode=unequal, length=int(length) if length is not None else None)
    variable = bool((lengths != x.shape[-1]).any())
    y, classes, kind = _targets(table)
    return Dataset(torch.from_numpy(x), y, classes, name=name, input_kind="signal", target_kind=kind,
                   normalization=normalize, lengths=torch.from_numpy(lengths) if variable else None,
                   meta={"source": table.source, "unequal": unequal})


def _targets(table: SeriesTable) -> tuple[torch.Tensor, list[str] | None, str]:
    if table.target_kind == "real":
        return torch.from_numpy(table.targets.astype(np.float32)), None, "real"
    labels = [str(label) for label in table.targets]
    classes = list(table.class_labels) if table.class_labels else sorted(set(labels), key=label_order)
    extra = sorted(set(labels) - set(classes), key=label_order)
    classes += extra  # labels used but not declared are rejected by the reader; this keeps the order total
    index = {label: i for i, label in enumerate(classes)}
    return torch.tensor([index[label] for label in labels], dtype=torch.int64), classes, "class"



def fit_length(part: Dataset, length: int) -> Dataset:
    """`part` brought to `length` steps to match the training data: resampled (linear interpolation from the first
    to the last step) when it was loaded with `unequal=resample`, otherwise padded with NaN or cut."""
    x = part.x
    if x.shape[-1] == length:
        return part
    if part.meta.get("unequal") == "resample":
        resampled = torch.nn.functional.interpolate(x, size=length, mode="linear", align_corners=True)
        return replace(part, x=resampled, lengths=None)
    if x.shape[-1] > length:
        fitted = x[..., :length]
    else:
        fitted = torch.full((*x.shape[:-1], length), float("nan"), dtype=x.dtype)
        fitted[..., : x.shape[-1]] = x
    lengths = part.lengths if part.lengths is not None else torch.full((len(part),), x.shape[-1], dtype=torch.int64)
    return replace(part, x=fitted, lengths=lengths.clamp_max(length))


from striate.data import forecast as _forecast  # noqa: E402, F401  (registers `forecast`, listed after `ucr`)
