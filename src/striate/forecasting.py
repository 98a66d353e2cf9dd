"""Forecasts for new data from a trained forecasting run: `striate forecast RUN SERIES --horizon H`.

Each series of SERIES (the files `--data forecast:` reads) is forecast from its last look-back steps, H steps ahead
(at most the horizon the run was trained for); the result is a CSV with one row per series and step (the median and
every quantile) and a picture of each series' history with its forecast and prediction interval.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from striate._io import atomic_write_bytes
from striate.errors import ConfigError, DataError


@dataclass
class Forecasts:
    """Forecasts of several series: `quantiles` `(S, H, Q)` at levels `levels`, after `history` of each series."""

    names: list[str]
    history: list[np.ndarray]
    quantiles: np.ndarray
    levels: list[float]
    median: int
    truth: list[np.ndarray] | None = None  # backtests: the held-back last H values of each series

    def rows(self) -> list[dict[str, object]]:
        rows = []
        for s, name in enumerate(self.names):
            for h in range(self.quantiles.shape[1]):
                row: dict[str, object] = {"series": name, "step": h + 1,
                                          "forecast": float(self.quantiles[s, h, self.median])}
                row.update({f"q{level:g}": float(self.quantiles[s, h, q]) for q, level in enumerate(self.levels)})
                if self.truth is not None:
                    row["truth"] = float(self.truth[s][h])
                rows.append(row)
        return rows

    def csv(self) -> bytes:
        rows = self.rows()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().encode()


def forecast(run, source: str | Path, horizon: int | None = None, backtest: bool = False) -> Forecasts:
    """Forecast every series of `source` (a CSV, an .npz, or a series aeon ships) with the forecasting `run`; a
    `backtest` holds back each series' last `horizon` values and forecasts them, to compare with the truth."""
    from striate.data.forecast import read_series

    task = run.task
    if task.name != "forecast":
        raise ConfigError(f"Run {run.path} is a {task.name} run: expected one trained with --task forecast (data "
                          "`forecast:...`); use `striate predict` for it.")
    trained = task.horizon
    horizon = trained if horizon is None else horizon
    if not 1 <= horizon <= trained:
        raise ConfigError(f"Invalid `--horizon` {horizon}: this run forecasts 1 to {trained} steps ahead; train with "
                          f"`--data forecast:...?horizon={horizon}` for longer forecasts.")
    lookback = run.input_shape[-1]
    found = read_series(source)
    held = horizon if backtest else 0
    for name, values in zip(found.names, found.values, strict=True):
        if len(values) < lookback + held:
            raise DataError(f"Series `{name}` of {found.source} has {len(values)} points: expected at least the "
                            f"run's look-back of {lookback}" + (f" plus the {held} held-back steps." if held else "."))
    history = [values[: len(values) - held] for values in found.values]
    x = torch.from_numpy(np.stack([values[-lookback:] for values in history]).astype(np.float32))[:, None]
    output = run.predict_proba(x).numpy()  # (S, H * Q), sorted quantiles per step
    quantiles = output.reshape(len(x), trained, len(task.quantiles))[:, :horizon]
    truth = [values[len(values) - held:] for values in found.values] if backtest else None
    return Forecasts(found.names, history, quantiles, task.quantiles, task.median, truth)


def plot_forecasts(found: Forecasts, path: str | Path, title: str = "", show: int | None = None) -> Path:
    """The last stretch of each series (up to 6), its median forecast and the interval of the outermost quantiles."""
    from striate.report.plots import _pyplot, _save

    plt = _pyplot()
    count = min(len(found.names), 6)
    figure, axes = plt.subplots(count, 1, figsize=(8, 2.4 * count), squeeze=False)
    horizon = found.quantiles.shape[1]
    for s, axis in enumerate(axes[:, 0]):
        history = found.history[s][-(show or max(4 * horizon, 48)):]
        steps = np.arange(-len(history) + 1, 1)
        ahead = np.arange(1, horizon + 1)
        axis.plot(steps, history, color="#344054", lw=1.4, label="history")
        if found.truth is not None:
            axis.plot(ahead, found.truth[s], color="#344054", lw=1.4, ls="--", label="truth (held back)")
        axis.plot(ahead, found.quantiles[s, :, found.median], color="#2f6fdf", lw=1.8, label="forecast (median)")
        if len(found.levels) > 1:
            axis.fill_between(ahead, found.quantiles[s, :, 0], found.quantiles[s, :, -1], color="#2f6fdf", alpha=0.2,
                              label=f"{found.levels[-1] - found.levels[0]:.0%} interval")
        axis.axvline(0.5, color="#98a2b3", lw=0.8, ls="--")
        axis.set_title(found.names[s], fontsize=10, loc="left")
        axis.legend(fontsize=8, loc="upper left")
    axes[-1, 0].set_xlabel("steps (0: the last observed value)")
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return _save(figure, path)


def write_forecasts(found: Forecasts, out: str | Path, title: str = "") -> tuple[Path, Path]:
    """The CSV at `out` and its picture beside it (same name, .png), both written atomically."""
    out = Path(out)
    csv_path = atomic_write_bytes(out, found.csv())
    return csv_path, plot_forecasts(found, out.with_suffix(".png"), title)
