"""Callbacks on a regular hook grid, each able to save and restore its own state.

Hooks, in the order the trainer calls them: `on_train_start`, then per epoch `on_epoch_start`, `on_batch_end`
(every step), `on_epoch_end` (with the epoch's metrics), and finally `on_train_end`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from striate._io import atomic_write_text

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
    """A rich progress bar per epoch with running loss, accuracy and images/s.

    Reading the running metrics synchronises with the device, so it happens every `refresh_every` steps only.
    """

    def __init__(self, console: Console | None = None, refresh_every: int = 25):
        self.console = console or Console(stderr=True)
        self.refresh_every = refresh_every
        self._progress: Progress | None = None

    def on_epoch_start(self, trainer: Trainer) -> None:
        self._progress = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=self.console)
        self._progress.start()
        self._task = self._progress.add_task("train", total=trainer.steps_per_epoch, stats="",
                                             epoch=f"{trainer.epoch + 1}/{trainer.epochs}")
        self._start, self._seen = time.perf_counter(), 0

    def on_batch_end(self, trainer: Trainer) -> None:
        self._seen += trainer.last_batch_size
        self._progress.advance(self._task)
        if trainer.batch_in_epoch % self.refresh_every == 0:
            self._progress.update(self._task, stats=self._stats(trainer.running_metrics()))

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        shown = {"loss": metrics["train_loss"], "accuracy": metrics.get("train_accuracy")}
        text = self._stats(shown)
        if "val_accuracy" in metrics:
            text += f" val_acc {metrics['val_accuracy']:.4f}"
        self._progress.update(self._task, stats=text)
        self._progress.stop()

    def _stats(self, metrics: dict[str, float | None]) -> str:
        rate = self._seen / max(time.perf_counter() - self._start, 1e-9)
        accuracy = metrics.get("accuracy")
        text = f"loss {metrics['loss']:.4f}" + (f" acc {accuracy:.4f}" if accuracy is not None else "")
        return f"{text} {rate:,.0f} img/s"


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
