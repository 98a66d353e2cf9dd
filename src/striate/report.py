"""Pictures of a run: learning curves, the confusion matrix, per-label scores and predicted-against-true scatter
(matplotlib, written atomically)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from striate._io import atomic_write


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend, imported on first use (~0.5 s that start-up need not pay)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: str | Path) -> Path:
    def write(tmp: str) -> None:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")

    try:
        return atomic_write(path, write)
    finally:
        _pyplot().close(figure)


def plot_curves(history: list[dict[str, float]], path: str | Path, metric: str = "accuracy") -> Path:
    """Loss and the task's `metric` per epoch, training against validation, side by side."""
    epochs = [row["epoch"] for row in history]
    plt = _pyplot()
    metrics = ("loss", metric) if metric != "loss" else ("loss",)
    figure, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for axis, metric in zip(axes[0], metrics, strict=True):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = [row.get(f"{split}_{metric}") for row in history]
            if any(v is not None for v in values):
                axis.plot(epochs, values, style, label={"train": "training", "val": "validation"}[split], ms=4)
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    return _save(figure, path)


def plot_confusion(confusion: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (true class in rows) with counts in the cells."""
    confusion = np.asarray(confusion)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.6 * len(classes) + 2)
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, fraction=0.046, label="fraction of true class")
    ticks = np.arange(len(classes))
    axis.set_xticks(ticks, classes, rotation=45, ha="right")
    axis.set_yticks(ticks, classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title or "test confusion matrix")
    if len(classes) <= 30:
        for i, j in np.ndindex(confusion.shape):
            axis.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=7,
                      color="white" if rates[i, j] > 0.5 else "black")
    return _save(figure, path)


def plot_augmentations(images, augment, path: str | Path, rows: int = 4) -> Path:
    """The first row shows `images` `(N, C, H, W)` in [0, 1]; each further row one random augmentation of them."""
    import torch

    with torch.no_grad():
        samples = [images] + [augment(images).clamp(0, 1) for _ in range(rows - 1)]
    n = images.shape[0]
    plt = _pyplot()
    figure, axes = plt.subplots(rows, n, figsize=(1.3 * n, 1.3 * rows), squeeze=False)
    for r, batch in enumerate(samples):
        for c in range(n):
            picture = batch[c].permute(1, 2, 0).cpu().numpy()  # (C, H, W) -> (H, W, C)
            axes[r, c].imshow(picture[..., 0] if picture.shape[2] == 1 else picture, cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel("original" if r == 0 else f"augmented {r}", fontsize=8)
    figure.suptitle("training augmentations", fontsize=10)
    return _save(figure, path)


def plot_per_label(per_label: dict[str, dict], path: str | Path, title: str = "") -> Path:
    """Precision, recall and F1 of each label as grouped bars (multi-label classification)."""
    names = list(per_label)
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(max(6.0, 0.5 * len(names) + 3), 4))
    positions = np.arange(len(names))
    for offset, key in zip((-0.27, 0.0, 0.27), ("precision", "recall", "f1"), strict=True):
        axis.bar(positions + offset, [per_label[n][key] for n in names], width=0.27, label=key)
    axis.set_xticks(positions, names, rotation=45, ha="right")
    axis.set_ylim(0, 1.15)
    axis.set_yticks(np.linspace(0, 1, 6))
    axis.set_ylabel("score at the decision threshold")
    axis.set_title(title or "per-label scores")
    axis.legend(loc="upper center", ncols=3, frameon=False)
    axis.grid(alpha=0.3, axis="y")
    return _save(figure, path)


def plot_scatter(true: np.ndarray, predicted: np.ndarray, names: list[str], path: str | Path, title: str = "") -> Path:
    """Predicted against true values, one panel per target, with the identity line (regression)."""
    true, predicted = np.asarray(true).reshape(len(true), -1), np.asarray(predicted).reshape(len(predicted), -1)
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 4.2), squeeze=False)
    for k, (axis, name) in enumerate(zip(axes[0], names, strict=True)):
        axis.scatter(true[:, k], predicted[:, k], s=8, alpha=0.5)
        low, high = float(min(true[:, k].min(), predicted[:, k].min())), float(max(true[:, k].max(),
                                                                                     predicted[:, k].max()))
        axis.plot([low, high], [low, high], "k--", lw=1, label="predicted = true")
        axis.set_xlabel(f"true {name}")
        axis.set_ylabel(f"predicted {name}")
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left")
    figure.suptitle(title or "test predictions", fontsize=10)
    return _save(figure, path)
