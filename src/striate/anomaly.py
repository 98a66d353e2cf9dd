"""Anomaly detection in one univariate series: the spectral residual (SR) and SR-CNN of Ren et al., KDD 2019.

Ren, Xu, Wang, Yi, Huang, Kou, Xing, Yang, Tong, Zhang: "Time-Series Anomaly Detection Service at Microsoft".

What is hand-written here, and why:
    - The spectral residual (about 30 lines on numpy's FFT). alibi-detect and Merlion ship SR, but each is a large
      dependency for those lines, and neither ships SR-CNN.
    - SR-CNN: no maintained library implements it (Microsoft's reference code is a set of research scripts whose
      training assumes a CUDA GPU), so the injection of synthetic anomalies, the network and its seeded training
      loop are written here, on PyTorch; training takes a few seconds on a laptop CPU.
    - The delay-adjusted metric of the paper's evaluation. scikit-learn has the point-wise scores but not this.
numpy does the FFT, PyTorch the convolutions and autograd, matplotlib the picture.

The method, with the paper's names (defaults: the paper's values):
    A(f) = |FFT(x)|, P(f) = angle(FFT(x)), L(f) = log A(f), AL(f) = h_q * L(f), R(f) = L(f) - AL(f),
    S(x) = |IFFT(exp(R(f) + i P(f)))| (the saliency map), score_i = (S_i - mean(S_{i-z..i-1})) / mean(S_{i-z..i-1}).
    `mag_window` is q, `score_window` is z. h_q is a circular moving average over the q frequencies centred on f (for
    an even q, one more below f than above): the spectrum of a real series is periodic and symmetric, and a centred
    circular filter keeps R symmetric, so exp(R + iP) stays the spectrum of a real series. Before the FFT the series is
    extended by `extend` (kappa) copies of an estimated next point, x_{n+1} = x_{n-m+1} + m * g with
    g = (1/m) sum_{i=1..m} (x_n - x_{n-i}) / i and m = `look_back`, so the newest points are not at the FFT's edge.
    By default SR runs once over the whole series; `window` (omega) instead scores each point from the omega points
    ending at it, as the paper's streaming service does (slower, and much worse on KDD-TSAD_135). The formula keeps
    the zero-frequency term, so on a series far from zero a downward spike is a dip of S, not a peak: `drop_mean`
    leaves it out (see `spectral_residual`).

    SR-CNN trains a small 1-D CNN on the series itself: copies of the training part receive synthetic anomalies, each
    point t chosen (1%) becoming x_t + (xbar + mean) * min(1 + var, 10) * r with r ~ N(0, 1), where xbar is the mean
    of the 3 points before t and mean, var are those of the 128 points ending at t, all measured after scaling those
    128 points to [0, 3] (the change is scaled back to the series' units). This is the paper's formula made unit-free
    the way Microsoft's reference code does it; in raw units (xbar + mean)(1 + var) would depend on the units. A
    change smaller than 3 times the window's median step is not labelled anomalous: it cannot be told from noise. The
    network sees two channels per time step, the SR score (log-compressed) and log(S / median S), and predicts per
    point whether it was injected: two convolutions (kernel 7, 16 then 32 channels) and two per-step fully connected
    layers (1x1 convolutions), as in the paper's two convolutional and two fully connected layers. The paper's
    network sees one window and predicts its points; this one is fully convolutional, so one pass scores any length.

Decisions: a point is anomalous when its score is at least the threshold. Unless one is given, the threshold is the
one that maximises the point-wise F1 on 32 fresh injected copies of the training part (labels of the series are never
used for it, nor for training). Metrics are computed on the points after the training part: point-wise precision,
recall and F1, and the paper's delay-adjusted ones, where a labelled anomalous segment counts as detected as a whole
when a point at most `delay` (k) steps after its start is flagged, and as missed as a whole otherwise (the paper's
evaluation code, which looks at the first k + 1 points of a segment).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from striate._io import atomic_write, atomic_write_json, atomic_write_text
from striate.data.series import PathLike, _read_lines, _show, aeon_data_dir, load_npz_arrays
from striate.errors import ConfigError, DataError, did_you_mean, found_at

METHODS = ("sr", "sr-cnn")
MIN_POINTS = 16
"""The shortest series (and training part) accepted: enough for the extension's slopes and a local mean."""
LABEL_COLUMNS = ("label", "is_anomaly", "anomaly")
TIME_COLUMNS = ("timestamp", "time", "date", "datetime")

_INJECT_RATE = 0.01  # share of a copy's points that receive a synthetic anomaly
_INJECT_CONTEXT = 128  # points ending at t whose range, mean and variance size the injected change
_NOISE_STEPS = 3.0  # an injected change below this many median steps of its window is not labelled
_BATCH = 8  # injected copies per training step
_CROP = 2048  # longest stretch of the training part one copy holds
_VALIDATION_COPIES = 32
_LR = 3e-3


# --- Options ----------------------------------------------------------------------------------------------------------

def _option(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class DetectConfig:
    """Every option of `detect` (and of `striate detect`, as `--mag-window` and so on), with its one-line help."""

    method: str = _option("sr-cnn", "sr (spectral residual score) or sr-cnn (a CNN on the SR saliency map)")
    threshold: float | None = _option(None, "decision threshold on the score [the F1-best one on anomalies injected "
                                            "into the training part]")
    mag_window: int = _option(3, "q: width of the moving average over the log amplitude spectrum")
    score_window: int = _option(21, "z: preceding saliency values whose mean a point's score is relative to")
    extend: int = _option(5, "kappa: estimated points appended to the series before the FFT")
    look_back: int = _option(5, "m: preceding points whose slopes estimate the appended points")
    drop_mean: bool = _option(False, "leave the zero-frequency term out of the saliency map: downward spikes score "
                                     "like upward ones and adding a constant changes nothing, but ripples beside a "
                                     "spike score too")
    window: int | None = _option(None, "omega: score each point from the omega points ending at it (the paper's "
                                       "streaming mode) [the whole series at once]")
    delay: int = _option(7, "k: a labelled segment counts as detected when a point at most k steps after its start "
                            "is flagged")
    train_size: int | None = _option(None, "points at the start that form the training part [the file's TRAIN "
                                           "part, else train_fraction]")
    train_fraction: float = _option(0.25, "share of the series that forms the training part when neither the "
                                          "file nor train_size sets it")
    steps: int = _option(300, "sr-cnn: training steps (8 injected copies of the training part each)")
    seed: int = _option(0, "seed of the injected anomalies and the CNN's initialisation")
    value_column: str | None = _option(None, "CSV: the column of values [`value`, or the only other column]")
    label_column: str | None = _option(None, "CSV: the column of 0/1 labels [`label` or `is_anomaly` if present]")

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"Invalid `method`: expected one of {', '.join(METHODS)}, received {self.method!r}."
                              f"{did_you_mean(self.method, METHODS)}")
        for name, low in (("mag_window", 1), ("score_window", 1), ("look_back", 1), ("extend", 0), ("delay", 0),
                          ("steps", 1), ("seed", 0)):
            _check_int(name, getattr(self, name), low)
        for name in ("window", "train_size"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), MIN_POINTS, " or None")
        if isinstance(self.train_fraction, bool) or not 0 < self.train_fraction < 1:
            raise ConfigError(f"Invalid `train_fraction`: expected a number between 0 and 1, received "
                              f"{self.train_fraction!r}.")
        if self.threshold is not None and (isinstance(self.threshold, bool) or not math.isfinite(self.threshold)):
            raise ConfigError(f"Invalid `threshold`: expected a finite number or None, received {self.threshold!r}.")

    @classmethod
    def from_options(cls, **options) -> DetectConfig:
        """`DetectConfig(**options)`, with a one-line error naming an unknown option and the closest known one."""
        known = [item.name for item in dataclasses.fields(cls)]
        for name in options:
            if name not in known:
                raise ConfigError(f"Unknown detection option `{name}`: expected one of {', '.join(known)}."
                                  f"{did_you_mean(name, known)}")
        return cls(**options)


def option_help() -> dict[str, tuple[object, str]]:
    """Option name -> (default, help), for a command line built from `DetectConfig`."""
    return {item.name: (item.default, item.metadata["help"]) for item in dataclasses.fields(DetectConfig)}


def _check_int(name: str, value, low: int, also: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"Invalid `{name}`: expected an integer >= {low}{also}, received {value!r}.")


# --- Reading a series -------------------------------------------------------------------------------------------------

@dataclass
class AnomalySeries:
    """One univariate series, with optional per-point anomaly labels.

    Attributes:
        values: `(L,)` float64, finite.
        labels: `(L,)` int8 of 0/1 (1: anomalous), or None.
        train_size: How many leading points the file marks as the training part (aeon's `_TRAIN` file), or None.
        name: A short name for messages and the output folder.
        source: Where it was read from.
    """

    values: np.ndarray
    labels: np.ndarray | None = None
    train_size: int | None = None
    name: str = "series"
    source: str = "array"

    @classmethod
    def from_arrays(cls, values, labels=None, train_size: int | None = None, name: str = "series") -> AnomalySeries:
        """Check and wrap arrays: `values` `(L,)` finite numbers, `labels` `(L,)` of 0/1 or None."""
        values = _checked_values(np.asarray(values), "array `values`", "pass finite numbers")
        if labels is not None:
            labels = _checked_labels(np.asarray(labels), len(values), "array `labels`")
        return _checked_length(cls(values, labels, train_size, name, "array"))


def _checked_values(values: np.ndarray, what: str, fix: str) -> np.ndarray:
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]  # (L, 1) -> (L,)
    if values.ndim != 1:
        raise DataError(f"Invalid {what}: expected one series of shape (L,), found shape {values.shape}; save one "
                        "series per file.")
    if values.dtype.kind not in "biuf":
        raise DataError(f"Invalid {what}: expected numbers, found dtype {values.dtype}; {fix}.")
    values = values.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(f"Invalid {what}: expected finite numbers, found {values[bad[0]]} at index {bad[0]}; fill in "
                        "the missing values (the detector needs evenly spaced points).")
    return values


def _checked_labels(labels: np.ndarray, length: int, what: str) -> np.ndarray:
    if labels.shape != (length,):
        raise DataError(f"Invalid {what}: expected shape ({length},) like the values, found {labels.shape}.")
    if labels.dtype.kind not in "biuf" or not np.isin(labels, (0, 1)).all():
        index = 0 if labels.dtype.kind not in "biuf" else int(np.flatnonzero(~np.isin(labels, (0, 1)))[0])
        raise DataError(f"Invalid {what}: expected 0 or 1 (1 marks an anomalous point), found "
                        f"{labels[index].item()!r} at index {index}; relabel that point.")
    return labels.astype(np.int8)


def _checked_length(series: AnomalySeries) -> AnomalySeries:
    if len(series.values) < MIN_POINTS:
        raise DataError(f"Invalid series {series.source}: expected at least {MIN_POINTS} points, found "
                        f"{len(series.values)}; use a longer series.")
    return series


def read_series(source, value_column: str | None = None, label_column: str | None = None) -> AnomalySeries:
    """Read a series to detect anomalies in.

    Args:
        source: An `AnomalySeries`; an array `(L,)`; a `.csv` file (a `value` column and an optional 0/1 `label` or
            `is_anomaly` column with a header, a `timestamp`/`time`/`date` column is skipped; or without a header one
            column of values, or two: values then labels); a `.npz` archive with `values` `(L,)` and optional
            `labels`; or the name of a labelled series aeon ships, e.g. `KDD-TSAD_135` (see `bundled_series`).
        value_column: CSV: the values' column name.
        label_column: CSV: the labels' column name.

    Raises:
        DataError: For a missing file or unknown name, a value that is not a finite number, a label other than 0/1,
            too few points (fewer than `MIN_POINTS`); the message names the line and column.
    """
    if isinstance(source, AnomalySeries):
        return source
    if isinstance(source, (np.ndarray, list, tuple)):
        return AnomalySeries.from_arrays(source)
    path = Path(source)
    if path.is_file():
        return _read_npz(path) if path.suffix.lower() == ".npz" else _read_csv(path, value_column, label_column)
    bundled = bundled_series()
    if str(source) in bundled:
        return _read_bundled(str(source), *bundled[str(source)])
    names = ", ".join(bundled) if bundled else "none: aeon is not installed"
    raise DataError(f"Invalid series {str(source)!r}: expected a .csv or .npz file or the name of a labelled series "
                    f"aeon ships ({names}), found {found_at(path)} there; check the path or the name."
                    f"{did_you_mean(str(source), bundled)}")


def _fail(path: PathLike, where: str, expected: str, found: str, fix: str = "", suggestion: str = "") -> DataError:
    """`Invalid CSV file <path> <where>: expected ..., found ...; <fix>.` and an optional ` Did you mean ...?`."""
    place = f" {where}" if where else ""
    return DataError(f"Invalid CSV file {path}{place}: expected {expected}, found {found}{'; ' + fix if fix else ''}."
                     f"{suggestion}")


def _read_csv(path: Path, value_column: str | None, label_column: str | None) -> AnomalySeries:
    reader = csv.reader(_read_lines(path, "CSV"))
    rows = [(reader.line_num, cells) for cells in reader]
    while rows and not any(cell.strip() for cell in rows[-1][1]):
        rows.pop()  # blank lines at either end are dropped; one inside is a missing value
    while rows and not any(cell.strip() for cell in rows[0][1]):
        rows.pop(0)
    if not rows:
        raise _fail(path, "", "a column of values", "an empty file", "write one value per line")
    names, value_index, label_index = _csv_columns(rows[0], value_column, label_column, path)
    body = rows[1:] if names is not None else rows
    names = names or ["value", "label"][: len(rows[0][1])]
    values, labels = np.empty(len(body)), np.zeros(len(body), dtype=np.int8)
    for row, (lineno, cells) in enumerate(body):
        cells = cells or [""] * len(names)
        if len(cells) != len(names):
            raise _fail(path, f"line {lineno}", f"{len(names)} cells like the first row", str(len(cells)),
                        "give every row the same columns")
        values[row] = _csv_value(cells[value_index], path, f"line {lineno}, column `{names[value_index]}`")
        if label_index is not None:
            labels[row] = _csv_label(cells[label_index], path, f"line {lineno}, column `{names[label_index]}`")
    series = AnomalySeries(values, labels if label_index is not None else None, None, path.stem, str(path))
    return _checked_length(series)


def _csv_columns(
    row: tuple[int, list[str]], value_column: str | None, label_column: str | None, path: Path
) -> tuple[list[str] | None, int, int | None]:
    """The header's names (None without one), the value column's index and the label column's (None without)."""
    lineno, first = row
    if all(_is_float(cell) for cell in first):
        if value_column is not None or label_column is not None:
            raise _fail(path, f"line {lineno}", "a header row naming the columns `value_column`/`label_column` pick",
                        "a row of numbers", "add a header row or leave those options out")
        if len(first) > 2:
            raise _fail(path, f"line {lineno}", "one column of values, or two (values, labels), without a header",
                        f"{len(first)} columns", "add a header row naming the `value` and `label` columns")
        return None, 0, (1 if len(first) == 2 else None)
    names = [cell.strip() for cell in first]
    lower = [name.lower() for name in names]
    label_index = _named(label_column, names, path, lineno) if label_column is not None else next(
        (lower.index(name) for name in LABEL_COLUMNS if name in lower), None)
    if value_column is not None:
        return names, _named(value_column, names, path, lineno), label_index
    if "value" in lower:
        return names, lower.index("value"), label_index
    rest = [i for i, name in enumerate(lower) if i != label_index and name not in TIME_COLUMNS]
    if len(rest) != 1:
        raise _fail(path, f"line {lineno}", "one column of values besides the label and time columns",
                    f"columns {', '.join(names[i] for i in rest) or 'none'}",
                    "name the values' column `value` or pass `value_column`")
    return names, rest[0], label_index


def _named(column: str, names: list[str], path: Path, lineno: int) -> int:
    if column not in names:
        raise _fail(path, f"line {lineno}", f"a column named `{column}`", "columns " + ", ".join(names),
                    "check the column name", did_you_mean(column, names))
    return names.index(column)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_value(cell: str, path: Path, where: str) -> float:
    value = float(cell) if _is_float(cell) else None
    if value is None or not math.isfinite(value):
        raise _fail(path, where, "a finite number", _show(cell.strip()) if cell.strip() else "an empty cell",
                    "fill in or correct that cell (the detector needs evenly spaced points)")
    return value


def _csv_label(cell: str, path: Path, where: str) -> int:
    if not _is_float(cell) or float(cell) not in (0.0, 1.0):
        raise _fail(path, where, "0 or 1 (1 marks an anomalous point)",
                    _show(cell.strip()) if cell.strip() else "an empty cell", "relabel that row")
    return int(float(cell))


def _read_npz(path: Path) -> AnomalySeries:
    arrays = load_npz_arrays(path)
    if "values" not in arrays:
        raise DataError(f"Invalid .npz file {path}: expected an array `values` (and optionally `labels`), found "
                        f"{', '.join(f'`{key}`' for key in arrays) or 'no arrays'}; save it with "
                        "np.savez(path, values=..., labels=...).")
    values = _checked_values(arrays["values"], f".npz file {path}, array `values`", "save the series as numbers")
    labels = arrays.get("labels")
    if labels is not None:
        labels = _checked_labels(labels, len(values), f".npz file {path}, array `labels`")
    return _checked_length(AnomalySeries(values, labels, None, path.stem, str(path)))


def bundled_series() -> dict[str, tuple[Path, Path | None]]:
    """Name -> (test file, train file or None) for each labelled series aeon ships, found without importing aeon.

    These are TimeEval CSV files (`timestamp`, the values, `is_anomaly`) named `<name>_TEST.csv` with an optional
    `<name>_TRAIN.csv` beside them; a series is known by that name and, when its folder holds only it, by the folder's
    name (`KDD-TSAD_135` for `135_UCR_Anomaly_InternalBleeding16`). Empty when aeon is not installed.
    """
    folder = aeon_data_dir()
    found: dict[str, tuple[Path, Path | None]] = {}
    for sub in sorted(folder.iterdir()) if folder is not None else []:
        tests = sorted(path for path in sub.glob("*_TEST.csv") if _is_timeeval(path))
        for test in tests:
            train = test.with_name(test.name.replace("_TEST.csv", "_TRAIN.csv"))
            found[test.name.removesuffix("_TEST.csv")] = (test, train if train.is_file() else None)
        if len(tests) == 1:
            found.setdefault(sub.name, found[tests[0].name.removesuffix("_TEST.csv")])
    return found


def _is_timeeval(path: Path) -> bool:
    with open(path, encoding="utf-8-sig") as handle:
        header = [cell.strip().lower() for cell in handle.readline().split(",")]
    return len(header) >= 3 and header[-1] == "is_anomaly"


def _read_bundled(name: str, test: Path, train: Path | None) -> AnomalySeries:
    """The test file's series; its first points when the train file holds them (else train then test), whose
    length marks the training part."""
    series = _read_csv(test, None, "is_anomaly")
    series.name, series.source = name, f"{name} ({test})"
    if train is None:
        return series
    head = _read_csv(train, None, "is_anomaly")
    n = len(head.values)
    if not (n < len(series.values) and np.array_equal(head.values, series.values[:n])):
        series.values = np.concatenate([head.values, series.values])
        series.labels = np.concatenate([head.labels, series.labels])
    series.train_size = n
    return series


# --- The spectral residual --------------------------------------------------------------------------------------------

def extend_series(x: np.ndarray, extend: int = 5, look_back: int = 5) -> np.ndarray:
    """Append `extend` copies of the estimated next point x_{n+1} = x_{n-m+1} + m * g (the paper's eq. 5-7).

    g = (1/m) sum_{i=1..m} (x_n - x_{n-i}) / i is the mean slope from the m = min(`look_back`, L - 1) preceding
    points to the last one.

    Args:
        x: `(..., L)`, L >= 2; extended along the last axis.

    Returns:
        `(..., L + extend)`.

    Example:
        >>> extend_series(np.array([0.0, 1.0, 2.0, 3.0]), extend=2, look_back=2).tolist()
        [0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    """
    m = min(look_back, x.shape[-1] - 1)
    n = x.shape[-1] - 1
    steps = np.arange(1, m + 1)
    slope = ((x[..., n:n + 1] - x[..., n - steps]) / steps).mean(axis=-1, keepdims=True)  # (..., 1)
    estimate = x[..., n - m + 1:n - m + 2] + m * slope  # (..., 1)
    return np.concatenate([x, np.repeat(estimate, extend, axis=-1)], axis=-1)


def _circular_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Moving average over `width` neighbours centred on each index (one more below for an even width), wrapping
    around the last axis: `(..., L)` -> `(..., L)`."""
    length = values.shape[-1]
    left = width // 2
    padded = np.take(values, np.arange(-left, length + width - 1 - left) % length, axis=-1)  # (..., L + width - 1)
    sums = np.cumsum(padded, axis=-1)
    sums = np.concatenate([np.zeros_like(sums[..., :1]), sums], axis=-1)  # (..., L + width)
    return (sums[..., width:] - sums[..., :length]) / width


def spectral_residual(x: np.ndarray, mag_window: int = 3, drop_mean: bool = False) -> np.ndarray:
    """The saliency map S = |IFFT(exp(R + iP))| of the series, R = log A - h_q * log A (the paper's eq. 1-4).

    With `drop_mean`, the zero-frequency term (the series' mean) is left out of the inverse transform and, in the
    moving average of its neighbours, replaced by the first frequency's value. As the paper writes it, a series far
    from zero (a heart rate near 70) reconstructs as |c + g(t)| with a large constant c, in which a downward spike is
    a dip rather than a peak and the scores shrink as the mean grows; without the term S = |g(t)| does not change when
    a constant is added to the series, and spikes score alike in both directions, but the ripples beside a spike
    score too. Either way, a series with no variation has S = 0.

    Args:
        x: `(..., L)` float; transformed along the last axis (no extension: see `extend_series`).
        mag_window: q, the width of the moving average over the log amplitude spectrum.
        drop_mean: Leave out the zero-frequency term.

    Returns:
        `(..., L)` float64, non-negative.
    """
    x = np.asarray(x, dtype=np.float64)
    spectrum = np.fft.fft(x, axis=-1)
    amplitude = np.abs(spectrum)
    # A frequency of exactly zero amplitude has no logarithm: floor it far below the others.
    considered = amplitude[..., 1:] if drop_mean and x.shape[-1] > 1 else amplitude
    floor = np.maximum(considered.max(axis=-1, keepdims=True) * 1e-12, np.finfo(np.float64).tiny)
    log_amplitude = np.log(np.maximum(amplitude, floor))
    neighbours = log_amplitude
    if drop_mean and x.shape[-1] > 1:
        neighbours = log_amplitude.copy()
        neighbours[..., 0] = log_amplitude[..., 1]
    residual = log_amplitude - _circular_mean(neighbours, min(mag_window, x.shape[-1]))
    if drop_mean:
        residual[..., 0] = -np.inf  # exp(-inf) = 0: the term leaves the inverse transform
    salient = np.exp(residual + 1j * np.angle(spectrum))
    saliency = np.abs(np.fft.ifft(salient, axis=-1))
    return np.where(np.ptp(x, axis=-1, keepdims=True) > 0, saliency, 0.0)


def saliency_scores(saliency: np.ndarray, score_window: int = 21) -> np.ndarray:
    """score_i = (S_i - mean_i) / mean_i, mean_i the mean of the up to z = `score_window` values before i.

    The first point, with nothing before it, scores 0, as does a point whose local mean is 0.

    Args:
        saliency: `(..., L)`.

    Returns:
        `(..., L)` float64.
    """
    length = saliency.shape[-1]
    sums = np.concatenate([np.zeros_like(saliency[..., :1]), np.cumsum(saliency, axis=-1)], axis=-1)  # (..., L + 1)
    index = np.arange(length)
    start = np.maximum(index - score_window, 0)
    count = np.maximum(index - start, 1)
    mean = np.where(index > 0, (sums[..., index] - sums[..., start]) / count, saliency)
    return np.divide(saliency - mean, mean, out=np.zeros_like(mean), where=mean > 0)


def sr_transform(x: np.ndarray, config: DetectConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The saliency S and the SR score of every point of one or several series, extension included.

    Without `config.window` the whole series is transformed at once; with it, each point t >= omega - 1 takes its
    saliency and score from the window of the omega points ending at t (extended, then transformed), and the points
    before from the first window.

    Args:
        x: `(L,)` or `(N, L)`.
        config: The SR options (q, z, kappa, m, omega); the defaults when None.

    Returns:
        `saliency` and `scores`, each shaped like `x`, float64.
    """
    config = config or DetectConfig()
    x = np.asarray(x, dtype=np.float64)
    if config.window is not None and config.window < x.shape[-1]:
        saliency, scores = _streaming(x.reshape(-1, x.shape[-1]), config)  # (N, L) each
        return saliency.reshape(x.shape), scores.reshape(x.shape)
    saliency = spectral_residual(extend_series(x, config.extend, config.look_back), config.mag_window,
                                 config.drop_mean)
    saliency = saliency[..., : x.shape[-1]]  # the estimated points are dropped
    return saliency, saliency_scores(saliency, config.score_window)


def _streaming(x: np.ndarray, config: DetectConfig) -> tuple[np.ndarray, np.ndarray]:
    """`sr_transform` of series `(N, L)` with a sliding window of omega points, transformed in chunks of windows."""
    omega, (rows, length) = config.window, x.shape
    views = np.lib.stride_tricks.sliding_window_view(x, omega, axis=-1)  # (N, L - omega + 1, omega)
    views = views.reshape(-1, omega)  # (N * (L - omega + 1), omega)
    chunk = max(1, 2 ** 16 // (omega + config.extend))  # about 1 MB of complex numbers: fastest in cache
    z = min(config.score_window, omega - 1)
    newest, mean = [], []
    for begin in range(0, len(views), chunk):
        extended = extend_series(views[begin:begin + chunk], config.extend, config.look_back)
        saliency = spectral_residual(extended, config.mag_window, config.drop_mean)[:, :omega]  # (B, omega)
        newest.append(saliency[:, -1])
        mean.append(saliency[:, -1 - z:-1].mean(axis=1))
    newest = np.concatenate(newest).reshape(rows, length - omega + 1)
    mean = np.concatenate(mean).reshape(rows, length - omega + 1)
    head_saliency, head_scores = sr_transform(x[:, :omega], dataclasses.replace(config, window=None))  # (N, omega)
    scores = np.divide(newest - mean, mean, out=np.zeros_like(mean), where=mean > 0)
    return (np.concatenate([head_saliency[:, : omega - 1], newest], axis=1),
            np.concatenate([head_scores[:, : omega - 1], scores], axis=1))


# --- SR-CNN -----------------------------------------------------------------------------------------------------------

def inject_anomalies(x: np.ndarray, rng: np.random.Generator, rate: float = _INJECT_RATE) -> tuple[np.ndarray,
                                                                                                     np.ndarray]:
    """A copy of `x` `(L,)` with round(rate * L) (at least 1) points changed as the module docstring describes.

    Returns:
        The changed copy `(L,)` float64 and its labels `(L,)` float32: 1 where the injected change is more than 3
        median steps of its window.
    """
    changed, labels = x.copy(), np.zeros(len(x), dtype=np.float32)
    for t in rng.choice(len(x), max(1, round(rate * len(x))), replace=False):
        window = x[max(0, t - _INJECT_CONTEXT + 1):t + 1]
        span = np.ptp(window) if np.ptp(window) > 0 else 1.0
        scaled = 3.0 * (window - window.min()) / span  # the window in [0, 3]
        before = scaled[-4:-1] if len(scaled) > 1 else scaled
        change = (before.mean() + scaled.mean()) * min(1.0 + scaled.var(), 10.0) * rng.standard_normal() * span / 3
        changed[t] = x[t] + change
        step = np.median(np.abs(np.diff(window))) if len(window) > 2 else 0.0
        labels[t] = abs(change) > _NOISE_STEPS * step
    return changed, labels


def _injected_copies(x: np.ndarray, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` injected copies of stretches of at most `_CROP` points of `x`: values and labels, `(count, C)` each."""
    crop = min(len(x), _CROP)
    starts = rng.integers(0, len(x) - crop + 1, size=count)
    pairs = [inject_anomalies(x[start:start + crop], rng) for start in starts]
    return np.stack([values for values, _ in pairs]), np.stack([labels for _, labels in pairs])


def cnn_features(saliency: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The network's input: the SR score as sign * log(1 + |score|) and log(S / median S), each clipped to +-10.

    Args:
        saliency, scores: `(..., L)`, as `sr_transform` returns them.

    Returns:
        `(..., 2, L)` float32.
    """
    level = np.median(saliency, axis=-1, keepdims=True)  # (..., 1)
    relative = np.log(np.maximum(saliency, 1e-12) / np.maximum(level, 1e-12))
    return np.clip(np.stack([np.sign(scores) * np.log1p(np.abs(scores)), relative], axis=-2), -10, 10).astype(
        np.float32)  # (..., 2, L)


class SRCNN(nn.Module):
    """Per-point anomaly logits from the SR features: two convolutions, then two per-step fully connected layers.

    Shapes:
        Input: `(N, in_channels, L)` (`cnn_features`). Output: `(N, L)` logits; the receptive field is
        2 * (kernel_size - 1) + 1 points (13 by default), centred.

    Example:
        >>> SRCNN()(torch.zeros(4, 2, 100)).shape
        torch.Size([4, 100])
    """

    def __init__(self, in_channels: int = 2, channels: int = 16, kernel_size: int = 7):
        super().__init__()
        pad = kernel_size // 2
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, channels, kernel_size, padding=pad, padding_mode="replicate"), nn.ReLU(),
            nn.Conv1d(channels, 2 * channels, kernel_size, padding=pad, padding_mode="replicate"), nn.ReLU())
        self.head = nn.Sequential(nn.Conv1d(2 * channels, 4 * channels, 1), nn.ReLU(), nn.Conv1d(4 * channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))[:, 0]  # (N, 1, L) -> (N, L)


def train_srcnn(train_values: np.ndarray, config: DetectConfig) -> SRCNN:
    """Train `SRCNN` on injected copies of `train_values` `(T,)`: `config.steps` Adam steps with a one-cycle
    schedule, fresh copies every step (the training part's own labels are never used). Repeatable for one seed."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = SRCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=_LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, _LR, total_steps=config.steps)
    for _ in range(config.steps):
        values, labels = _injected_copies(train_values, rng, _BATCH)  # (B, C) each
        features = torch.from_numpy(cnn_features(*sr_transform(values, config)))  # (B, 2, C)
        loss = F.binary_cross_entropy_with_logits(model(features), torch.from_numpy(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


def cnn_scores(model: SRCNN, x: np.ndarray, config: DetectConfig) -> np.ndarray:
    """The network's anomaly probability for every point of `x` `(L,)` or `(N, L)`, float64, same shape."""
    features = torch.from_numpy(cnn_features(*sr_transform(x, config)))  # (..., 2, L)
    with torch.no_grad():
        logits = model(features.reshape(-1, *features.shape[-2:])).double().numpy()  # (N, L)
    return (1.0 / (1.0 + np.exp(-logits))).reshape(np.shape(x))


# --- Thresholds and metrics -------------------------------------------------------------------------------------------

def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold with the highest point-wise F1 for `score >= threshold` against `labels` (any shape, 0/1): the
    midpoint between the lowest flagged score and the next lower one. Above every score when no label is 1."""
    scores, labels = np.ravel(scores), np.ravel(labels).astype(np.float64)
    if labels.sum() == 0:
        return float(np.nextafter(scores.max(), np.inf))
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], np.cumsum(labels[order])
    f1 = 2 * hits / (np.arange(1, len(ranked) + 1) + labels.sum())
    f1[np.r_[ranked[1:] == ranked[:-1], False]] = -1.0  # cut only between different scores
    cut = int(np.argmax(f1))
    return float((ranked[cut] + ranked[cut + 1]) / 2 if cut + 1 < len(ranked) else ranked[cut])


def segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """The runs of true values of a `(L,)` mask, as half-open `(start, stop)` index pairs.

    Example:
        >>> segments(np.array([0, 1, 1, 0, 1]))
        [(1, 3), (4, 5)]
    """
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(mask, dtype=np.int8), 0]))
    return [(int(start), int(stop)) for start, stop in zip(edges[::2], edges[1::2], strict=True)]


def adjust_decisions(decisions: np.ndarray, labels: np.ndarray, delay: int = 7) -> np.ndarray:
    """The paper's delay adjustment: every labelled segment becomes all flagged when a point at most `delay` steps
    after its start (its first delay + 1 points) is flagged, and all unflagged otherwise; other points keep theirs."""
    adjusted = np.asarray(decisions, dtype=bool).copy()
    for start, stop in segments(labels):
        adjusted[start:stop] = adjusted[start:min(start + delay + 1, stop)].any()
    return adjusted


def precision_recall_f1(decisions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Point-wise precision, recall, F1 and the counts; a score is 0 where it is undefined (nothing flagged or
    labelled), as scikit-learn's `zero_division=0`."""
    decisions, labels = np.asarray(decisions, dtype=bool), np.asarray(labels, dtype=bool)
    tp, fp, fn = int((decisions & labels).sum()), int((decisions & ~labels).sum()), int((~decisions & labels).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def evaluate(decisions: np.ndarray, labels: np.ndarray, delay: int = 7) -> dict[str, dict[str, float]]:
    """`{"pointwise": ..., "adjusted": ...}`, each as `precision_recall_f1` gives it."""
    return {"pointwise": precision_recall_f1(decisions, labels),
            "adjusted": precision_recall_f1(adjust_decisions(decisions, labels, delay), labels)}


def top_region(scores: np.ndarray, decisions: np.ndarray, start: int = 0) -> tuple[int, int]:
    """The flagged run around the highest score from index `start` on, half-open; the top point alone when it is not
    flagged."""
    top = start + int(np.argmax(scores[start:]))
    if not decisions[top]:
        return top, top + 1
    begin, end = top, top + 1
    while begin > start and decisions[begin - 1]:
        begin -= 1
    while end < len(decisions) and decisions[end]:
        end += 1
    return begin, end


# --- Detection --------------------------------------------------------------------------------------------------------

@dataclass
class Detection:
    """What `detect` found.

    Attributes:
        series: The series, labels included if it had them.
        config: The options used.
        scores: `(L,)` float64: the SR score (`sr`) or the network's probability (`sr-cnn`).
        decisions: `(L,)` bool: `scores >= threshold`.
        threshold: The threshold used; `threshold_source` says whether it was given or chosen.
        train_size: The training part: points `[0, train_size)`; metrics and the top region cover the rest.
        top_region: Half-open `(start, stop)`: the flagged run around the highest score after the training part.
        metrics: With labels: `evaluate`'s dictionary plus `top_region_overlaps` (bool) and `delay`; else None.
        seconds: Wall time of `detect` after reading the series (the CNN's training included).
    """

    series: AnomalySeries
    config: DetectConfig
    scores: np.ndarray
    decisions: np.ndarray
    threshold: float
    threshold_source: str
    train_size: int
    top_region: tuple[int, int]
    metrics: dict | None
    seconds: float
    model: nn.Module | None = None  # sr-cnn: the trained network, saved as detector.safetensors

    def summary_lines(self) -> list[str]:
        """What `striate detect` prints: the set-up, what was flagged, and the metrics when there are labels."""
        length, config = len(self.scores), self.config
        evaluated = self.decisions[self.train_size:]
        regions = segments(evaluated)
        start, stop = self.top_region
        lines = [f"{self.series.name}: {length:,} points, training part 0-{self.train_size - 1}, evaluated "
                 f"{self.train_size}-{length - 1}; {config.method}, threshold {self.threshold:.4g} "
                 f"({self.threshold_source}), {self.seconds:.1f} s",
                 f"flagged {int(evaluated.sum()):,} of {len(evaluated):,} evaluated points in {len(regions)} "
                 f"region{'s' * (len(regions) != 1)}; top-scored region {_span(start, stop)} "
                 f"(score {self.scores[start:stop].max():.4g})"]
        if self.metrics is not None:
            labelled = [_span(a + self.train_size, b + self.train_size)
                        for a, b in segments(self.series.labels[self.train_size:])]
            point, adjusted = self.metrics["pointwise"], self.metrics["adjusted"]
            lines += [f"labelled anomalies: {', '.join(labelled) or 'none'}; the top-scored region "
                      f"{'overlaps one' if self.metrics['top_region_overlaps'] else 'overlaps none'}",
                      f"point-wise precision {point['precision']:.3f} recall {point['recall']:.3f} F1 "
                      f"{point['f1']:.3f}; adjusted (delay {config.delay}) precision {adjusted['precision']:.3f} "
                      f"recall {adjusted['recall']:.3f} F1 {adjusted['f1']:.3f}"]
        return lines

    def to_json(self) -> dict:
        return {"series": self.series.name, "source": self.series.source, "points": len(self.scores),
                "config": dataclasses.asdict(self.config), "threshold": self.threshold,
                "threshold_source": self.threshold_source, "train_size": self.train_size,
                "flagged": int(self.decisions[self.train_size:].sum()), "top_region": list(self.top_region),
                "detected_regions": [list(pair) for pair in segments(self.decisions)], "metrics": self.metrics,
                "seconds": self.seconds}


def _span(start: int, stop: int) -> str:
    """A half-open index range as people write it: `4187-4198`, or `4190` for one point."""
    return f"{start}" if stop == start + 1 else f"{start}-{stop - 1}"


def _train_size(series: AnomalySeries, config: DetectConfig) -> int:
    """The training part's length: `config.train_size`, else the series' own, else `train_fraction` of it."""
    length = len(series.values)
    if config.train_size is not None or series.train_size is not None:
        size = config.train_size if config.train_size is not None else series.train_size
        if not MIN_POINTS <= size < length:
            raise ConfigError(f"Invalid `train_size`: expected {MIN_POINTS} to {length - 1} points (the rest of the "
                              f"series' {length} is evaluated), received {size}; set another `train_size`.")
        return int(size)
    size = round(config.train_fraction * length)
    if size < MIN_POINTS:
        raise ConfigError(f"Invalid training part: expected at least {MIN_POINTS} points, found {size} "
                          f"({config.train_fraction} of {length}); raise `train_fraction` or set `train_size`.")
    return int(size)


def load_detector(folder: PathLike) -> tuple[DetectConfig, float, nn.Module | None]:
    """The options, threshold and (sr-cnn) network of an earlier `striate detect --out FOLDER`, to score other
    series the same way without training again (`striate detect SERIES --run FOLDER`)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    found = folder / "detection.json"
    if not found.is_file():
        raise DataError(f"Invalid `--run` {str(folder)!r}: expected a folder written by `striate detect` (with "
                        f"detection.json), found {found_at(folder)} there.")
    try:
        saved = json.loads(found.read_text(encoding="utf-8"))
        config = DetectConfig.from_options(**saved["config"])
        threshold = float(saved["threshold"])
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"Cannot read {found}: expected the JSON `striate detect` writes ({error}).") from None
    if config.method != "sr-cnn":
        return config, threshold, None
    weights = folder / "detector.safetensors"
    model = SRCNN()
    try:
        model.load_state_dict(load_file(str(weights)))
    except Exception as error:  # a missing, truncated or foreign file: one line naming it
        raise DataError(f"Cannot read the detector's weights {weights}: expected the safetensors file `striate "
                        f"detect --method sr-cnn` writes ({str(error).splitlines()[0][:120]}).") from None
    return config, threshold, model.eval()


def detect(series, detector: tuple[DetectConfig, float, nn.Module | None] | None = None, **options) -> Detection:
    """Score every point of a series, flag those at or above the threshold and, with labels, evaluate.

    Args:
        series: Anything `read_series` takes: a path, a bundled name, an array or an `AnomalySeries`.
        **options: `DetectConfig`'s fields, e.g. `method="sr"`, `threshold=3.0`, `mag_window=3`.

    Returns:
        A `Detection`.

    Raises:
        ConfigError: For an unknown option or a bad value.
        DataError: For a series that cannot be read (see `read_series`).

    Example:
        >>> x = np.sin(np.arange(400) / 5); x[300] += 3
        >>> detect(x, method="sr", threshold=3.0).top_region
        (300, 301)
    """
    if detector is not None:  # an earlier detection's options, threshold and network; only reading options apply
        saved, saved_threshold, saved_model = detector
        reading = {key: options[key] for key in ("value_column", "label_column", "train_size", "threshold", "delay")
                   if options.get(key) is not None}
        config = dataclasses.replace(saved, **reading)
        if config.threshold is None:
            config = dataclasses.replace(config, threshold=saved_threshold)
    else:
        config, saved_model = DetectConfig.from_options(**options), None
    data = read_series(series, config.value_column, config.label_column)
    began = time.perf_counter()
    train = _train_size(data, config)
    model = None
    if config.method == "sr":
        scores = sr_transform(data.values, config)[1]

        def scorer(x):
            return sr_transform(x, config)[1]
    else:
        model = saved_model if saved_model is not None else train_srcnn(data.values[:train], config)
        scores = cnn_scores(model, data.values, config)

        def scorer(x):
            return cnn_scores(model, x, config)
    threshold, source = config.threshold, "given"
    if threshold is None:
        values, labels = _injected_copies(data.values[:train], np.random.default_rng(config.seed + 1),
                                          _VALIDATION_COPIES)
        threshold, source = best_threshold(scorer(values), labels), "chosen on the training part"
    decisions = scores >= threshold
    region = top_region(scores, decisions, train)
    metrics = None
    if data.labels is not None:
        metrics = {**evaluate(decisions[train:], data.labels[train:], config.delay), "delay": config.delay,
                   "top_region_overlaps": bool(data.labels[region[0]:region[1]].any())}
    if detector is not None and config.threshold == detector[1]:
        source = "from the detector's run"
    return Detection(data, config, scores, decisions, float(threshold), source, train, region, metrics,
                     time.perf_counter() - began, model)


# --- Output -----------------------------------------------------------------------------------------------------------

def plot_detection(detection: Detection, path: PathLike) -> Path:
    """Three panels: the series with the labelled regions (red) and the detected points (blue), the score with the
    threshold, and a close-up of the top-scored region with both shaded point by point; a PNG written atomically.

    In the first panel a labelled region is drawn at least 1/300 of the width wide, so a short one stays visible."""
    from striate.report.plots import _pyplot, _save

    plt = _pyplot()
    values, labels, flags = detection.series.values, detection.series.labels, detection.decisions
    steps = np.arange(len(values))
    start, stop = detection.top_region
    margin = max(50, 3 * (stop - start))
    low, high = max(0, start - margin), min(len(values), stop + margin)
    figure, axes = plt.subplots(3, 1, figsize=(12, 8), height_ratios=[2, 1, 2])
    widest = len(values) / 300
    for axis, (a, b), least in ((axes[0], (0, len(values)), widest), (axes[2], (low, high), 0.0)):
        axis.plot(steps[a:b], values[a:b], color="0.2", lw=0.7)
        if detection.train_size > a:
            axis.axvspan(a, detection.train_size - 0.5, color="0.88", zorder=0, label="training part")
        _shade(axis, segments(labels[a:b]) if labels is not None else [], a, least, "tab:red", "labelled anomaly")
        if least:  # the whole series: single flagged points would be too thin to see as spans
            axis.plot(steps[a:b][flags[a:b]], values[a:b][flags[a:b]], ".", color="tab:blue", ms=4, label="detected")
        else:
            _shade(axis, segments(flags[a:b]), a, 0.0, "tab:blue", "detected")
        axis.set_xlim(a - 0.5, b - 0.5)
        axis.set_ylabel("value")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title(f"{detection.series.name}: {detection.config.method}")
    axes[1].plot(steps, detection.scores, color="tab:blue", lw=0.7)
    axes[1].axhline(detection.threshold, color="tab:orange", ls="--", lw=1,
                    label=f"threshold {detection.threshold:.3g}")
    axes[1].set_xlim(-0.5, len(values) - 0.5)
    axes[1].set_ylabel("score")
    axes[1].legend(loc="upper right", fontsize=8)
    if axes[2].get_legend_handles_labels()[0]:
        axes[2].legend(loc="upper right", fontsize=8)
    axes[2].set_title(f"top-scored region {_span(start, stop)}", fontsize=10)
    axes[2].set_xlabel("time step")
    figure.tight_layout()
    return _save(figure, path)


def _shade(axis, runs: list[tuple[int, int]], offset: int, least: float, color: str, label: str) -> None:
    """Shade half-open index runs (shifted by `offset`) over the axis' full height, each at least `least` wide."""
    spans = [(offset + a - 0.5 - max(0.0, least - (b - a)) / 2, max(b - a, least)) for a, b in runs]
    if spans:
        axis.broken_barh(spans, (0, 1), transform=axis.get_xaxis_transform(), color=color, alpha=0.3, label=label)


def write_detection(detection: Detection, folder: PathLike) -> list[Path]:
    """Write `scores.csv` (index, value, score, decision, label), `detection.json` and `detection.png` into `folder`,
    each atomically (a temporary file renamed into place)."""
    folder = Path(folder)
    labels = detection.series.labels
    header = "index,value,score,decision" + (",label" if labels is not None else "")
    rows = [f"{i},{value:.10g},{score:.6g},{int(flag)}" + (f",{labels[i]}" if labels is not None else "")
            for i, (value, score, flag) in enumerate(zip(detection.series.values, detection.scores,
                                                         detection.decisions, strict=True))]
    written = [atomic_write_text(folder / "scores.csv", "\n".join([header, *rows]) + "\n"),
               atomic_write_json(folder / "detection.json", detection.to_json()),
               plot_detection(detection, folder / "detection.png")]
    if detection.model is not None:  # reusable with `striate detect SERIES --run FOLDER`
        from safetensors.torch import save_file

        state = {key: value.detach().contiguous() for key, value in detection.model.state_dict().items()}
        written.append(atomic_write(folder / "detector.safetensors", lambda tmp: save_file(state, tmp)))
    return written


def detect_command(series: str, out: PathLike | None = None, run: PathLike | None = None, **options) -> list[str]:
    """Everything `striate detect SERIES` does: detect, write the scores, the summary and the plot, and return the
    lines to print.

    Args:
        series: A .csv/.npz path or a bundled name (see `read_series`).
        out: The folder to write into (created; its files are replaced atomically). Default: a new numbered folder
            `runs/detect-NAME`, so an earlier result is never overwritten.
        run: An earlier detection's folder: score with its options, threshold and network, without training.
        **options: `DetectConfig`'s fields.
    """
    from striate.runs import mark_complete, new_run_dir

    detection = detect(series, load_detector(run) if run is not None else None, **options)
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"Invalid `out` {str(out)!r}: expected a folder for the detection's files, found a file; "
                          "choose another --out.")
    folder = Path(out) if out is not None else new_run_dir("runs", f"detect-{detection.series.name}")
    paths = write_detection(detection, folder)
    if out is None:
        mark_complete(folder)
    return [*detection.summary_lines(), f"wrote {', '.join(str(path) for path in paths)}"]
