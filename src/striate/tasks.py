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
    """K mutually exclusive classes: softmax cross-entropy, accuracy and a confusion matrix.

    Args:
        num_classes: K.
        label_smoothing: mixes the one-hot target with the uniform distribution (0 disables it).
    """

    name = "classification"
    monitor = "accuracy"
    monitor_mode = "max"

    def __init__(self, num_classes: int, label_smoothing: float = 0.0):
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of logits `(B, K)` against class indices `(B,)`."""
        return F.cross_entropy(output, target, label_smoothing=self.label_smoothing)

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
