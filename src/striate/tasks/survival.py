"""Survival (health-risk prediction): a log-risk score per example trained with Cox's partial likelihood.

As in Pyrkov et al. 2018 (a CNN on physical-activity streams combined with a proportional-hazards model), the network
outputs one number per example, its log hazard ratio eta; the loss is the negative Cox partial log-likelihood with
Breslow's handling of tied times; the metric is Harrell's concordance index. Targets are `(N, 2)`: follow-up time and
event (1) or censoring (0) at that time (`striate.data.survival`).

Hand-written because PyTorch itself has no Cox loss: torchsurv and pycox ship one, but each is a whole survival
library to depend on for a dozen lines of tensor code (a sort and a log-cumulative-sum-exp), which the tests check
against lifelines and a float64 loop. The concordance index and the Kaplan-Meier estimator are short too, so
lifelines stays a test and benchmark reference only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from striate.errors import DataError
from striate.tasks._base import Task, register_task

GROUPS = ("low", "middle", "high")
"""Risk groups of the Kaplan-Meier plot and the details: thirds of the evaluated split by predicted risk."""


def cox_loss(log_risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood with Breslow ties, averaged over the events.

        loss = -1/D * sum over events i of [eta_i - log sum over {j: t_j >= t_i} of exp(eta_j)]

    where D is the number of events: every example tied with an event's time stays in its risk set (Breslow). The
    value is invariant to adding a constant to every eta; with no event it is 0 (still differentiable).

    Args:
        log_risk: `(N,)` or `(N, 1)` predicted log hazard ratios eta.
        time: `(N,)` follow-up times.
        event: `(N,)` 1 for an event at `time`, 0 for censoring.

    Returns:
        A scalar in `log_risk`'s dtype.

    Example:
        >>> round(float(cox_loss(torch.zeros(3), torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 1.0, 0.0]))), 4)
        0.8959
    """
    eta = log_risk.reshape(-1)
    order = torch.argsort(time.reshape(-1), descending=True, stable=True)
    eta, later, happened = eta[order], time.reshape(-1)[order], event.reshape(-1)[order].to(eta.dtype)
    cumulative = torch.logcumsumexp(eta, dim=0)  # log sum of exp(eta) over every example at this row or before it
    last = torch.searchsorted(-later.contiguous(), -later.contiguous(), right=True) - 1  # the last row tied with each
    return -((eta - cumulative[last]) * happened).sum() / happened.sum().clamp_min(1)


def concordance_index(time: torch.Tensor, risk: torch.Tensor, event: torch.Tensor) -> float:
    """Harrell's concordance index: the share of comparable pairs that the risk orders correctly, ties counting half.

    A pair is comparable when the one with the shorter time had an event (or both times are equal and only that one
    had an event); it is ordered correctly when that one has the higher risk (lifelines' `concordance_index` with
    predicted times -risk). NaN when no pair is comparable. Pairs are compared in chunks: O(N * events) time.

    Args:
        time, risk, event: `(N,)` each.
    """
    time, risk, event = (v.detach().reshape(-1).cpu().double() for v in (time, risk, event))
    censored = event < 0.5
    rows = torch.nonzero(~censored).flatten()
    pairs = correct = tied = 0
    for chunk in rows.split(max(1, 2 ** 22 // max(len(time), 1))):
        t, r = time[chunk, None], risk[chunk, None]  # (B, 1) against every example (1, N)
        comparable = (time[None] > t) | ((time[None] == t) & censored[None])
        pairs += int(comparable.sum())
        correct += int((comparable & (risk[None] < r)).sum())
        tied += int((comparable & (risk[None] == r)).sum())
    return (correct + tied / 2) / pairs if pairs else math.nan


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Kaplan-Meier survival estimate: the distinct event times `(K,)` and S(t) just after each `(K,)`.

    S(t) = product over event times s <= t of (1 - d_s / n_s), d_s events at s, n_s examples with time >= s.
    """
    time, event = np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.float64) > 0.5
    times = np.unique(time[event])
    at_risk = len(time) - np.searchsorted(np.sort(time), times, side="left")
    deaths = np.bincount(np.searchsorted(times, time[event]), minlength=len(times))
    return times, np.cumprod(1 - deaths / at_risk)


def median_survival(times: np.ndarray, survival: np.ndarray) -> float | None:
    """The first time S(t) <= 0.5, or None when the curve never gets there."""
    below = np.flatnonzero(survival <= 0.5)
    return float(times[below[0]]) if len(below) else None


@register_task
class Survival(Task):
    """Time to an event from a log-risk score: Cox's partial likelihood, the concordance index, risk groups.

    The model has one output, the log hazard ratio eta; targets `(N, 2)` are the follow-up time and the event.
    Metrics over the whole evaluated split, from the kept scores: `loss`, the partial likelihood per event with every
    example of the split in the risk sets (the same number whatever the batch size or process count; training
    minimises it over the risk sets within each batch, and its size grows with the split's, so training and
    validation losses are not comparable), and `c_index`, Harrell's concordance index (monitored).

    The Cox likelihood ignores a constant added to every score, so a score means something against a reference:
    `reference_risk`, the mean score over the training split, which `fit_outputs` records once the model is trained;
    predictions give the score and the hazard ratio exp(eta - reference_risk) (None until a reference is recorded).

    Args:
        classes: the target names, ["time", "event"].
        loss: "cox" (Breslow ties).
        reference_risk: the training split's mean log-risk (filled by `fit_outputs`).
    """

    name = "survival"
    target_kind = "real"
    losses = ("cox",)
    metrics: ClassVar[dict[str, str]] = {"loss": "min", "c_index": "max"}
    monitor = "c_index"
    output_noun = "risk score"
    needs_training_outputs: ClassVar[bool] = True  # `fit_outputs` wants an evaluation on the training split

    def __init__(self, classes: int | list[str] = ("time", "event"), loss: str | None = None,
                 reference_risk: float | None = None):
        super().__init__(list(classes) if isinstance(classes, tuple) else classes, loss)
        self.reference_risk = reference_risk

    @property
    def num_outputs(self) -> int:
        return 1

    def arguments(self) -> dict[str, Any]:
        return {"reference_risk": self.reference_risk}

    def fit(self, train) -> Survival:
        """Refuse training targets that are not (time >= 0, event 0/1) pairs, or that hold no event."""
        from striate.data.survival import check_targets

        y = train.y
        if y.dim() != 2 or y.shape[1] != 2:
            raise DataError(f"Invalid targets of `{train.name}` for the survival task: expected (N, 2) columns time "
                            f"and event, received shape {tuple(y.shape)}; use --data survival:PATH.")
        check_targets(y[:, 0].numpy(), y[:, 1].numpy(), f"`{train.name}`")
        if len(y) and not bool((y[:, 1] == 1).any()):
            raise DataError(f"The training part of `{train.name}` holds no event: expected at least one row with "
                            "event 1 for the survival task; every row is censored.")
        return self

    def fit_outputs(self, state: dict) -> None:
        """Record the mean log-risk of an evaluation of the trained model on the training split as the reference."""
        scores, _ = self._kept(state)
        self.reference_risk = float(scores.double().mean()) if len(scores) else None

    # --- training and metrics ------------------------------------------------------------------------------------

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cox loss of outputs `(B, 1)` against targets `(B, 2)`, with the batch's examples as the risk sets."""
        return cox_loss(output.float(), target[:, 0], target[:, 1])

    def new_state(self, device: torch.device) -> dict[str, Any]:
        return {"loss_sum": torch.zeros((), dtype=torch.float64, device=device),
                "count": torch.zeros((), dtype=torch.int64, device=device), "scores": [], "targets": []}

    def update(self, state: dict, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        state["loss_sum"] += loss.detach().double() * target.shape[0]
        state["count"] += target.shape[0]
        state["scores"].append(output.detach().float().reshape(-1))
        state["targets"].append(target.detach().float())

    def _kept(self, state: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores `(N,)` and targets `(N, 2)` of the whole split, on the CPU (synchronises with the device)."""
        if not state["scores"]:
            return torch.zeros(0), torch.zeros(0, 2)
        return torch.cat(state["scores"]).cpu(), torch.cat(state["targets"]).cpu()

    def compute(self, state: dict) -> dict[str, float]:
        scores, targets = self._kept(state)
        if not len(scores):
            return {"loss": math.nan, "c_index": math.nan}
        time, event = targets[:, 0].double(), targets[:, 1].double()
        return {"loss": float(cox_loss(scores.double(), time, event)),
                "c_index": concordance_index(time, scores, event)}

    def running_metrics(self, state: dict) -> dict[str, float]:
        """The mean batch loss so far: a progress bar refreshes often, and the whole-split numbers rank everything."""
        return {"loss": float(state["loss_sum"]) / max(int(state["count"]), 1)}

    def _groups(self, scores: torch.Tensor) -> torch.Tensor:
        """Group index 0, 1, 2 (low, middle, high risk) by the thirds of `scores`."""
        cuts = torch.quantile(scores.double(), torch.tensor([1 / 3, 2 / 3], dtype=torch.float64))
        return torch.bucketize(scores.double(), cuts, right=True)

    def details(self, state: dict) -> dict[str, Any]:
        scores, targets = self._kept(state)
        time, event = targets[:, 0].numpy(), targets[:, 1].numpy()
        groups = self._groups(scores).numpy() if len(scores) else np.zeros(0, dtype=np.int64)
        per_group = {}
        for index, name in enumerate(GROUPS):
            rows = groups == index
            if rows.any():
                curve = kaplan_meier(time[rows], event[rows])
                per_group[name] = {"examples": int(rows.sum()), "events": int(event[rows].sum()),
                                   "mean_risk": float(scores[torch.from_numpy(rows)].double().mean()),
                                   "median_time": median_survival(*curve)}
        return {"groups": per_group, "examples": len(scores), "events": int(event.sum()),
                "reference_risk": self.reference_risk}

    # --- presentation --------------------------------------------------------------------------------------------

    def summary_rows(self, metrics: dict[str, float], prefix: str = "") -> list[tuple[str, str]]:
        names = {"c_index": "concordance index", "loss": "loss (partial likelihood per event)"}
        return [(label, f"{metrics[prefix + key]:.4f}") for key, label in names.items() if prefix + key in metrics]

    def details_table(self, details: dict[str, Any]):
        from rich.table import Table

        table = Table(caption="risk groups: thirds of the examples by predicted risk; median time from Kaplan-Meier")
        for column in ("risk group", "examples", "events", "mean log-risk", "median time"):
            table.add_column(column, justify="left" if column == "risk group" else "right")
        for name, row in details["groups"].items():
            median = "not reached" if row["median_time"] is None else f"{row['median_time']:.4g}"
            table.add_row(name, f"{row['examples']:,}", f"{row['events']:,}", f"{row['mean_risk']:.3f}", median)
        return table

    def plots(self, state: dict, folder: Path, title: str) -> list[Path]:
        """survival.png: Kaplan-Meier curves of the low, middle and high predicted-risk thirds."""
        scores, targets = self._kept(state)
        if len(scores) < 3:
            return []
        return [plot_risk_groups(targets[:, 0].numpy(), targets[:, 1].numpy(), self._groups(scores).numpy(),
                                 folder / "survival.png", title=title)]

    # --- prediction ----------------------------------------------------------------------------------------------

    def predict(self, output: torch.Tensor, output_kind: str = "values") -> torch.Tensor:
        """The log-risk score `(B, 1)`: higher means an earlier event."""
        return output.float()

    def format_prediction(self, row: torch.Tensor, top_k: int = 3) -> dict[str, Any]:
        score = float(row.reshape(-1)[0])
        ratio = None if self.reference_risk is None else math.exp(score - self.reference_risk)
        return {"risk_score": score, "hazard_ratio": ratio}

    def describe_prediction(self, prediction: dict[str, Any]) -> str:
        if prediction["hazard_ratio"] is None:
            return f"risk score {prediction['risk_score']:.4g} (log hazard ratio; no training mean recorded)"
        return f"risk score {prediction['risk_score']:.4g}, hazard ratio {prediction['hazard_ratio']:.3g} against " \
               "the training mean"


def plot_risk_groups(time: np.ndarray, event: np.ndarray, groups: np.ndarray, path: str | Path,
                     title: str = "") -> Path:
    """Kaplan-Meier curves, one per risk group (index into `GROUPS`), with examples and events in the legend."""
    from striate.report import _pyplot, _save

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for index, (name, colour) in enumerate(zip(GROUPS, ("tab:green", "tab:orange", "tab:red"), strict=True)):
        rows = groups == index
        if not rows.any():
            continue
        times, survival = kaplan_meier(time[rows], event[rows])
        last = survival[-1] if len(survival) else 1.0  # flat from the last event to the last follow-up
        axis.step(np.concatenate([[0.0], times, [time[rows].max()]]), np.concatenate([[1.0], survival, [last]]),
                  where="post", color=colour,
                  label=f"{name} risk: {int(rows.sum())} examples, {int(event[rows].sum())} events")
    axis.set_xlabel("follow-up time")
    axis.set_ylabel("share without the event (Kaplan-Meier)")
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower left")
    axis.set_title(title or "survival by predicted risk", fontsize=10)
    return _save(figure, path)
