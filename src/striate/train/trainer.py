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
from striate.train.distributed import SINGLE, World, agree, gather_same_shape, reduce_state, wrap_model
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
        clip_grad_norm: clip the gradients' global norm to this before each optimizer step (None: no clipping).
        world: the training processes this one belongs to (`striate.train.distributed`). With more than one, the
            forward pass runs through `DistributedDataParallel`, the loaders give this process's shard, metrics are
            summed over the processes, and `state_dict` (a collective: every process calls it) holds every
            process's RNG state. `self.model` stays the plain module, for state, penalties and hooks.

    `state_dict()` holds everything to continue exactly where training stands, the position inside an epoch
    included: a trainer loaded from a mid-epoch state and `fit` again ends with the same weights, bit for bit on a
    CPU, as one that was never stopped.
    """

    def __init__(self, model: nn.Module, task: Task, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, *, epochs: int,
                 callbacks: Sequence[Callback] = (), penalties: Iterable[Callable[[nn.Module], torch.Tensor]] = (),
                 constraints: Iterable[Callable[[nn.Module], Any]] = (), generator: torch.Generator | None = None,
                 device: str | torch.device = "cpu", precision: str = "fp32", tta: str = "none",
                 clip_grad_norm: float | None = None, world: World = SINGLE):
        self.model, self.task, self.optimizer, self.scheduler = model, task, optimizer, scheduler
        self.world = world
        self.forward_model = model  # what the training step calls: the model, or its data-parallel wrapper
        if world.active:
            self.forward_model = wrap_model(model, world, torch.device(device))
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
        self.clip_grad_norm = clip_grad_norm
        self._running: dict[str, torch.Tensor] = {}
        self._in_epoch = False  # between the first batch of an epoch and its end
        self._epoch_order_state: torch.Tensor | None = None  # the generator before the epoch drew its batch order
        self._resume_batch = 0  # batches of the current epoch already done by the run this one resumes
        # Divergence is tracked on the device, without a synchronisation per step: the first step whose loss is not
        # finite, and the last finite loss before it.
        self._first_bad_step = torch.tensor(-1, dtype=torch.int64, device=self.device)
        self._last_finite = torch.tensor(float("nan"), dtype=torch.float64, device=self.device)
        self._last_finite_step = torch.tensor(0, dtype=torch.int64, device=self.device)

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
            self.check_finite()
            seconds = time.perf_counter() - start
            metrics = {"epoch": self.epoch + 1, "step": self.step, "lr": self.optimizer.param_groups[0]["lr"],
                       "epoch_seconds": seconds, "train_samples_per_second": len(train.dataset) / seconds}
            metrics.update({f"train_{key}": value for key, value in train_metrics.items()})
            if val is not None:
                metrics.update({f"val_{key}": value for key, value in self.evaluate(val).items()})
            metrics["end_unix_seconds"] = time.time()  # when the epoch and its validation ended, for timelines
            self.epoch += 1
            self.history.append(metrics)
            self._call("on_epoch_end", metrics)
        self._call("on_train_end")
        return self.history

    def train_epoch(self, loader: BatchLoader) -> dict[str, float]:
        self.model.train()
        skip, self._resume_batch = self._resume_batch, 0
        if skip:  # resumed mid-epoch: draw the same batch order again, then continue after the batches already done
            self.generator.set_state(self._epoch_order_state)
        else:
            self._epoch_order_state = self.generator.get_state()
            self._running = self.task.new_state(self.device)
        self._in_epoch = True
        for self.batch_in_epoch, (x, y) in enumerate(loader.batches(skip), start=skip + 1):
            output, loss = self.training_step(x, y)
            self.task.update(self._running, output, y, loss)
            self._call("on_batch_end")
        self._in_epoch = False
        return self.task.compute(reduce_state(self.world, self._running))

    def check_finite(self) -> None:
        """Refuse to go on (or to save, or to report) once a training loss was NaN or infinite: the weights are lost
        by then. Synchronises with the device."""
        bad = int(self._first_bad_step)
        if self.world.active:  # every process stops at the same point, at the first bad step of any of them
            first = agree(self.world, bad if bad >= 0 else math.inf, "min")
            bad = int(first) if math.isfinite(first) else -1
        if bad < 0:
            return
        lr = self.optimizer.param_groups[0]["lr"]
        last = float(self._last_finite)
        before = f"the last finite loss was {last:.4g} at step {int(self._last_finite_step)}" if math.isfinite(last) \
            else "no step had a finite loss"
        raise TrainingError(f"Training diverged at step {bad} (epoch {self.epoch + 1}): the loss is not finite, "
                            f"expected a finite loss ({before}); lower the learning rate (--lr; {lr:g} now), clip "
                            "gradients (--clip-grad-norm 1.0) or check the data for non-finite values. The last "
                            "checkpoint, if any, is from before it.")

    def training_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a prepared batch; returns the output and the (unpenalised) loss.

        The seam later loops override or call: everything per batch happens here, so a subclass (or a loop that is
        not an epoch over a dataset) keeps the trainer's state, callbacks and checkpoints.
        """
        with self._autocast():
            output = self.forward_model(x)
            loss = self.loss(output, y)
        objective = loss + sum(penalty(self.model) for penalty in self.penalties) if self.penalties else loss
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        if self.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        for constrain in self.constraints:
            constrain(self.model)
        apply_model_constraints(self.model)  # the model's own (a Text CNN's max-norm)
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        self.last_batch_size = y.shape[0] * self.world.size  # the global batch
        self._track_finite(loss)
        return output, loss

    def _track_finite(self, loss: torch.Tensor) -> None:
        value = loss.detach().double()
        finite = torch.isfinite(value)
        first = (self._first_bad_step < 0) & ~finite
        self._first_bad_step = torch.where(first, self.step, self._first_bad_step)
        keep = finite & (self._first_bad_step < 0)
        self._last_finite = torch.where(keep, value, self._last_finite)
        self._last_finite_step = torch.where(keep, self.step, self._last_finite_step)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The model's own loss where it brings one (a capsule network's margin loss), else the task's."""
        own = model_loss(self.model, output, target)
        return own if own is not None else self.task.loss(output, target)

    def evaluate(self, loader: BatchLoader, *, return_state: bool = False):
        """Metrics of the model on `loader` (no gradient); with `return_state` also the raw task state."""
        metrics, state = evaluate_model(self.model, self.task, loader, tta=self.tta, autocast=self._autocast,
                                        world=self.world)
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
        counters and every random number generator. With several processes, a collective: the running metrics are
        summed over them and each one's torch RNG state is gathered."""
        rng = {"generator": self.generator.get_state(), "torch": torch.get_rng_state(),
               # one process per device under data parallelism: its own device's state is in "ranks"
               "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and not self.world.active else [],
               "python": random.getstate(), "numpy": np.random.get_state()}
        if self.world.active:
            cuda = self.device.type == "cuda"
            rng["ranks"] = {"torch": gather_same_shape(self.world, torch.get_rng_state()),
                            "cuda": gather_same_shape(self.world, torch.cuda.get_rng_state(self.device)) if cuda
                            else []}
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "callbacks": {key: callback.state_dict() for key, callback in self._callback_keys()},
            "counters": {"epoch": self.epoch, "step": self.step, "epochs": self.epochs, "should_stop": self.should_stop,
                         "stop_reason": self.stop_reason, "restored_epoch": self.restored_epoch},
            "position": {"batch_in_epoch": self.batch_in_epoch if self._in_epoch else 0,
                         "epoch_order_state": self._epoch_order_state,
                         "running": reduce_state(self.world, self._running)},
            "history": list(self.history),
            "rng": rng,
        }

    def _callback_keys(self) -> list[tuple[str, Callback]]:
        """Each callback with a stable key: its class name, numbered from the second of a kind on."""
        seen: dict[str, int] = {}
        keys = []
        for callback in self.callbacks:
            name = type(callback).__name__
            seen[name] = seen.get(name, 0) + 1
            keys.append((name if seen[name] == 1 else f"{name}#{seen[name]}", callback))
        return keys

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        _match_parameter_layouts(self.optimizer)
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        saved = state["callbacks"]
        for key, callback in self._callback_keys():
            if key in saved:  # matched by type, so a resumed run may add or drop stateless ones (a progress bar)
                callback.load_state_dict(saved[key])
        counters = state["counters"]
        self.epoch, self.step = counters["epoch"], counters["step"]
        self.should_stop, self.stop_reason = counters["should_stop"], counters["stop_reason"]
        self.restored_epoch = counters["restored_epoch"]
        position = state["position"]
        self._resume_batch = position["batch_in_epoch"]
        self._epoch_order_state = position["epoch_order_state"]
        if self.world.is_main:  # the saved running metrics are every process's sum: one process carries them on
            self._running = {key: _to(value, self.device) for key, value in position["running"].items()}
        else:
            self._running = self.task.new_state(self.device)
        self.history = list(state["history"])
        rng = state["rng"]
        self.generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and not self.world.active:
            torch.cuda.set_rng_state_all(rng["cuda"])
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        ranks = rng.get("ranks")
        if self.world.active and ranks and len(ranks["torch"]) == self.world.size:
            torch.set_rng_state(ranks["torch"][self.world.rank])
            if ranks["cuda"] and self.device.type == "cuda":
                torch.cuda.set_rng_state(ranks["cuda"][self.world.rank], self.device)


def _match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each optimizer moment its parameter's memory layout again (channels-last for image models).

    Checkpoints store tensors contiguous; a fused optimizer stepping contiguous moments against channels-last
    parameters rounds differently, and the resumed run would drift from the uninterrupted one in the last bits.
    """
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for key, value in optimizer.state.get(parameter, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == parameter.shape \
                        and value.stride() != parameter.stride():
                    optimizer.state[parameter][key] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)


def _to(value: Any, device: torch.device) -> Any:
    """A tensor, or a list of tensors (a task's kept scores), moved to `device`."""
    if isinstance(value, list):
        return [_to(item, device) for item in value]
    return value.to(device) if isinstance(value, torch.Tensor) else value


@torch.inference_mode()
def evaluate_model(model: nn.Module, task: Task, loader: BatchLoader, *, tta: str = "none",
                   autocast: Callable[[], Any] = nullcontext, world: World = SINGLE
                   ) -> tuple[dict[str, float], dict[str, Any]]:
    """The one evaluation loop: training-time validation, the test split, `striate evaluate` and `Run.evaluate`.

    The loss is the one training minimises (the model's own where it brings one), so every caller reports the same
    numbers for the same run. Returns the task's metrics and its raw state (for details and plots). With several
    processes each evaluates its shard of `loader` and the states are summed, so all of them get the same numbers.
    """
    model.eval()
    state = task.new_state(loader.device)
    for x, y in loader:
        with autocast():
            output = tta_logits(model, x, tta)
            own = model_loss(model, output, y)
            loss = own if own is not None else task.loss(output, y)
        task.update(state, output.float(), y, loss.float())
    state = reduce_state(world, state)
    return task.compute(state), state
