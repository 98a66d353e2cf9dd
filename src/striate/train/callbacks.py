"""Callbacks on a regular hook grid, each able to save and restore its own state.

Hooks, in the order the trainer calls them: `on_train_start`, then per epoch `on_epoch_start`, `on_batch_end`
(every step), `on_epoch_end` (with the epoch's metrics), and finally `on_train_end`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from striate._io import atomic_write_text
from striate.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from striate.train.trainer import Trainer


class Callback:
    """Base class: every hook does nothing; override the ones you need."""

    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_epoch_start(self, trainer: Trainer) -> None: ...

    def on_batch_end(self, trainer: Trainer) -> None: ...

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class ProgressBar(Callback):
    """A rich progress bar per epoch with the running loss, the task's monitored metric and samples/s; where the
    console is not a terminal (CI logs, `nohup`, a file), one plain line per epoch instead of a bar cut to its width.

    Reading the running metrics synchronises with the device, so it happens every `refresh_every` steps only.
    """

    def __init__(self, console: Console | None = None, refresh_every: int = 25):
        self.console = console or Console(stderr=True)
        self.refresh_every = refresh_every
        self._progress: Progress | None = None

    def on_epoch_start(self, trainer: Trainer) -> None:
        self._start, self._seen = time.perf_counter(), 0
        if not self.console.is_terminal:
            return
        self._progress = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=self.console)
        self._progress.start()
        self._task = self._progress.add_task("train", total=trainer.steps_per_epoch, stats="",
                                             epoch=f"{trainer.epoch + 1}/{trainer.epochs}")

    def on_batch_end(self, trainer: Trainer) -> None:
        self._seen += trainer.last_batch_size
        if self._progress is None:
            return
        self._progress.advance(self._task)
        if trainer.batch_in_epoch % self.refresh_every == 0:
            self._progress.update(self._task, stats=self._stats(trainer.running_metrics(), trainer.task.monitor))

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        watched = trainer.task.monitor
        text = self._stats({"loss": metrics["train_loss"], watched: metrics.get(f"train_{watched}")}, watched)
        if f"val_{watched}" in metrics:
            text += f" val_{watched} {metrics[f'val_{watched}']:.4f}"
        if self._progress is None:  # not a terminal: the whole line, never cut or wrapped
            line = f"epoch {metrics['epoch']}/{trainer.epochs} {text} {metrics['epoch_seconds']:.1f} s"
            self.console.print(line, soft_wrap=True, markup=False, highlight=False)
            return
        self._progress.update(self._task, stats=text)
        self._progress.stop()
        self._progress = None

    def _stats(self, metrics: dict[str, float | None], watched: str | None = None) -> str:
        rate = self._seen / max(time.perf_counter() - self._start, 1e-9)
        text = f"loss {metrics['loss']:.4f}"
        if watched and watched != "loss" and metrics.get(watched) is not None:
            text += f" {watched} {metrics[watched]:.4f}"
        return f"{text} {rate:,.0f} samples/s"


class MetricsLogger(Callback):
    """Write one JSON line per epoch to `path`; the whole file is rewritten atomically each time."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lines: list[str] = []

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self.lines.append(json.dumps(metrics))
        atomic_write_text(self.path, "\n".join(self.lines) + "\n")

    def state_dict(self) -> dict[str, Any]:
        return {"lines": list(self.lines)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lines = list(state["lines"])


class EarlyStopping(Callback):
    """Stop when a monitored metric has not improved for `patience` epochs, and optionally restore the best weights.

    Args:
        monitor: a key of the epoch metrics, e.g. "val_loss" or "val_accuracy".
        mode: "min" or "max" (the task says which: `Task.mode(monitor)`); "auto" guesses from the name (max for
            accuracies and F1, min otherwise) for callers without a task.
        patience: epochs without improvement before stopping.
        min_delta: smallest change that counts as an improvement.
        restore_best: at the end of training, load the weights of the best epoch.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = True):
        self.monitor, self.patience, self.min_delta, self.restore_best = monitor, patience, min_delta, restore_best
        self.mode = ("max" if any(part in monitor for part in ("acc", "f1", "r2", "_ap")) else "min") \
            if mode == "auto" else mode
        if self.mode not in {"min", "max"}:
            raise ConfigError(f"Invalid early-stopping `mode`: expected min, max or auto, received {mode!r}.")
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if self.monitor not in metrics:
            raise ConfigError(f"Early stopping monitors `{self.monitor}`, which this run does not report: expected "
                              f"one of {', '.join(sorted(metrics))}.{did_you_mean(self.monitor, metrics)}")
        reason = self._update(metrics["epoch"], metrics[self.monitor], trainer)
        if reason:
            trainer.should_stop, trainer.stop_reason = True, reason

    def _update(self, epoch: int, value: float, trainer: Trainer) -> str:
        """Record `value`; return why training should stop, or '' to go on."""
        sign = 1 if self.mode == "min" else -1
        if self.best is None or sign * (self.best - value) > self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()}
            return ""
        self.wait += 1
        if self.wait < self.patience:
            return ""
        return (f"early stopping at epoch {epoch}: {self.monitor} did not improve by more than {self.min_delta} for "
                f"{self.patience} epochs (best {self.best:.4f} at epoch {self.best_epoch})")

    def on_train_end(self, trainer: Trainer) -> None:
        last = trainer.history[-1]["epoch"] if trainer.history else 0
        if self.restore_best and self.best_weights is not None and self.best_epoch != last:
            trainer.model.load_state_dict(self.best_weights)
            trainer.restored_epoch = self.best_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_weights = state["best_weights"]
