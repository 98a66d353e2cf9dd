"""Classification: K mutually exclusive classes; accuracy, per-class accuracy and a confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from striate.errors import ConfigError, DataError
from striate.tasks._base import Task, register_task


@register_task
class Classification(Task):
    """K mutually exclusive classes: a loss by name, accuracy and a confusion matrix.

    Args:
        classes: class names, or their number K.
        loss: "softmax" (cross-entropy, the default), or "sigmoid_cross_entropy" / "euclidean" against one-hot
            targets (one-vs-all logistic units; LeCun et al.'s squared error on the outputs).
        label_smoothing: softmax only: mixes the one-hot target with the uniform distribution.
        class_weights: softmax only: per-class weights, e.g. for imbalanced data.

    Predictions are scores per class: softmax probabilities for the softmax loss, independent sigmoid probabilities
    for the sigmoid loss, outputs clipped to [0, 1] for the Euclidean loss, and the lengths themselves for a capsule
    network (a capsule's length is the probability that its entity is present; a softmax over lengths would turn a
    length of 0.99 into 0.23).
    """

    name = "classification"
    target_kind = "class"
    losses = ("softmax", "cross_entropy", "sigmoid_cross_entropy", "euclidean")
    metrics: ClassVar[dict[str, str]] = {"loss": "min", "accuracy": "max"}
    monitor = "accuracy"
    output_noun = "classes"

    def __init__(self, classes: int | list[str], loss: str | None = None, label_smoothing: float = 0.0,
                 class_weights: list[float] | None = None):
        super().__init__(classes, loss)
        from striate.losses import get_loss

        self.label_smoothing, self.class_weights = label_smoothing, class_weights
        self.one_hot = self.loss_name not in {"softmax", "cross_entropy"}
        if not self.one_hot:
            if class_weights is not None and len(class_weights) != self.num_outputs:  # checked once, not per batch
                raise ConfigError(f"Invalid `class_weights`: expected one value per class ({self.num_outputs}), "
                                  f"received {len(class_weights)} values.")
            self.criterion = get_loss(self.loss_name, label_smoothing=label_smoothing, class_weights=class_weights,
                                      check_targets=False)
        else:
            if label_smoothing or class_weights:
                raise ConfigError(f"Invalid `loss` {self.loss_name!r} with label_smoothing/class_weights: those apply "
                                  "to the softmax loss only; remove them or use `loss: softmax`.")
            self.criterion = get_loss(self.loss_name)

    @property
    def num_classes(self) -> int:
        return self.num_outputs

    def fit(self, train) -> Classification:
        """Refuse training data with a single class: every prediction would be right and nothing learned."""
        present = torch.unique(train.y)
        if len(present) < 2:
            names = [train.classes[i] for i in present.tolist()] if train.classes else present.tolist()
            raise DataError(f"The training part of `{train.name}` holds examples of {len(present)} class "
                            f"({', '.join(map(repr, names)) or 'none'}): expected at least 2 for classification; "
                            "check the labels (or a small --train-size).")
        return self

    def arguments(self) -> dict[str, Any]:
        return {"label_smoothing": self.label_smoothing, "class_weights": self.class_weights}

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss of outputs `(B, K)` against class indices `(B,)`."""
        if self.one_hot:
            return self.criterion(output, F.one_hot(target, self.num_outputs).to(output.dtype))
        if self.criterion.class_weights is not None and self.criterion.class_weights.device != output.device:
            self.criterion.to(output.device)
        return self.criterion(output, target)

    def new_state(self, device: torch.device) -> dict[str, torch.Tensor]:
        k = self.num_outputs
        return {"loss_sum": torch.zeros((), dtype=torch.float64, device=device),
                "confusion": torch.zeros(k, k, dtype=torch.int64, device=device)}

    def update(self, state: dict, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        k = self.num_outputs
        state["loss_sum"] += loss.detach().double() * target.shape[0]
        index = target * k + output.detach().argmax(dim=1)  # row = true class, column = predicted
        state["confusion"] += torch.bincount(index, minlength=k * k).view(k, k)

    def compute(self, state: dict) -> dict[str, float]:
        confusion = state["confusion"].cpu()  # synchronises with the device
        total = int(confusion.sum())
        return {"loss": float(state["loss_sum"]) / max(total, 1),
                "accuracy": float(confusion.diagonal().sum()) / max(total, 1)}

    def details(self, state: dict) -> dict[str, Any]:
        confusion = state["confusion"].cpu().numpy()
        recall = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
        return {"per_class": dict(zip(self.classes, recall.tolist(), strict=True)), "confusion": confusion.tolist(),
                "examples": int(confusion.sum())}

    def summary_rows(self, metrics: dict[str, float], prefix: str = "") -> list[tuple[str, str]]:
        return [("accuracy", f"{metrics[prefix + 'accuracy']:.2%}"), ("loss", f"{metrics[prefix + 'loss']:.4f}")]

    def details_table(self, details: dict[str, Any]):
        from rich.table import Table

        table = Table()
        table.add_column("class")
        table.add_column("accuracy", justify="right")
        table.add_column("examples", justify="right")
        counts = np.asarray(details["confusion"]).sum(axis=1)
        for (cls, accuracy), count in zip(details["per_class"].items(), counts, strict=True):
            table.add_row(cls, f"{accuracy:.2%}", f"{int(count):,}")
        return table

    def plots(self, state: dict, folder: Path, title: str) -> list[Path]:
        from striate.report import plot_confusion

        return [plot_confusion(state["confusion"].cpu().numpy(), self.classes, folder / "confusion.png", title=title)]

    def predict(self, output: torch.Tensor, output_kind: str = "logits") -> torch.Tensor:
        """Scores per class `(B, K)` from model outputs `(B, K)` (see the class docstring)."""
        output = output.float()
        if output_kind in ("capsule_lengths", "probabilities"):
            return output
        if self.loss_name == "sigmoid_cross_entropy":
            return output.sigmoid()
        if self.loss_name == "euclidean":
            return output.clamp(0, 1)
        return output.softmax(dim=1)

    def format_prediction(self, row: torch.Tensor, top_k: int = 3) -> dict[str, Any]:
        values, indices = row.topk(min(top_k, len(self.classes)))
        return {"top": [(self.classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)]}

    def describe_prediction(self, prediction: dict[str, Any]) -> str:
        return ", ".join(f"{cls} {p:.1%}" for cls, p in prediction["top"])
