"""Series to forecast: reading them, and cutting look-back/horizon windows on the fly for one global model.

`--data forecast:SOURCE?lookback=L&horizon=H` reads one or several related series and returns temporal splits of
windows: each example is `L` past steps of a series `(1, L)` and its target the next `H` steps plus the series' scale
(target kind "forecast", `(H + 1,)`). The test part is the last `test` steps of every series (default: `H`), the
validation part the `val` steps before them (default: `H`, or none for short series), and training windows lie wholly
before both; `rolling=S` evaluates from several origins, every `S` steps across the test stretch.

Sources: a CSV with one series per column (leading unnamed or non-numeric columns are the index and time), a long
CSV with columns `id, time, value`, an `.npz` with `values` `(L,)` or `(S, L)` (NaN after a shorter series' end), or
the name of a forecasting series aeon ships (`Airline`, `ShampooSales`, `Lynx`, `PBS_dataset`, `Uschange`, `solar`).

Windows are views into one buffer holding the series end to end: `Windows[index]` gathers a batch, so a data set's
windows never exist in memory all at once (hand-written: torch's `unfold` gives one series' windows as a view, but
not the windows of several series of different lengths).

The scale of a series is its in-sample seasonal naive error: the mean of |y_t - y_{t-m}| over its training stretch
(m the season, given or detected); MASE divides by it, and the training loss does too, so series of different sizes
weigh alike. `baselines` computes naive, seasonal naive and exponential smoothing forecasts on the same test windows.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from striate.data._dataset import Dataset, Splits
from striate.data._registry import register_dataset
from striate.errors import ConfigError, DataError, found_at

FORECAST_NAMES = ("Airline", "ShampooSales", "Lynx", "PBS_dataset", "Uschange", "solar")


# --- reading --------------------------------------------------------------------------------------------------------


@dataclass
class SeriesSet:
    """Named univariate series (float64, no missing values) read from one source."""

    names: list[str]
    values: list[np.ndarray]
    source: str


def read_series(source: str | Path) -> SeriesSet:
    """The series of a CSV, NPZ or bundled name (see the module docstring); one-line DataErrors for bad files."""
    path = Path(source)
    if not path.exists() and str(source) in FORECAST_NAMES:
        path = _bundled(str(source))
    if not path.is_file():
        raise DataError(f"Series file not found: expected a .csv or .npz file (or a series aeon ships: "
                        f"{', '.join(FORECAST_NAMES)}) at {source}, found {found_at(path)} there.")
    found = _npz(path) if path.suffix.lower() == ".npz" else _csv(path)
    for name, values in zip(found.names, found.values, strict=True):
        if len(values) == 0:
            raise DataError(f"Series `{name}` in {path} has no values: expected at least one number.")
    return found


def _bundled(name: str) -> Path:
    from striate.data.series import aeon_data_dir

    folder = aeon_data_dir()
    if folder is None:
        raise DataError(f"Series `{name}` is one aeon ships: expected the aeon package, found it not installed; run "
                        "`pip install aeon`.")
    return next((folder / name).glob("*.csv"))


def _npz(path: Path) -> SeriesSet:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "values" not in archive:
                raise DataError(f"Cannot read {path}: expected an array `values` of shape (L,) or (S, L), found "
                                f"{', '.join(archive.files) or 'no arrays'}.")
            values = archive["values"]
            names = [str(n) for n in archive["names"]] if "names" in archive else None
    except (OSError, ValueError) as error:
        raise DataError(f"Cannot read {path}: expected an .npz archive ({error}).") from None
    if not np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_ or values.ndim not in (1, 2):
        raise DataError(f"Cannot read {path}: expected `values` of numbers, shape (L,) or (S, L), found "
                        f"{values.dtype} of shape {values.shape}.")
    rows = [values.astype(np.float64)] if values.ndim == 1 else list(values.astype(np.float64))
    series = []
    for number, row in enumerate(rows):
        series.append(_trimmed(row, f"series {number} of {path}"))
    names = names if names is not None and len(names) == len(series) else [f"series_{i}" for i in range(len(series))]
    return SeriesSet(names, series, str(path))


def _trimmed(row: np.ndarray, what: str) -> np.ndarray:
    """A series without its trailing NaN (padding after a shorter series' end); other gaps are errors."""
    if np.isinf(row).any():
        raise DataError(f"Invalid {what}: expected finite values, found infinity at step "
                        f"{int(np.isinf(row).argmax())}.")
    valid = ~np.isnan(row)
    end = int(valid.nonzero()[0][-1]) + 1 if valid.any() else 0
    if not valid[:end].all():
        raise DataError(f"Invalid {what}: expected a value at every step, found a missing value at step "
                        f"{int((~valid[:end]).argmax())}; fill or interpolate it first.")
    return row[:end]


def _csv(path: Path) -> SeriesSet:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"Cannot read {path}: expected a UTF-8 CSV file ({error}).") from None
    if len(rows) < 2:
        raise DataError(f"Cannot read {path}: expected a header and at least one row of values, found {len(rows)} "
                        "lines.")
    header = [cell.strip() for cell in rows[0]]
    if [cell.lower() for cell in header[:3]] == ["id", "time", "value"]:
        return _long(path, rows[1:])
    columns = list(zip(*[row + [""] * (len(header) - len(row)) for row in rows[1:]], strict=False))
    names, series = [], []
    for index, (name, cells) in enumerate(zip(header, columns, strict=False)):
        if not series and (not name or not _numeric(cells)):
            continue  # leading index and time columns: unnamed, or dates and labels
        values = np.array([_number(cell, path, line, name) for line, cell in enumerate(cells, start=2)])
        names.append(name or f"column_{index}")
        series.append(_trimmed(values, f"series `{name}` in {path}"))
    if not series:
        raise DataError(f"Cannot read {path}: expected at least one column of numbers besides the time column.")
    return SeriesSet(names, series, str(path))


def _numeric(cells) -> bool:
    try:
        for cell in cells:
            if cell.strip():
                float(cell)
        return True
    except ValueError:
        return False


def _number(cell: str, path: Path, line: int, column: str) -> float:
    cell = cell.strip()
    if not cell:
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"Invalid value {cell[:40]!r} in {path}, line {line}, column `{column}`: expected a number."
                        ) from None
    return value


def _long(path: Path, rows: list[list[str]]) -> SeriesSet:
    """`id, time, value` rows -> one series per id, ordered by time; times must be unique and (when numbers) evenly
    spaced."""
    by_id: dict[str, list[tuple[object, float]]] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) < 3 or not row[1].strip():
            raise DataError(f"Missing timestamp in {path}, line {line}: expected `id, time, value` with a time on "
                            "every row.")
        time = row[1].strip()
        try:
            time_key: object = float(time)
        except ValueError:
            time_key = time
        by_id.setdefault(row[0].strip(), []).append((time_key, _number(row[2], path, line, "value")))
    names, series = [], []
    for name, points in by_id.items():
        try:
            points.sort(key=lambda point: point[0])
        except TypeError:
            raise DataError(f"Invalid times of series `{name}` in {path}: expected all numbers or all dates, found "
                            "both.") from None
        times = [time for time, _ in points]
        if len(set(times)) != len(times):
            raise DataError(f"Invalid times of series `{name}` in {path}: expected each time once, found "
                            f"{len(times) - len(set(times))} repeated.")
        if all(isinstance(t, float) for t in times) and len(times) > 2:
            steps = np.diff(np.array(times, dtype=np.float64))
            if not np.allclose(steps, steps[0]):
                gap = int(np.argmax(~np.isclose(steps, steps[0])))
                raise DataError(f"Missing timestamps in series `{name}` of {path}: expected evenly spaced times (every "
                                f"{steps[0]:g}), found a gap of {steps[gap]:g} after time {times[gap]:g}.")
        names.append(name)
        series.append(_trimmed(np.array([value for _, value in points]), f"series `{name}` in {path}"))
    return SeriesSet(names, series, str(path))


# --- seasons and scales ---------------------------------------------------------------------------------------------


def detect_season(values: np.ndarray, max_lag: int | None = None) -> int:
    """The lag (>= 2) of the highest autocorrelation of the differenced series, when it exceeds 0.3; else 1."""
    diff = np.diff(values)
    n = len(diff)
    max_lag = min(max_lag or n // 2, n // 2)
    if max_lag < 2 or diff.std() == 0:
        return 1
    centred = diff - diff.mean()
    denominator = float(centred @ centred)
    acf = np.array([float(centred[lag:] @ centred[:-lag]) / denominator for lag in range(2, max_lag + 1)])
    best = int(acf.argmax())
    return best + 2 if acf[best] > 0.3 else 1


def seasonal_scale(values: np.ndarray, season: int) -> float:
    """Mean |y_t - y_{t-m}| over `values` (MASE's denominator); the naive (m = 1) error when the series is shorter
    than two seasons, and 1.0 for a constant series."""
    for m in (season, 1):
        if len(values) > m:
            scale = float(np.abs(values[m:] - values[:-m]).mean())
            if scale > 0:
                return scale
    return 1.0


# --- windows --------------------------------------------------------------------------------------------------------


class Windows:
    """Windows `(N, C, L)` of series laid end to end in one buffer `(C, T)`; indexing gathers only those asked for.

    It stands in for a `Dataset`'s input tensor: `len`, `shape`, `dtype`, `dim()`, `to(device)` and indexing with an
    int, a slice or an index tensor (which returns a real tensor `(B, C, L)`), and `rows(index)` for a subset that
    stays lazy.
    """

    def __init__(self, buffer: torch.Tensor, starts: torch.Tensor, length: int):
        self.buffer, self.starts, self.length = buffer, starts, length
        self.offsets = torch.arange(length, device=buffer.device)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.starts), self.buffer.shape[0], self.length))

    @property
    def dtype(self) -> torch.dtype:
        return self.buffer.dtype

    @property
    def device(self) -> torch.device:
        return self.buffer.device

    def dim(self) -> int:
        return 3

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def to(self, device) -> Windows:
        return Windows(self.buffer.to(device), self.starts.to(device), self.length)

    def rows(self, index) -> Windows:
        return Windows(self.buffer, self.starts[index], self.length)

    def __getitem__(self, index) -> torch.Tensor:
        starts = self.starts[index]
        if starts.dim() == 0:
            return self.buffer[:, starts + self.offsets]  # (C, L)
        positions = starts[:, None] + self.offsets  # (B, L)
        return self.buffer[:, positions].permute(1, 0, 2)  # (C, B, L) -> (B, C, L)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def float(self) -> torch.Tensor:
        return self[:].float()

    def numpy(self) -> np.ndarray:
        return self[:].numpy()


@dataclass
class WindowPlan:
    """Where each part's windows start in the buffer, and the series each belongs to."""

    train: list[tuple[int, int]]
    val: list[tuple[int, int]]
    test: list[tuple[int, int]]


def plan_windows(lengths: list[int], lookback: int, horizon: int, test: int, val: int,
                 rolling: int = 0) -> WindowPlan:
    """The (series, origin) pairs of each part: an origin t forecasts steps t..t+H-1 from steps t-L..t-1.

    Test origins start where the last `test` steps begin (one origin, or every `rolling` steps while t + H fits);
    validation origins likewise in the `val` steps before; training origins wherever the target ends before the
    validation (or test) stretch.
    """
    plan = WindowPlan([], [], [])
    for number, n in enumerate(lengths):
        test_start = n - test
        val_start = test_start - val
        plan.train += [(number, t) for t in range(lookback, val_start - horizon + 1)]
        plan.val += [(number, t) for t in _origins(val_start, test_start, horizon, rolling or horizon)] if val else []
        plan.test += [(number, t) for t in _origins(test_start, n, horizon, rolling)]
    return plan


def _origins(start: int, end: int, horizon: int, every: int) -> list[int]:
    if every <= 0:
        return [start] if start + horizon <= end else []
    return list(range(start, end - horizon + 1, every))


# --- the dataset ----------------------------------------------------------------------------------------------------


def forecast_splits(found: SeriesSet, lookback: int | None = None, horizon: int = 1, test: int | None = None,
                    val: int | None = None, rolling: int = 0, season: int | None = None,
                    baselines: bool = True) -> Splits:
    """Temporal splits of look-back/horizon windows over `found`'s series (see the module docstring)."""
    for name, value in (("horizon", horizon), ("rolling", rolling)):
        if not isinstance(value, int) or value < (1 if name == "horizon" else 0):
            raise ConfigError(f"Invalid `{name}`: expected {'a positive' if name == 'horizon' else 'a non-negative'} "
                              f"integer, received {value!r}.")
    shortest = min(len(values) for values in found.values)
    test = horizon if test is None else test
    if test < horizon:
        raise ConfigError(f"Invalid `test` {test}: expected at least the horizon ({horizon}) steps.")
    season = season or detect_season(found.values[0][: len(found.values[0]) - test])
    lookback = lookback or max(2 * horizon, 2 * season, 8)
    if val is None:
        val = horizon if shortest - test - horizon >= lookback + 2 * horizon else 0
    needed = lookback + horizon + val + test
    if shortest < needed:
        name = found.names[int(np.argmin([len(v) for v in found.values]))]
        raise DataError(f"Series `{name}` of {found.source} has {shortest} points: expected at least {needed} for a "
                        f"look-back of {lookback}, a horizon of {horizon}, {val} validation and {test} test steps; "
                        "shorten --data options lookback/horizon or use longer series.")
    lengths = [len(values) for values in found.values]
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    buffer = torch.from_numpy(np.concatenate(found.values).astype(np.float32))[None]  # (1, T)
    scales = [seasonal_scale(values[: len(values) - test - val], season) for values in found.values]
    plan = plan_windows(lengths, lookback, horizon, test, val, rolling)
    classes = [f"t+{h}" for h in range(1, horizon + 1)]
    meta = {"season": season, "lookback": lookback, "horizon": horizon, "series": found.names,
            "source": found.source, "scales": scales}

    def part(pairs: list[tuple[int, int]], name: str) -> Dataset:
        starts = torch.tensor([offsets[s] + t - lookback for s, t in pairs], dtype=torch.int64)
        targets = torch.stack([torch.cat([buffer[0, offsets[s] + t: offsets[s] + t + horizon],
                                          torch.tensor([scales[s]])]) for s, t in pairs]) if pairs else \
            torch.zeros(0, horizon + 1)
        return Dataset(Windows(buffer, starts, lookback), targets, classes, name=f"forecast:{name}",
                       input_kind="signal", target_kind="forecast", normalization="none", ordered=True,
                       meta={**meta, "windows": pairs})

    title = Path(found.source).stem
    splits = Splits(train=part(plan.train, title), test=part(plan.test, title),
                    val=part(plan.val, title) if plan.val else None)
    splits.notes.append(f"{len(found.values)} series, season {season}, look-back {lookback}, horizon {horizon}: "
                        f"{len(plan.train):,} training, {len(plan.val):,} validation and {len(plan.test):,} test "
                        f"windows (views into {buffer.numel() * 4:,} bytes of series, cut per batch)")
    if baselines:
        splits.test.meta["reference"] = baseline_metrics(found, plan.test, horizon, season, scales)
    return splits


@register_dataset("forecast", location="SOURCE", kinds="signal, forecast",
                  description="series to forecast: a CSV (a column per series, or id,time,value rows), an .npz, or a "
                              "series aeon ships (Airline, Uschange, ...); options lookback, horizon, test, val, "
                              "rolling, season")
def _forecast(location: str, lookback: int | None = None, horizon: int = 12, test: int | None = None,
              val: int | None = None, rolling: int = 0, season: int | None = None) -> Splits:
    return forecast_splits(read_series(location), lookback, horizon, test, val, rolling, season)


# --- baselines ------------------------------------------------------------------------------------------------------


def baseline_forecasts(history: np.ndarray, horizon: int, season: int) -> dict[str, np.ndarray]:
    """Naive, seasonal naive and exponential smoothing (statsmodels' Holt-Winters: additive trend, and additive
    seasonality when two seasons of history exist) forecasts of `horizon` steps after `history`."""
    found = {"naive": np.full(horizon, history[-1]),
             "seasonal naive": np.array([history[len(history) - season + (h % season)] for h in range(horizon)])
             if season > 1 and len(history) >= season else np.full(horizon, history[-1])}
    try:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
    except ImportError:
        return found
    seasonal = "add" if season > 1 and len(history) >= 2 * season else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = ExponentialSmoothing(history, trend="add", seasonal=seasonal,
                                         seasonal_periods=season if seasonal else None).fit()
            found["exponential smoothing"] = np.asarray(model.forecast(horizon))
        except (ValueError, np.linalg.LinAlgError):
            pass
    return found


def baseline_metrics(found: SeriesSet, pairs: list[tuple[int, int]], horizon: int, season: int,
                     scales: list[float]) -> dict[str, dict[str, float]]:
    """MAE, RMSE, sMAPE and MASE of each baseline on the test windows `pairs`."""
    errors: dict[str, list[tuple[np.ndarray, np.ndarray, float]]] = {}
    for s, t in pairs:
        history, truth = found.values[s][:t], found.values[s][t: t + horizon]
        for name, forecast in baseline_forecasts(history, horizon, season).items():
            errors.setdefault(name, []).append((forecast, truth, scales[s]))
    return {name: point_metrics(rows) for name, rows in errors.items()}


def point_metrics(rows: list[tuple[np.ndarray, np.ndarray, float]]) -> dict[str, float]:
    """MAE, RMSE, sMAPE (in %) and MASE over (forecast, truth, scale) rows."""
    forecast = np.concatenate([f for f, _, _ in rows])
    truth = np.concatenate([t for _, t, _ in rows])
    scaled = np.concatenate([np.abs(f - t) / s for f, t, s in rows])
    error = forecast - truth
    denominator = np.abs(forecast) + np.abs(truth)
    smape = np.where(denominator > 0, 2 * np.abs(error) / np.where(denominator > 0, denominator, 1), 0.0)
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean())),
            "smape": float(100 * smape.mean()), "mase": float(scaled.mean())}
