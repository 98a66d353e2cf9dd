"""Tasks own what depends on the kind of target: the loss, the metrics and the prediction format.

Classification is implemented; multi-label, regression, forecasting and anomaly detection plug in as further
`Task` subclasses registered in `TASKS`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from striate.errors import ConfigError, did_you_mean


class Task:
    """Interface every task implements.

    Metrics are accumulated as sums over batches (`update`) and turned into averages once (`compute`), so an epoch
    synchronises with the device only at its end.
    """

    name = "task"
    monitor = "loss"  # the metric early stopping and checkpoints watch by default
    monitor_mode = "min"

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def new_state(self, device: torch.device) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def update(self, state: dict, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self, state: dict) -> dict[str, float]:
        raise NotImplementedError

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Classification(Task):
    """K mutually exclusive classes: a loss by name, accuracy and a confusion matrix.

    Args:
        num_classes: K.
        loss: "softmax" (cross-entropy, the default), or "sigmoid_cross_entropy" / "euclidean" against one-hot
            targets (one-vs-all logistic units; LeCun et al.'s squared error on the outputs).
        label_smoothing: softmax only: mixes the one-hot target with the uniform distribution.
        class_weights: softmax only: per-class weights, e.g. for imbalanced data.
    """

    name = "classification"
    monitor = "accuracy"
    monitor_mode = "max"

    def __init__(self, num_classes: int, loss: str = "softmax", label_smoothing: float = 0.0,
                 class_weights: list[float] | None = None):
        from striate.losses import get_loss

        self.num_classes = num_classes
        self.loss_name = loss.replace("-", "_").lower()
        if self.loss_name in {"softmax", "cross_entropy"}:
            self.criterion = get_loss(loss, label_smoothing=label_smoothing, class_weights=class_weights,
                                      check_targets=False)
            if class_weights is not None and len(class_weights) != num_classes:  # checked once, not per batch
                raise ConfigError(f"Invalid `class_weights`: expected one value per class ({num_classes}), "
                                  f"received {len(class_weights)} values.")
            self.one_hot = False
        else:
            if label_smoothing or class_weights:
                raise ConfigError(f"Invalid `loss` {loss!r} with label_smoothing/class_weights: those apply to the "
                                  "softmax loss only; remove them or use `loss: softmax`.")
            self.criterion = get_loss(loss)
            self.one_hot = True

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss of outputs `(B, K)` against class indices `(B,)`."""
        if self.one_hot:
            return self.criterion(output, F.one_hot(target, self.num_classes).to(output.dtype))
        if self.criterion.class_weights is not None and self.criterion.class_weights.device != output.device:
            self.criterion.to(output.device)
        return self.criterion(output, target)

    def new_state(self, device: torch.device) -> dict[str, torch.Tensor]:
        k = self.num_classes
        return {"loss_sum": torch.zeros((), dtype=torch.float64, device=device),
                "confusion": torch.zeros(k, k, dtype=torch.int64, device=device)}

    def update(self, state: dict, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        state["loss_sum"] += loss.detach().double() * target.shape[0]
        index = target * self.num_classes + output.detach().argmax(dim=1)  # row = true class, column = predicted
        state["confusion"] += torch.bincount(index, minlength=self.num_classes**2).view(self.num_classes, -1)

    def compute(self, state: dict) -> dict[str, float]:
        confusion = state["confusion"].cpu()  # synchronises with the device
        total = int(confusion.sum())
        return {"loss": float(state["loss_sum"]) / max(total, 1),
                "accuracy": float(confusion.diagonal().sum()) / max(total, 1)}

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        """Class probabilities `(B, K)` from logits `(B, K)`."""
        return output.float().softmax(dim=1)


TASKS = {"classification": Classification}


def create_task(name: str, **kwargs) -> Task:
    if name not in TASKS:
        raise ConfigError(f"Unknown task `{name}`: expected one of {', '.join(TASKS)}.{did_you_mean(name, TASKS)}")
    return TASKS[name](**kwargs)
