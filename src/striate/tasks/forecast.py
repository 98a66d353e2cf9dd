"""Forecasting: the next H values of a series, as a point forecast or as quantiles with prediction intervals.

The data's targets are `(N, H + 1)`: H future values and the series' scale (its in-sample seasonal naive error, see
`striate.data.forecast`). The model's output is `(N, H * Q)`, read as `(N, H, Q)`: Q quantiles per step, in the
series' own units (the TCN normalises each window itself and undoes it on its output: `instance_norm`).

Losses, each divided by the window's scale so that series of different sizes weigh alike: "pinball" (the quantile
loss of QCNN and DeepTCN, averaged over the quantiles), "absolute" and "euclidean" (point forecasts). Quantiles are
sorted before the loss and before every prediction, so intervals never cross (monotone rearrangement, Chernozhukov,
Fernandez-Val & Galichon 2010). Metrics, in the series' units: MAE, RMSE, sMAPE (in %) and MASE of the median (the
point forecast), the mean pinball loss, and the coverage of the interval between the outermost quantiles.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from striate.errors import ConfigError
from striate.tasks._base import Task, register_task

DEFAULT_QUANTILES = (0.1, 0.5, 0.9)


def pinball(forecast: torch.Tensor, target: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Elementwise pinball loss of quantile forecasts `(..., Q)` against targets `(...)`: for q and error
    e = y - f, q e if e >= 0 else (q - 1) e."""
    error = target.unsqueeze(-1) - forecast
    return torch.maximum(quantiles * error, (quantiles - 1) * error)


@register_task
class Forecast(Task):
    """H-step forecasts of a series, with Q quantiles per step.

    Args:
        classes: the forecast steps' names ("t+1", ..., "t+H"), or H.
        loss: "pinball" (quantiles), "absolute" or "euclidean" (a point forecast).
        quantiles: the quantile levels of the pinball loss, in (0, 1) (default 0.1, 0.5, 0.9: an 80% interval and
            the median).
    """

    name = "forecast"
    target_kind = "forecast"
    losses = ("pinball", "absolute", "euclidean")
    metrics: ClassVar[dict[str, str]] = {"loss": "min", "mae": "min", "rmse": "min", "smape": "min", "mase": "min",
                                         "pinball": "min", "coverage": "max"}
    monitor = "loss"
    output_noun = "quantile forecasts"

    def __init__(self, classes: int | list[str], loss: str | None = None, quantiles: list[float] | None = None):
        super().__init__(classes, loss)
        if self.loss_name != "pinball":
            if quantiles is not None and list(quantiles) != [0.5]:
                raise ConfigError(f"Invalid `quantiles` for the {self.loss_name} loss: a point forecast has none; use "
                                  "--loss pinball for quantile forecasts.")
            quantiles = [0.5]
        quantiles = sorted(float(q) for q in (quantiles if quantiles is not None else DEFAULT_QUANTILES))
        if not quantiles or not all(0 < q < 1 for q in quantiles) or len(set(quantiles)) != len(quantiles):
            raise ConfigError(f"Invalid `quantiles` {quantiles}: expected distinct levels strictly between 0 and 1.")
        self.quantiles = quantiles
        self.median = min(range(len(quantiles)), key=lambda i: abs(quantiles[i] - 0.5))

    @property
    def horizon(self) -> int:
        return len(self.classes)

    @property
    def num_outputs(self) -> int:
        return self.horizon * len(self.quantiles)

    def arguments(self) -> dict[str, Any]:
        return {"quantiles": self.quantiles}

    def model_arguments(self) -> dict[str, Any]:
        return {"instance_norm": True}

    # --- training and metrics ------------------------------------------------------------------------------------

    def _quantiles(self, output: torch.Tensor) -> torch.Tensor:
        """`(B, H * Q)` -> `(B, H, Q)`, sorted along Q."""
        output = output.to(torch.promote_types(output.dtype, torch.float32))  # float32, or float64 kept
        return output.reshape(len(output), self.horizon, len(self.quantiles)).sort(dim=-1).values

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        forecast = self._quantiles(output)  # (B, H, Q)
        values, scale = target[:, :-1].to(forecast.dtype), target[:, -1:].to(forecast.dtype)  # (B, H), (B, 1)
        if self.loss_name == "pinball":
            levels = torch.tensor(self.quantiles, dtype=forecast.dtype, device=output.device)
            return (pinball(forecast, values, levels) / scale.unsqueeze(-1)).mean()
        error = (forecast[..., 0] - values) / scale
        return error.abs().mean() if self.loss_name == "absolute" else error.square().mean()

    def new_state(self, device: torch.device) -> dict[str, Any]:
        zeros = {name: torch.zeros((), dtype=torch.float64, device=device)
                 for name in ("loss_sum", "abs", "sq", "smape", "scaled", "pinball", "covered")}
        return {**zeros, "count": torch.zeros((), dtype=torch.int64, device=device),
                "windows": torch.zeros((), dtype=torch.int64, device=device)}

    def update(self, state: dict, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        forecast = self._quantiles(output.detach()).double()  # (B, H, Q)
        values, scale = target[:, :-1].double(), target[:, -1:].double()
        point = forecast[..., self.median]
        error = point - values
        denominator = point.abs() + values.abs()
        state["loss_sum"] += loss.detach().double() * target.shape[0]
        state["windows"] += target.shape[0]
        state["count"] += values.numel()
        state["abs"] += error.abs().sum()
        state["sq"] += error.square().sum()
        state["smape"] += torch.where(denominator > 0, 2 * error.abs() / denominator.clamp_min(1e-300), 0.0).sum()
        state["scaled"] += (error.abs() / scale).sum()
        levels = torch.tensor(self.quantiles, dtype=torch.float64, device=output.device)
        state["pinball"] += pinball(forecast, values, levels).mean(-1).sum()
        state["covered"] += ((values >= forecast[..., 0]) & (values <= forecast[..., -1])).sum()

    def compute(self, state: dict) -> dict[str, float]:
        n, windows = max(int(state["count"]), 1), max(int(state["windows"]), 1)  # synchronises with the device
        found = {"loss": float(state["loss_sum"]) / windows, "mae": float(state["abs"]) / n,
                 "rmse": (float(state["sq"]) / n) ** 0.5, "smape": 100 * float(state["smape"]) / n,
                 "mase": float(state["scaled"]) / n, "pinball": float(state["pinball"]) / n}
        if len(self.quantiles) > 1:
            found["coverage"] = float(state["covered"]) / n
        return found

    def details(self, state: dict) -> dict[str, Any]:
        return {"windows": int(state["windows"]), "values": int(state["count"]), "quantiles": self.quantiles,
                "interval": self.interval}

    @property
    def interval(self) -> float | None:
        """The nominal coverage of the outermost quantiles (0.8 for 0.1 and 0.9), None for a point forecast."""
        return round(self.quantiles[-1] - self.quantiles[0], 6) if len(self.quantiles) > 1 else None

    def summary_rows(self, metrics: dict[str, float], prefix: str = "") -> list[tuple[str, str]]:
        names = {"mase": "MASE", "smape": "sMAPE %", "mae": "MAE", "rmse": "RMSE", "pinball": "pinball",
                 "coverage": f"coverage ({self.interval:.0%} interval)" if self.interval else "coverage",
                 "loss": "loss (scaled)"}
        return [(label, f"{metrics[prefix + key]:.4g}") for key, label in names.items() if prefix + key in metrics]

    # --- prediction ----------------------------------------------------------------------------------------------

    def predict(self, output: torch.Tensor, output_kind: str = "values") -> torch.Tensor:
        """`(B, H * Q)` quantile forecasts in the series' units, sorted within each step."""
        return self._quantiles(output).reshape(len(output), -1)

    def format_prediction(self, row: torch.Tensor, top_k: int = 3) -> dict[str, Any]:
        forecast = row.float().reshape(self.horizon, len(self.quantiles))
        found: dict[str, Any] = {"values": {step: float(forecast[h, self.median])
                                            for h, step in enumerate(self.classes)}}
        if len(self.quantiles) > 1:
            found["intervals"] = {step: [float(forecast[h, 0]), float(forecast[h, -1])]
                                  for h, step in enumerate(self.classes)}
            found["level"] = self.interval
            found["quantiles"] = {f"{q:g}": [float(v) for v in forecast[:, i]] for i, q in enumerate(self.quantiles)}
        return found

    def describe_prediction(self, prediction: dict[str, Any]) -> str:
        steps = list(prediction["values"].items())
        shown = steps if len(steps) <= 6 else [*steps[:3], *steps[-2:]]
        parts = []
        for step, value in shown:
            interval = prediction.get("intervals", {}).get(step)
            parts.append(f"{step} {value:.4g}" + (f" [{interval[0]:.4g}, {interval[1]:.4g}]" if interval else ""))
        if len(shown) < len(steps):
            parts.insert(3, "...")
        return ", ".join(parts)
