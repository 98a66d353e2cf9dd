"""Evaluating a saved run on a dataset's test split: loss, accuracy and per-class accuracy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from striate.data import BatchLoader, load_data
from striate.errors import DataError
from striate.runs import confusion_per_class
from striate.tasks import create_task
from striate.tta import tta_logits

if TYPE_CHECKING:
    from striate.runs import Run


def evaluate_run(run: Run, data: str | None = None, batch_size: int = 1024) -> dict[str, Any]:
    """Metrics of `run` on the test split of `data` (default: the dataset it was trained on).

    Returns a dict with `loss`, `accuracy`, `per_class` (class name -> accuracy), `confusion` (K x K counts, true
    class in rows) and `images`.
    """
    spec = data or run.config.get("data", "fashion-mnist")
    test = load_data(spec).test
    if tuple(test.input_shape) != run.input_shape:
        raise DataError(f"Dataset `{spec}` has inputs of shape {test.input_shape} but run {run.path} expects "
                        f"{run.input_shape}; evaluate on data shaped like the training data.")
    if list(test.classes) != run.classes:
        raise DataError(f"Dataset `{spec}` has classes {test.classes} but run {run.path} was trained on {run.classes}.")
    test.mean, test.std = tuple(run.info["mean"]), tuple(run.info["std"])  # the training normalisation
    task = create_task(run.info["task"], num_classes=len(run.classes))
    state = task.new_state(run.device)
    with torch.inference_mode():
        for x, y in BatchLoader(test, batch_size, device=run.device):
            output = tta_logits(run.model, x, run.tta)
            task.update(state, output, y, task.loss(output, y))
    metrics = task.compute(state)
    confusion = state["confusion"].cpu().numpy()
    per_class = dict(zip(run.classes, confusion_per_class(confusion).tolist(), strict=True))
    return {**metrics, "per_class": per_class, "confusion": confusion.tolist(), "images": int(confusion.sum()),
            "data": spec}
