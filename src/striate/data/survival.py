"""Survival data: activity streams with a follow-up time and an event indicator per person.

There is no open data set of week-long activity streams with follow-up here (NHANES' accelerometry with its linked
mortality file, the data Pyrkov et al. 2018 used, is a download of its own), so `activity-survival` is a seeded
generator whose hazard is a known function of each stream's generating traits; `survival:PATH` reads a user's own
streams from an .npz or a .csv.

Targets are `(N, 2)` float: column 0 the follow-up time (>= 0, in one unit for everyone), column 1 the event
indicator (1: the event happened at that time, 0: censored then), named `["time", "event"]`; inputs are `(N, C, L)`
float signals.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from striate.data._dataset import Dataset
from striate.data._registry import register_dataset
from striate.errors import ConfigError, DataError, found_at

TARGETS = ["time", "event"]
TRAITS = ("level", "rhythm", "fragmentation")
BETA = {"level": -0.6, "rhythm": -0.5, "fragmentation": 0.6}
"""The generator's true log hazard ratios per standard deviation of each trait: more activity and a stronger daily
rhythm lower the hazard, a more fragmented rest-activity pattern raises it."""
WEIBULL_SHAPE, WEIBULL_SCALE = 1.3, 10.0  # baseline: hazard rising with time, median about 7.5 years


@dataclass(frozen=True)
class ActivityCohort:
    """A synthetic cohort (`activity_streams`).

    Attributes:
        x: `(N, 1, L)` float32 activity, log(1 + counts per step), L = days * 24 * 60 / resolution.
        time: `(N,)` float64 follow-up in years (whole days, at least one).
        event: `(N,)` float64, 1 for an event at `time`, 0 for censoring then.
        traits: `(N, 3)` float64 standard-normal traits that generated each stream, columns `TRAITS`.
        log_hazard: `(N,)` float64 the true log hazard ratio, `traits @ BETA`.
    """

    x: np.ndarray
    time: np.ndarray
    event: np.ndarray
    traits: np.ndarray
    log_hazard: np.ndarray

    @property
    def y(self) -> torch.Tensor:
        """Targets `(N, 2)` float32: time, event."""
        return torch.from_numpy(np.stack([self.time, self.event], axis=1).astype(np.float32))


def activity_streams(size: int = 2000, seed: int = 0, days: int = 7, resolution: int = 15,
                     censoring: float = 0.3) -> ActivityCohort:
    """A seeded cohort of week-long activity streams whose hazard depends on known traits of the streams.

    Every person has three standard-normal traits. `level` scales how often and how hard they move, `rhythm` the
    contrast between day and night, `fragmentation` how often they switch between rest and activity (a two-state
    Markov chain whose switching rate it sets; the daily cycle sets the chain's balance at each step). A bedtime that
    varies per person, later mornings at the weekend, and measurement noise do not affect the hazard. Event times
    are Weibull with log hazard ratio `traits @ BETA`; censoring is administrative at a per-person horizon (staggered
    entry), scaled so that a fraction `censoring` of the cohort is censored.

    Args:
        size: people.
        seed: seed of everything drawn.
        days: days of recording per person.
        resolution: minutes per step; divides a day.
        censoring: share of people censored, in [0, 1).
    """
    if size < 1 or days < 1 or resolution < 1 or 1440 % resolution or not 0 <= censoring < 1:
        raise ConfigError(f"Invalid activity-survival options size={size}, days={days}, resolution={resolution}, "
                          f"censoring={censoring}: expected size >= 1, days >= 1, minutes per step dividing 1440 "
                          "and a censored share in [0, 1).")
    rng = np.random.default_rng(seed)
    traits = rng.standard_normal((size, 3))
    x = _streams(rng, traits, days, resolution)
    log_hazard = traits @ np.array([BETA[name] for name in TRAITS])
    event_time = WEIBULL_SCALE * (rng.exponential(size=size) * np.exp(-log_hazard)) ** (1 / WEIBULL_SHAPE)
    entry = rng.uniform(0.5, 1.0, size)  # share of the study's follow-up each person can have
    horizon = _horizon(event_time, entry, censoring)
    observed = np.minimum(event_time, horizon * entry)
    event = (event_time <= horizon * entry).astype(np.float64)
    time = np.maximum(np.ceil(observed * 365.25), 1) / 365.25  # whole days: ties, as in real follow-up
    return ActivityCohort(x[:, None].astype(np.float32), time, event, traits, log_hazard)


def _streams(rng: np.random.Generator, traits: np.ndarray, days: int, resolution: int) -> np.ndarray:
    """`(N, L)` log(1 + counts): a rest/active Markov chain per person, its balance following the daily cycle."""
    level, rhythm, fragmentation = traits.T
    size, per_day = len(traits), 1440 // resolution
    hours = (np.arange(days * per_day) % per_day) * resolution / 60  # clock time of each step
    weekend = (np.arange(days * per_day) // per_day) % 7 >= 5
    bedtime = 23 + 0.75 * rng.standard_normal(size)
    awake_hours = 16 - 0.5 * rhythm.clip(-2, 2) + 0.5 * rng.standard_normal(size)
    # minutes per step change how often a switch can happen: per-step rates follow from 15-minute ones
    switch = 1 - (1 - 1 / (1 + np.exp(1.4 - 0.8 * fragmentation))) ** (resolution / 15)
    p_day = 1 / (1 + np.exp(-(0.2 + 0.5 * level + 0.3 * rhythm)))
    p_night = 1 / (1 + np.exp(3.0 + 0.9 * rhythm - 0.2 * level))
    intensity = 4.0 + 0.45 * level
    active = rng.random(size) < p_day
    x = np.empty((size, len(hours)), dtype=np.float64)
    for step, hour in enumerate(hours):
        since_bed = (hour - bedtime - weekend[step]) % 24  # hours since going to bed
        awake = since_bed >= 24 - awake_hours
        balance = np.where(awake, p_day, p_night)
        flip = rng.random(size) < switch * np.where(active, 1 - balance, balance)
        active = active ^ flip
        moving = intensity + 0.3 * np.sin(np.pi * (since_bed - 8) / 16) + 0.5 * rng.standard_normal(size)
        resting = np.where(awake, 0.8, 0.1) * rng.exponential(1.0, size).clip(max=4)
        x[:, step] = np.where(active, moving.clip(0), resting)
    return x


def _horizon(event_time: np.ndarray, entry: np.ndarray, censoring: float) -> float:
    """The study horizon at which a share `censoring` of people is censored (bisection; censoring falls with it)."""
    if censoring == 0:
        return math.inf
    low, high = 0.0, float(event_time.max() / entry.min()) * 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if np.mean(event_time > middle * entry) > censoring else (low, middle)
    return high


@register_dataset("activity-survival", kinds="signal, real (time, event)",
                  description="synthetic week-long activity streams (log counts per 15 minutes) with a follow-up "
                              "time and event per person, the hazard a known function of each stream's activity "
                              "level, daily rhythm and fragmentation (`--task survival`); options size, seed, days, "
                              "resolution (minutes), censoring (share)")
def _activity_survival(location: str | None = None, size: int = 2000, seed: int = 0, days: int = 7,
                       resolution: int = 15, censoring: float = 0.3) -> Dataset:
    options = {"size": (size, int), "seed": (seed, int), "days": (days, int), "resolution": (resolution, int),
               "censoring": (censoring, float)}
    cohort = activity_streams(**{name: _option(name, value, kind) for name, (value, kind) in options.items()})
    return Dataset(torch.from_numpy(cohort.x), cohort.y, list(TARGETS), name="activity-survival",
                   input_kind="signal", target_kind="real", meta={"task": "survival"})


def _option(name: str, value, kind: type):
    try:
        return kind(value)
    except (TypeError, ValueError):
        expected = "an integer" if kind is int else "a number"
        raise ConfigError(f"Invalid activity-survival option `{name}`: expected {expected}, received {value!r}.") \
            from None


@register_dataset("survival", location="PATH", kinds="signal, real (time, event)",
                  description="your own streams with follow-up: an .npz with x (N, L) or (N, C, L), time and event "
                              "arrays, or a .csv with time and event columns and one stream per row (the other "
                              "columns, in order); options time_column, event_column")
def _survival_file(location: str, time_column: str = "time", event_column: str = "event") -> Dataset:
    path = Path(location)
    if not path.is_file():
        raise DataError(f"Survival data not found: expected an .npz or .csv file at {location}, found "
                        f"{found_at(location)} there.")
    if path.suffix.lower() == ".npz":
        x, time, event = _read_npz(path, time_column, event_column)
    elif path.suffix.lower() == ".csv":
        x, time, event = _read_csv(path, time_column, event_column)
    else:
        raise DataError(f"Invalid survival file {path.name}: expected a .npz or .csv file, received "
                        f"{path.suffix or 'no extension'}.")
    check_targets(time, event, path.name)
    if not np.isfinite(x).all():
        raise DataError(f"Invalid streams in {path.name}: expected finite values, found missing or infinite ones; "
                        "fill the gaps (e.g. with 0 for no recorded activity).")
    y = torch.from_numpy(np.stack([time, event], axis=1).astype(np.float32))
    return Dataset(torch.from_numpy(x.astype(np.float32)), y, list(TARGETS), name=path.stem, input_kind="signal",
                   target_kind="real", meta={"task": "survival", "source": str(path)})


def _read_npz(path: Path, time_key: str, event_key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:  # object arrays need pickle, which untrusted files never get
        raise DataError(f"Invalid survival file {path.name}: expected numeric arrays, found {error}.") from None
    except Exception as error:
        raise DataError(f"Unreadable survival file {path.name}: expected an .npz archive ({error}).") from None
    missing = [key for key in ("x", time_key, event_key) if key not in arrays]
    if missing:
        raise DataError(f"Invalid survival file {path.name}: expected arrays x, {time_key} and {event_key}, "
                        f"found {', '.join(arrays) or 'none'}.")
    x, time, event = (_numeric(arrays[key], key, path.name) for key in ("x", time_key, event_key))
    x = x[:, None] if x.ndim == 2 else x
    if x.ndim != 3 or time.shape != (len(x),) or event.shape != (len(x),):
        raise DataError(f"Invalid survival file {path.name}: expected x (N, L) or (N, C, L) with {time_key} and "
                        f"{event_key} of shape (N,), received x {arrays['x'].shape}, {time_key} {time.shape}, "
                        f"{event_key} {event.shape}.")
    return x, time, event


def _numeric(array: np.ndarray, key: str, source: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise DataError(f"Invalid array `{key}` in {source}: expected numbers, found dtype {array.dtype}.")
    return array.astype(np.float64)


def _read_csv(path: Path, time_column: str, event_column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A header row naming the columns; time and event by name, every other column a step of the stream."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise DataError(f"Invalid survival file {path.name}: expected a header row and one stream per row, found "
                        f"{len(rows)} row(s).")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in (time_column, event_column) if name not in header]
    if missing:
        raise DataError(f"Invalid survival file {path.name}: expected columns `{time_column}` and `{event_column}` "
                        f"in the header, found {', '.join(header[:8])}{', ...' if len(header) > 8 else ''}.")
    values = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"Invalid line {number} of {path.name}: expected {len(header)} values like the header, "
                            f"found {len(row)}.")
        for column, cell in enumerate(row):
            try:
                values[number - 2, column] = float(cell)
            except ValueError:
                raise DataError(f"Invalid value {cell!r} in line {number}, column `{header[column]}` of {path.name}: "
                                "expected a number.") from None
    stream = [i for i, name in enumerate(header) if name not in (time_column, event_column)]
    if not stream:
        raise DataError(f"Invalid survival file {path.name}: expected stream columns besides `{time_column}` and "
                        f"`{event_column}`, found none.")
    return values[:, None, stream], values[:, header.index(time_column)], values[:, header.index(event_column)]


def check_targets(time, event, source: str) -> None:
    """Raise a one-line DataError unless follow-up times are finite and >= 0 and events are 0 or 1 (row numbers
    count from 1)."""
    time, event = np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(time) | (time < 0))
    if len(bad):
        raise DataError(f"Invalid follow-up time {time[bad[0]]:g} in row {bad[0] + 1} of {source}: expected a "
                        f"finite time >= 0 ({len(bad)} row(s) are not).")
    bad = np.flatnonzero((event != 0) & (event != 1))
    if len(bad):
        raise DataError(f"Invalid event label {event[bad[0]]:g} in row {bad[0] + 1} of {source}: expected 0 "
                        f"(censored) or 1 (event) ({len(bad)} row(s) are not).")
