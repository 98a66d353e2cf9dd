"""The training loop: readable top to bottom, extended only through callbacks, penalties and constraints."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from striate.data.loader import BatchLoader
from striate.errors import TrainingError
from striate.models._base import apply_model_constraints, model_loss
from striate.tasks import Task
from striate.train.callbacks import Callback
from striate.tta import tta_logits


class Trainer:
    """Fit a model for a task, one epoch at a time.

    Args:
        model: the network, already on `device`.
        task: owns the loss and the metrics.
        optimizer: any torch optimizer over `model`'s parameters.
        scheduler: stepped once per training step (or None).
        epochs: epochs to train.
        callbacks: hooks called on the grid described in `striate.train.callbacks`.
        penalties: callables `model -> scalar` added to the loss (weight penalties).
        constraints: callables `model -> Any` applied after every optimizer step (max-norm).
        generator: CPU generator that orders the batches; its state is saved with the trainer.
        precision: "fp32", or "bf16" for bfloat16 autocast of the forward pass.
        tta: test-time augmentation used by `evaluate` ("none" or "hflip", see `striate.tta`).
    """

    def __init__(self, model: nn.Module, task: Task, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, *, epochs: int,
                 callbacks: Sequence[Callback] = (), penalties: Iterable[Callable[[nn.Module], torch.Tensor]] = (),
                 constraints: Iterable[Callable[[nn.Module], Any]] = (), generator: torch.Generator | None = None,
                 device: str | torch.device = "cpu", precision: str = "fp32", tta: str = "none"):
        self.model, self.task, self.optimizer, self.scheduler = model, task, optimizer, scheduler
        self.epochs = epochs
        self.callbacks = list(callbacks)
        self.penalties, self.constraints = list(penalties), list(constraints)
        self.generator = generator if generator is not None else torch.Generator()
        self.device = torch.device(device)
        self.precision = precision
        self.tta = tta  # test-time augmentation in `evaluate` (striate.tta)
        self.epoch = 0  # completed epochs
        self.step = 0  # completed optimizer steps
        self.should_stop, self.stop_reason = False, ""
        self.restored_epoch: int | None = None  # set when a callback restores an earlier epoch's weights
        self.history: list[dict[str, float]] = []
        self.steps_per_epoch = self.batch_in_epoch = self.last_batch_size = 0
        self._running: dict[str, torch.Tensor] = {}

    # --- the loop ----------------------------------------------------------------------------------------------------

    def fit(self, train: BatchLoader, val: BatchLoader | None = None) -> list[dict[str, float]]:
        """Train until `epochs` are done or a callback sets `should_stop`; returns the per-epoch metrics."""
        train.generator = self.generator
        self.steps_per_epoch = len(train)
        self._call("on_train_start")
        while self.epoch < self.epochs and not self.should_stop:
            self._call("on_epoch_start")
            start = time.perf_counter()
            train_metrics = self.train_epoch(train)
            self._check_finite(train_metrics)
            seconds = time.perf_counter() - start
            metrics = {"epoch": self.epoch + 1, "step": self.step, "lr": self.optimizer.param_groups[0]["lr"],
                       "epoch_seconds": seconds, "train_samples_per_second": len(train.dataset) / seconds}
            metrics.update({f"train_{key}": value for key, value in train_metrics.items()})
            if val is not None:
                metrics.update({f"val_{key}": value for key, value in self.evaluate(val).items()})
            self.epoch += 1
            self.history.append(metrics)
            self._call("on_epoch_end", metrics)
        self._call("on_train_end")
        return self.history

    def train_epoch(self, loader: BatchLoader) -> dict[str, float]:
        self.model.train()
        self._running = self.task.new_state(self.device)
        for self.batch_in_epoch, (x, y) in enumerate(loader, start=1):
            output, loss = self.training_step(x, y)
            self.task.update(self._running, output, y, loss)
            self._call("on_batch_end")
        return self.task.compute(self._running)

    def _check_finite(self, metrics: dict[str, float]) -> None:
        """Refuse to go on (or to report) once the training loss is NaN or infinite: the weights are lost by then."""
        if not math.isfinite(metrics["loss"]):
            lr = self.optimizer.param_groups[0]["lr"]
            raise TrainingError(f"Training diverged in epoch {self.epoch + 1}: the training loss is {metrics['loss']}, "
                                f"expected a finite loss; lower the learning rate (--lr; {lr:g} at the epoch's end) or "
                                "check the data for non-finite values.")

    def training_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a prepared batch; returns the output and the (unpenalised) loss.

        The seam later loops override or call: everything per batch happens here, so a subclass (or a loop that is
        not an epoch over a dataset) keeps the trainer's state, callbacks and checkpoints.
        """
        with self._autocast():
            output = self.model(x)
            loss = self.loss(output, y)
        objective = loss + sum(penalty(self.model) for penalty in self.penalties) if self.penalties else loss
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        self.optimizer.step()
        for constrain in self.constraints:
            constrain(self.model)
        apply_model_constraints(self.model)  # the model's own (a Text CNN's max-norm)
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        self.last_batch_size = y.shape[0]
        return output, loss

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The model's own loss where it brings one (a capsule network's margin loss), else the task's."""
        own = model_loss(self.model, output, target)
        return own if own is not None else self.task.loss(output, target)

    def evaluate(self, loader: BatchLoader, *, return_state: bool = False):
        """Metrics of the model on `loader` (no gradient); with `return_state` also the raw task state."""
        metrics, state = evaluate_model(self.model, self.task, loader, tta=self.tta, autocast=self._autocast)
        return (metrics, state) if return_state else metrics

    def running_metrics(self) -> dict[str, float]:
        """The current epoch's training metrics so far (synchronises with the device)."""
        return self.task.running_metrics(self._running)

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    # --- complete state ----------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where training stands: weights, optimizer, schedule, callbacks,
        counters and every random number generator."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "callbacks": [callback.state_dict() for callback in self.callbacks],
            "counters": {"epoch": self.epoch, "step": self.step, "should_stop": self.should_stop,
                         "stop_reason": self.stop_reason, "restored_epoch": self.restored_epoch},
            "history": list(self.history),
            "rng": {"generator": self.generator.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                    "python": random.getstate(), "numpy": np.random.get_state()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for callback, callback_state in zip(self.callbacks, state["callbacks"], strict=True):
            callback.load_state_dict(callback_state)
        counters = state["counters"]
        self.epoch, self.step = counters["epoch"], counters["step"]
        self.should_stop, self.stop_reason = counters["should_stop"], counters["stop_reason"]
        self.restored_epoch = counters["restored_epoch"]
        self.history = list(state["history"])
        rng = state["rng"]
        self.generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"]:
            torch.cuda.set_rng_state_all(rng["cuda"])
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])


@torch.inference_mode()
def evaluate_model(model: nn.Module, task: Task, loader: BatchLoader, *, tta: str = "none",
                   autocast: Callable[[], Any] = nullcontext) -> tuple[dict[str, float], dict[str, Any]]:
    """The one evaluation loop: training-time validation, the test split, `striate evaluate` and `Run.evaluate`.

    The loss is the one training minimises (the model's own where it brings one), so every caller reports the same
    numbers for the same run. Returns the task's metrics and its raw state (for details and plots).
    """
    model.eval()
    state = task.new_state(loader.device)
    for x, y in loader:
        with autocast():
            output = tta_logits(model, x, tta)
            own = model_loss(model, output, y)
            loss = own if own is not None else task.loss(output, y)
        task.update(state, output.float(), y, loss.float())
    return task.compute(state), state
