"""The task contract: everything that depends on what the targets mean.

A task owns its loss (by name from `striate.losses`), its metrics as device-side sums, a check of the model's output
shape, the metric and mode that early stopping and best-checkpoint selection watch, what `results.json`, the
end-of-run table and `striate evaluate` show, its plots, its prediction format, and its own description in
`model.json`, so that a run rebuilds its task exactly. Where a new task goes: a module in `striate.tasks` with a
`Task` subclass decorated by `register_task`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, ClassVar

import torch

from striate.errors import ConfigError, ShapeError, did_you_mean

OUTPUT_KINDS = ("logits", "probabilities", "capsule_lengths", "q_values", "values")


class Task:
    """Interface every task implements.

    Metrics are accumulated as sums over batches (`update`) and turned into values once (`compute`), so an epoch
    synchronises with the device only at its end.

    Args:
        classes: names of the output columns (classes, labels or targets), or their number.
        loss: a loss name from `losses` (the first is the default).
    """

    name: ClassVar[str] = "task"
    target_kind: ClassVar[str] = ""
    losses: ClassVar[tuple[str, ...]] = ()
    metrics: ClassVar[dict[str, str]] = {"loss": "min"}  # every scalar metric and whether lower or higher is better
    monitor: ClassVar[str] = "loss"  # what early stopping and best checkpoints watch by default
    needs_training_outputs: ClassVar[bool] = False  # `fit_outputs` wants the trained model's outputs on the train set

    def __init__(self, classes: int | list[str], loss: str | None = None):
        self.classes = [str(i) for i in range(classes)] if isinstance(classes, int) else [str(c) for c in classes]
        self.loss_name = (loss or self.losses[0]).replace("-", "_").lower()
        if self.loss_name not in self.losses:
            raise ConfigError(f"Invalid `loss` {loss!r} for the {self.name} task: expected one of "
                              f"{', '.join(self.losses)}.{did_you_mean(self.loss_name, self.losses)}")

    @property
    def num_outputs(self) -> int:
        return len(self.classes)

    def mode(self, metric: str) -> str:
        """'min' or 'max' for a metric name with or without its split prefix (`val_accuracy`)."""
        base = metric.split("_", 1)[1] if metric.split("_", 1)[0] in ("train", "val", "test") else metric
        if base not in self.metrics:
            raise ConfigError(f"Unknown metric `{metric}` for the {self.name} task: expected one of "
                              f"{', '.join(self.metrics)} with a train_ or val_ prefix.")
        return self.metrics[base]

    # --- description ---------------------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable: `create_task(**describe())` rebuilds this task with its fitted statistics."""
        return {"name": self.name, "classes": list(self.classes), "loss": self.loss_name, **self.arguments()}

    def arguments(self) -> dict[str, Any]:
        """Task-specific constructor arguments (and fitted statistics) recorded by `describe`."""
        return {}

    def model_arguments(self) -> dict[str, Any]:
        """Keyword arguments the task needs the model built with (a forecaster's `instance_norm`); the model must
        accept each one."""
        return {}

    def fit_outputs(self, state: dict) -> None:
        """Learn from the trained model's evaluation state on the training split (a survival model's reference risk);
        called after training when `needs_training_outputs`."""

    def fit(self, train) -> Task:
        """Learn what the task needs from the training data (target statistics); returns self."""
        return self

    def check_output(self, shape: tuple[int, ...], model: str) -> None:
        """Raise a ShapeError unless a model output of `shape` (batch included) suits this task."""
        if tuple(shape[1:]) != (self.num_outputs,):
            raise ShapeError(f"Model `{model}` returned shape {tuple(shape)}: expected (N, {self.num_outputs}) for the "
                             f"{self.num_outputs} {self.output_noun} of the {self.name} task.")

    output_noun: ClassVar[str] = "outputs"

    # --- training and metrics ------------------------------------------------------------------------------------

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def new_state(self, device: torch.device) -> dict[str, Any]:
        raise NotImplementedError

    def update(self, state: dict, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self, state: dict) -> dict[str, float]:
        """Scalar metrics (the keys of `metrics`) from the accumulated state; synchronises with the device."""
        raise NotImplementedError

    def running_metrics(self, state: dict) -> dict[str, float]:
        """Metrics for a progress bar mid-epoch: `compute`, unless a task has a cheaper partial answer."""
        return self.compute(state)

    def details(self, state: dict) -> dict[str, Any]:
        """JSON-serialisable breakdown for `striate evaluate` and `results.json` (per class, per label, ...)."""
        return {}

    # --- presentation --------------------------------------------------------------------------------------------

    def summary_rows(self, metrics: dict[str, float], prefix: str = "") -> list[tuple[str, str]]:
        """(label, value) rows for the end-of-run table and `striate evaluate`."""
        return [(key.replace("_", " "), f"{metrics[prefix + key]:.4f}") for key in self.metrics
                if prefix + key in metrics]

    def details_table(self, details: dict[str, Any]):
        """A rich Table of `details` for `striate evaluate`, or None."""
        return None

    def baselines_table(self, metrics: dict[str, float], baselines: dict[str, dict[str, float]], prefix: str = ""):
        """A rich Table of the model's metrics beside simple methods' on the same test data (`baselines`: name ->
        metrics, as a forecasting data set computes them), over the metrics both have; None without baselines."""
        if not baselines:
            return None
        from rich.table import Table

        shared = [key for key in self.metrics if prefix + key in metrics and all(key in b for b in baselines.values())]
        table = Table(title="the model beside simple methods, on the same test windows")
        table.add_column("method")
        for key in shared:
            table.add_column(self.summary_rows({key: 0.0})[0][0], justify="right")  # the metric's display name
        table.add_row("this model", *(f"{metrics[prefix + key]:.4g}" for key in shared), style="bold")
        for name, values in baselines.items():
            table.add_row(name, *(f"{values[key]:.4g}" for key in shared))
        return table

    def plots(self, state: dict, folder: Path, title: str) -> list[Path]:
        """Write the task's pictures of a test evaluation into `folder`; returns their paths."""
        return []

    # --- prediction ----------------------------------------------------------------------------------------------

    def predict(self, output: torch.Tensor, output_kind: str = "logits") -> torch.Tensor:
        """What a user receives for model outputs `(B, K)`: probabilities, scores or values in target units."""
        raise NotImplementedError

    def format_prediction(self, row: torch.Tensor, top_k: int = 3) -> dict[str, Any]:
        """One example's prediction as JSON-serialisable data (for `predict` and the HTTP service)."""
        raise NotImplementedError

    def describe_prediction(self, prediction: dict[str, Any]) -> str:
        """One line of text for a formatted prediction."""
        raise NotImplementedError


TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    TASKS[cls.name] = cls
    return cls


def create_task(name: str, classes: int | list[str], **kwargs) -> Task:
    """Build a registered task by name; unknown names and arguments are ConfigErrors with a close match."""
    if name not in TASKS:
        raise ConfigError(f"Unknown task `{name}`: expected one of {', '.join(TASKS)}.{did_you_mean(name, TASKS)}")
    cls = TASKS[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "classes")]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(f"Unknown argument `{unknown[0]}` for the {name} task: expected one of {', '.join(valid)}."
                          f"{did_you_mean(unknown[0], valid)}")
    return cls(classes, **kwargs)


def task_from_description(info: dict[str, Any]) -> Task:
    """The task a run's `model.json` describes (`Task.describe()`)."""
    info = dict(info)
    return create_task(info.pop("name"), info.pop("classes"), **info)
