"""Evaluating a saved run on test data, through the same loop and task that training used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from striate.data import BatchLoader, load_data
from striate.data._registry import align
from striate.train.trainer import evaluate_model

if TYPE_CHECKING:
    from striate.runs import Run


def evaluate_run(run: Run, data: str | None = None, batch_size: int = 1024) -> dict[str, Any]:
    """The task's metrics and details for `run` on the test part of `data` (default: the run's own test data).

    With no `data`, the test part is rebuilt exactly as training built it (same loader options, split strategy,
    seed and `test_size`), so the numbers equal those in `results.json`. Returns the metrics (e.g. `loss`,
    `accuracy`), the task's details (e.g. `per_class`, `confusion`), `examples` and `data`.
    """
    config = run.config
    options = config.get("data_args") or {}
    if data is None:
        spec = config.get("data", "fashion-mnist")
        splits = load_data(spec, seed=config.get("seed", 0), split=config.get("split", "auto"),
                           test_data=config.get("test_data"), options=options)
        test = splits.test.seeded_subset(config.get("test_size"), config.get("seed", 0))
        spec = config.get("test_data") or spec
    else:
        spec = data
        test = load_data(data, seed=config.get("seed", 0), split=config.get("split", "auto"), options=options).test
    reference = {**run.info, "vocabulary": run.vocabulary}
    test = align(test, reference, spec)
    loader = BatchLoader(test, batch_size, device=run.device, preprocess=run.preprocessor)
    metrics, state = evaluate_model(run.model, run.task, loader, tta=run.tta)
    return {**metrics, **run.task.details(state), "examples": len(test), "data": spec}
