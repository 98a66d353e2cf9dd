"""Multi-label classification: any subset of K labels per example; sigmoid cross-entropy, F1 and mean AP."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from striate.errors import ConfigError
from striate.tasks._base import Task, register_task


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Average precision per label `(K,)` from scores and 0/1 targets `(N, K)`; NaN for a label with no positive.

    AP = sum over the positives, ranked by score, of the precision at each one's rank, divided by the positives
    (scikit-learn's `average_precision_score`; tied scores count as one threshold).
    """
    result = torch.full((scores.shape[1],), float("nan"), dtype=torch.float64)
    for k in range(scores.shape[1]):
        order = torch.argsort(scores[:, k], descending=True, stable=True)
        s, t = scores[order, k], targets[order, k].double()
        positives = t.sum()
        if positives == 0:
            continue
        last = torch.ones_like(s, dtype=torch.bool)  # the last row of each run of tied scores
        last[:-1] = s[1:] != s[:-1]
        tp = t.cumsum(0)[last]
        seen = torch.arange(1, len(s) + 1, dtype=torch.float64)[last]
        recall_gain = torch.diff(tp, prepend=torch.zeros(1, dtype=torch.float64)) / positives
        result[k] = (recall_gain * tp / seen).sum()
    return result


@register_task
class MultiLabel(Task):
    """K independent yes/no labels per example, from sigmoid outputs.

    Metrics at the decision `threshold`: per-label precision, recall and F1, micro F1 (from the summed counts) and
    macro F1 (mean of the per-label F1), exact-match (subset) accuracy; and the threshold-free mean average precision
    over the labels that have positives. The test scores are kept (N x K floats) for average precision.

    Args:
        classes: label names, or their number.
        loss: "sigmoid_cross_entropy".
        threshold: score above which a label is predicted present.
    """

    name = "multilabel"
    target_kind = "multilabel"
    losses = ("sigmoid_cross_entropy",)
    metrics: ClassVar[dict[str, str]] = {"loss": "min", "micro_f1": "max", "macro_f1": "max", "mean_ap": "max",
                                         "subset_accuracy": "max"}
    monitor = "micro_f1"
    output_noun = "labels"

    def __init__(self, classes: int | list[str], loss: str | None = None, threshold: float = 0.5):
        super().__init__(classes, loss)
        if not 0 < threshold < 1:
            raise ConfigError(f"Invalid multi-label `threshold`: expected a value in (0, 1), received {threshold}.")
        from striate.losses import get_loss

        self.threshold = threshold
        self.criterion = get_loss(self.loss_name)

    def arguments(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.criterion(output, target.to(output.dtype))

    def new_state(self, device: torch.device) -> dict[str, Any]:
        k = self.num_outputs
        zeros = {name: torch.zeros(k, dtype=torch.int64, device=device) for name in ("tp", "fp", "fn")}
        return {"loss_sum": torch.zeros((), dtype=torch.float64, device=device), "exact": torch.zeros(
            (), dtype=torch.int64, device=device), "count": torch.zeros((), dtype=torch.int64, device=device),
            **zeros, "scores": [], "targets": []}

    def update(self, state: dict, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        scores = output.detach().float().sigmoid()
        predicted, actual = scores > self.threshold, target > 0.5
        state["loss_sum"] += loss.detach().double() * target.shape[0]
        state["count"] += target.shape[0]
        state["tp"] += (predicted & actual).sum(0)
        state["fp"] += (predicted & ~actual).sum(0)
        state["fn"] += (~predicted & actual).sum(0)
        state["exact"] += (predicted == actual).all(dim=1).sum()
        state["scores"].append(scores)
        state["targets"].append(actual)

    def _counts(self, state: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(state[name].cpu().double() for name in ("tp", "fp", "fn"))

    def compute(self, state: dict) -> dict[str, float]:
        tp, fp, fn = self._counts(state)  # synchronises with the device
        count = max(int(state["count"]), 1)
        f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
        micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()).clamp_min(1)
        ap = self._average_precision(state)
        return {"loss": float(state["loss_sum"]) / count, "micro_f1": float(micro), "macro_f1": float(f1.mean()),
                "mean_ap": float(ap.nanmean()) if bool((~ap.isnan()).any()) else 0.0,
                "subset_accuracy": float(state["exact"]) / count}

    def running_metrics(self, state: dict) -> dict[str, float]:
        """Everything but mean AP, which ranks every score seen so far: a progress bar refreshes often."""
        saved = state["scores"]
        state["scores"] = []
        try:
            metrics = self.compute(state)
        finally:
            state["scores"] = saved
        return {key: value for key, value in metrics.items() if key != "mean_ap"}

    def _average_precision(self, state: dict) -> torch.Tensor:
        if not state["scores"]:
            return torch.full((self.num_outputs,), float("nan"), dtype=torch.float64)
        return average_precision(torch.cat(state["scores"]).cpu(), torch.cat(state["targets"]).cpu())

    def details(self, state: dict) -> dict[str, Any]:
        tp, fp, fn = self._counts(state)
        precision, recall = tp / (tp + fp).clamp_min(1), tp / (tp + fn).clamp_min(1)
        f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
        ap = self._average_precision(state)
        per_label = {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(t + n),
                            "average_precision": None if a.isnan() else float(a)}
                     for name, p, r, f, t, n, a in zip(self.classes, precision, recall, f1, tp, fn, ap, strict=True)}
        return {"per_label": per_label, "threshold": self.threshold, "examples": int(state["count"])}

    def summary_rows(self, metrics: dict[str, float], prefix: str = "") -> list[tuple[str, str]]:
        names = {"micro_f1": "micro F1", "macro_f1": "macro F1", "mean_ap": "mean average precision",
                 "subset_accuracy": "exact-match accuracy", "loss": "loss"}
        return [(label, f"{metrics[prefix + key]:.4f}") for key, label in names.items() if prefix + key in metrics]

    def details_table(self, details: dict[str, Any]):
        from rich.table import Table

        table = Table(title=f"threshold {details['threshold']}")
        for column in ("label", "precision", "recall", "F1", "AP", "support"):
            table.add_column(column, justify="left" if column == "label" else "right")
        for name, row in details["per_label"].items():
            ap = "-" if row["average_precision"] is None else f"{row['average_precision']:.3f}"
            table.add_row(name, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", ap,
                          f"{row['support']:,}")
        return table

    def plots(self, state: dict, folder: Path, title: str) -> list[Path]:
        from striate.report import plot_per_label

        return [plot_per_label(self.details(state)["per_label"], folder / "labels.png", title=title)]

    def predict(self, output: torch.Tensor, output_kind: str = "logits") -> torch.Tensor:
        """Independent probabilities `(B, K)` from logits `(B, K)`."""
        return output.float() if output_kind == "probabilities" else output.float().sigmoid()

    def format_prediction(self, row: torch.Tensor, top_k: int = 3) -> dict[str, Any]:
        scores = {name: float(p) for name, p in zip(self.classes, row.tolist(), strict=True)}
        return {"labels": [name for name, p in scores.items() if p > self.threshold], "scores": scores}

    def describe_prediction(self, prediction: dict[str, Any]) -> str:
        present = ", ".join(f"{name} {prediction['scores'][name]:.1%}" for name in prediction["labels"])
        return present or f"no label above {self.threshold}"
