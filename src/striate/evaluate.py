"""Evaluating a saved run on test data, through the same loop and task that training used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from striate.data import BatchLoader, load_data
from striate.data._registry import align
from striate.train.trainer import evaluate_model

if TYPE_CHECKING:
    from striate.data._dataset import Dataset
    from striate.export import Engine
    from striate.runs import Run


def test_split(run: Run, data: str | None = None) -> tuple[Dataset, str]:
    """The test part of `data` aligned with the run's classes and vocabulary, and its spec (default: the run's own
    test data, rebuilt exactly as training built it: same loader options, split strategy, seed and `test_size`)."""
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
    return align(test, reference, spec), spec


def evaluate_run(run: Run, data: str | None = None, batch_size: int = 1024,
                 engine: Engine | None = None) -> dict[str, Any]:
    """The task's metrics and details for `run` on the test part of `data` (default: the run's own test data).

    With no `data` the numbers equal those in `results.json`. `engine` (default: the run's) computes the outputs
    from raw inputs; PyTorch and ONNX Runtime go through this same loop. Returns the metrics (e.g. `loss`,
    `accuracy`), the task's details (e.g. `per_class`, `confusion`), `examples` and `data`.
    """
    engine = engine or run.engine  # first: an unknown engine fails before any data is read
    test, spec = test_split(run, data)
    loader = BatchLoader(test, batch_size, device="cpu", preprocess=_Raw())
    metrics, state = evaluate_model(EngineModule(engine, run.model), run.task, loader)
    references = {"baselines": test.meta["reference"]} if "reference" in test.meta else {}
    return {**metrics, **run.task.details(state), "examples": len(test), "data": spec, "engine": engine.name,
            **references}


class _Raw(torch.nn.Module):
    """The loader's preprocessing step for an engine that takes raw inputs: none."""

    def forward(self, x: torch.Tensor, augment=None) -> torch.Tensor:
        return x


class EngineModule(torch.nn.Module):
    """An engine seen as a module by the evaluation loop: raw inputs -> outputs `(N, K)`.

    `_orig_mod` is the run's model, the attribute `unwrap` follows through a `torch.compile` wrapper, so the loop
    uses that model's own loss (a capsule network's margin loss) exactly as for the model itself.
    """

    def __init__(self, engine: Engine, model: torch.nn.Module):
        super().__init__()
        self.engine, self._orig_mod = engine, model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.engine.run(x)[0]
