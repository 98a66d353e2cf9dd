"""Regression: real-valued targets; the Euclidean loss on standardised targets, MAE, RMSE and R^2."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from striate.tasks._base import Task, register_task


@register_task
class Regression(Task):
    """T real targets per example (T >= 1).

    With `standardize` (the default) the model learns `(y - mean) / std` with the training split's statistics, which
    are recorded in the task's description, so predictions come back in the targets' own units. Metrics are in those
    units: MAE, RMSE and R^2 (1 - SSE/SST per target, averaged over the targets).

    Args:
        classes: target names, or their number.
        loss: "euclidean" (mean squared error), "euclidean_caffe" (Caffe's 1/(2N) sum ||y - t||^2) or "absolute".
        standardize: learn standardised targets.
        target_mean, target_std: the statistics (filled by `fit` from the training data).
    """

    name = "regression"
    target_kind = "real"
    losses = ("euclidean", "mse", "euclidean_caffe", "absolute")
    metrics: ClassVar[dict[str, str]] = {"loss": "min", "mae": "min", "rmse": "min", "r2": "max"}
    monitor = "loss"
    output_noun = "targets"

    def __init__(self, classes: int | list[str], loss: str | None = None, standardize: bool = True,
                 target_mean: list[float] | None = None, target_std: list[float] | None = None):
        super().__init__(classes, loss)
        from striate.losses import get_loss

        self.standardize = standardize
        self.criterion = get_loss(self.loss_name)
        k = self.num_outputs
        self.target_mean = torch.tensor(target_mean if target_mean is not None else [0.0] * k, dtype=torch.float32)
        self.target_std = torch.tensor(target_std if target_std is not None else [1.0] * k, dtype=torch.float32)

    def arguments(self) -> dict[str, Any]:
        return {"standardize": self.standardize, "target_mean": self.target_mean.tolist(),
                "target_std": self.target_std.tolist()}

    def fit(self, train) -> Regression:
        if self.standardize and len(train):
            y = train.y.double().reshape(len(train), -1)
            self.target_mean = y.mean(0).float()
            self.target_std = y.std(0, correction=0).clamp_min(1e-12).float()
        return self

    def _matrix(self, target: torch.Tensor) -> torch.Tensor:
        return target.reshape(target.shape[0], -1).float()  # (B,) -> (B, 1)

    def _scaled(self, target: torch.Tensor) -> torch.Tensor:
        mean, std = self.target_mean.to(target.device), self.target_std.to(target.device)
        return (self._matrix(target) - mean) / std if self.standardize else self._matrix(target)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of outputs `(B, T)` against targets `(B,)` or `(B, T)`, on the standardised scale."""
        return self.criterion(output, self._scaled(target).to(output.dtype))

    def predict(self, output: torch.Tensor, output_kind: str = "values") -> torch.Tensor:
        """Predictions `(B, T)` in the targets' units."""
        output = output.float()
        if not self.standardize:
            return output
        return output * self.target_std.to(output.device) + self.target_mean.to(output.device)

    def new_state(self, device: torch.device) -> dict[str, Any]:
        k = self.num_outputs
        sums = {name: torch.zeros(k, dtype=torch.float64, device=device) for name in ("abs", "sq", "y", "y2")}
        return {"loss_sum": torch.zeros((), dtype=torch.float64, device=device),
                "count": torch.zeros((), dtype=torch.int64, device=device), **sums, "pred": [], "true": []}

    def update(self, state: dict, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        predicted, actual = self.predict(output.detach()).double(), self._matrix(target).double()
        error = predicted - actual
        state["loss_sum"] += loss.detach().double() * target.shape[0]
        state["count"] += target.shape[0]
        state["abs"] += error.abs().sum(0)
        state["sq"] += error.square().sum(0)
        state["y"] += actual.sum(0)
        state["y2"] += actual.square().sum(0)
        state["pred"].append(predicted.float())
        state["true"].append(actual.float())

    def _per_target(self, state: dict) -> dict[str, torch.Tensor]:
        n = max(int(state["count"]), 1)  # synchronises with the device
        sq, y, y2 = state["sq"].cpu(), state["y"].cpu(), state["y2"].cpu()
        total = (y2 - y.square() / n).clamp_min(1e-12)
        return {"mae": state["abs"].cpu() / n, "rmse": (sq / n).sqrt(), "r2": 1 - sq / total}

    def compute(self, state: dict) -> dict[str, float]:
        per = self._per_target(state)
        mse = (per["rmse"].square()).mean()
        return {"loss": float(state["loss_sum"]) / max(int(state["count"]), 1), "mae": float(per["mae"].mean()),
                "rmse": float(mse.sqrt()), "r2": float(per["r2"].mean())}

    def details(self, state: dict) -> dict[str, Any]:
        per = self._per_target(state)
        return {"per_target": {name: {key: float(values[i]) for key, values in per.items()}
                               for i, name in enumerate(self.classes)}, "examples": int(state["count"])}

    def summary_rows(self, metrics: dict[str, float], prefix: str = "") -> list[tuple[str, str]]:
        loss = "loss (standardised)" if self.standardize else "loss"
        names = {"mae": "MAE", "rmse": "RMSE", "r2": "R²", "loss": loss}
        return [(label, f"{metrics[prefix + key]:.4g}") for key, label in names.items() if prefix + key in metrics]

    def details_table(self, details: dict[str, Any]):
        from rich.table import Table

        table = Table()
        for column in ("target", "MAE", "RMSE", "R²"):
            table.add_column(column, justify="left" if column == "target" else "right")
        for name, row in details["per_target"].items():
            table.add_row(name, f"{row['mae']:.4g}", f"{row['rmse']:.4g}", f"{row['r2']:.4f}")
        return table

    def plots(self, state: dict, folder: Path, title: str) -> list[Path]:
        from striate.report import plot_scatter

        if not state["pred"]:
            return []
        return [plot_scatter(torch.cat(state["true"]).cpu().numpy(), torch.cat(state["pred"]).cpu().numpy(),
                             self.classes, folder / "scatter.png", title=title)]

    def format_prediction(self, row: torch.Tensor, top_k: int = 3) -> dict[str, Any]:
        return {"values": {name: float(v) for name, v in zip(self.classes, row.tolist(), strict=True)}}

    def describe_prediction(self, prediction: dict[str, Any]) -> str:
        return ", ".join(f"{name} {value:.4g}" for name, value in prediction["values"].items())
