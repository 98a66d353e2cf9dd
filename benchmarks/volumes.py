"""Volumes: does the 3-D CNN use geometry? The same test rows, three models.

- `atomnet` (3-D CNN) on the volumes `(N, C, D, H, W)`;
- a 2-D CNN (`resnet20`) on the projection along D, `(N, C, H, W)` (what an image of the volume shows);
- gradient boosting (scikit-learn) on the total density per channel, i.e. the counts alone.

Tasks: `shapes3d` (near/far blobs, accuracy; chance 50%) and `molecules3d` (each conformer's asphericity from RDKit,
mean absolute error; the mean predictor's error is printed beside it).

    python benchmarks/volumes.py [--samples-shapes 2000] [--samples-molecules 600] [--epochs 15]

Measured with `--samples-shapes 1200 --samples-molecules 300 --epochs 10` (2 shared CPU cores, seed 0):

    shapes3d (960 train / 240 test), accuracy       3-D 1.000   2-D projection 0.867   counts 0.613
    molecules3d (222 / 56), asphericity MAE         3-D 0.120   2-D projection 0.119   counts 0.127   mean 0.108

shapes3d: depth decides, and only the 3-D model sees it. Counts score above 50% because blobs near a face lose a
sliver of their tails (< 0.1% of the density), which gradient boosting picks up; keeping blobs further inside would
remove that leak. molecules3d at this size is inconclusive: no model beats the mean of the training targets.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch

import striate
from striate.data import Dataset, register_dataset
from striate.data.volumes import make_molecules3d, make_shapes3d

DATA: dict[str, Dataset] = {}


@register_dataset("bench-volumes", location="NAME", kinds="volume | image, class | real",
                  description="benchmarks/volumes.py: a volume set held in memory, or its projection along D")
def _held(location: str) -> Dataset:
    return DATA[location]


def projection(data: Dataset) -> Dataset:
    """The volumes summed along D: `(N, C, D, H, W)` -> `(N, C, H, W)` images."""
    return replace(data, x=data.x.sum(dim=2), input_kind="image", mean=None, std=None, meta={})


def fit(name: str, model: str, epochs: int, model_args: dict, out: str) -> striate.Run:
    return striate.train(data=f"bench-volumes:{name}", model=model, epochs=epochs, seed=0, out=out, quiet=True,
                         model_args=model_args, val_split=0.0)


def score(data: Dataset, predictions: torch.Tensor) -> float:
    if data.target_kind == "class":
        return float((predictions.argmax(dim=1) == data.y).float().mean())
    return float((predictions.flatten() - data.y).abs().mean())


def counts_model(train: Dataset, test: Dataset) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    features = [part.x.sum(dim=(2, 3, 4)).numpy() for part in (train, test)]  # (N, C) total density per channel
    kind = HistGradientBoostingClassifier if train.target_kind == "class" else HistGradientBoostingRegressor
    predicted = kind(random_state=0).fit(features[0], train.y.numpy()).predict(features[1])
    if train.target_kind == "class":
        return float((predicted == test.y.numpy()).mean())
    return float(np.abs(predicted - test.y.numpy()).mean())


def compare(name: str, data: Dataset, epochs: int, out: str) -> None:
    train, test = data.split(0.2, seed=0)  # the same rows striate.train holds out
    DATA[name], DATA[f"{name}-2d"] = data, projection(data)
    rows = []
    started = time.perf_counter()
    run = fit(name, "atomnet", epochs, {}, out)
    rows.append(("3-D CNN (atomnet) on volumes", score(test, run.predict_proba(test.x)), time.perf_counter() - started))
    started = time.perf_counter()
    run = fit(f"{name}-2d", "resnet20", epochs, {}, out)
    flat = projection(test)
    rows.append(("2-D CNN (resnet20) on the projection", score(flat, run.predict_proba(flat.x)),
                 time.perf_counter() - started))
    started = time.perf_counter()
    rows.append(("gradient boosting on counts", counts_model(train, test), time.perf_counter() - started))
    metric = "accuracy" if data.target_kind == "class" else f"MAE of {data.classes[0]}"
    print(f"\n{name}: {len(train)} train / {len(test)} test, {metric}")
    if data.target_kind == "real":
        rows.append(("mean of the training targets", float((test.y - train.y.mean()).abs().mean()), 0.0))
    for label, value, seconds in rows:
        print(f"  {label:40s} {value:.4f}   {seconds:6.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples-shapes", type=int, default=2000)
    parser.add_argument("--samples-molecules", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as out:
        compare("shapes3d", make_shapes3d(args.samples_shapes, size=16, seed=0), args.epochs, out)
        compare("molecules3d", make_molecules3d(args.samples_molecules, seed=0), args.epochs, out)


if __name__ == "__main__":
    main()
