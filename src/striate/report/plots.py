"""Pictures of a run: learning curves, the confusion matrix, per-label scores and predicted-against-true scatter
(matplotlib, written atomically); and the report's own figures (the learning-rate schedule, several runs' curves
overlaid, misclassified series), which go into the page as PNG bytes instead of files."""

from __future__ import annotations

import io
from collections.abc import Sequence
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


def figure_png(figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for embedding), closed afterwards."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        _pyplot().close(figure)
    return buffer.getvalue()


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
    """The first row shows `images` `(N, C, H, W)` (or clips `(N, C, T, H, W)`, by their middle frame) in [0, 1]; each
    further row one random augmentation of them."""
    import torch

    with torch.no_grad():
        samples = [images] + [augment(images).clamp(0, 1) for _ in range(rows - 1)]
    if images.dim() == 5:  # clips (N, C, T, H, W), augmented alike in every frame: their middle frame shows it
        samples = [batch[:, :, batch.shape[2] // 2] for batch in samples]
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


def draw_schedule(rates: Sequence[Sequence[float]], steps_per_epoch: int, logged: Sequence[tuple[int, float]],
                  trained_steps: int | None = None) -> bytes:
    """The learning rate at every step, one line per parameter group with its own rate (`rates[g][step]`), the rates
    training logged at each epoch's end as dots on it, and where training stopped when that was before the end."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 3.2))
    steps = np.arange(len(rates[0]))
    for group, values in enumerate(rates):
        label = "learning rate" if len(rates) == 1 else f"parameter group {group}"
        axis.plot(steps, values, lw=1.5, label=label)
    if logged:
        axis.plot(*zip(*logged, strict=True), "o", ms=4, color="black", label="logged at epoch ends (group 0)")
    if trained_steps is not None and 0 < trained_steps < len(steps) - 1:
        axis.axvline(trained_steps, color="tab:red", ls="--", lw=1, label="training stopped")
    axis.set_xlabel(f"step ({steps_per_epoch:,} per epoch)")
    axis.set_ylabel("learning rate")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return figure_png(figure)


def draw_overlaid_curves(histories: dict[str, list[dict[str, float]]], metrics: Sequence[str]) -> bytes:
    """Several runs' `metrics` per epoch on shared axes: one colour per run, validation solid, training dashed."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, metric in zip(axes[0], metrics, strict=True):
        for number, (name, history) in enumerate(histories.items()):
            epochs = [row["epoch"] for row in history]
            for split, style in (("val", "-"), ("train", "--")):
                values = [row.get(f"{split}_{metric}") for row in history]
                if any(v is not None for v in values):
                    axis.plot(epochs, values, style, color=colours[number % len(colours)], marker="o", ms=3,
                              label=f"{name} ({'validation' if split == 'val' else 'training'})")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    return figure_png(figure)


def draw_series(series: Sequence[np.ndarray], titles: Sequence[str], columns: int = 4,
                heat: Sequence[np.ndarray] | None = None) -> bytes:
    """Small plots of series `(C, L)`, one panel each with its title; with `heat` `(L,)` per series, the band under
    the lines is coloured by it (Grad-CAM over time)."""
    plt = _pyplot()
    rows = -(-len(series) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 1.7 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= len(series):
            axis.axis("off")
            continue
        for values in np.asarray(series[index], dtype=np.float64):
            axis.plot(values, lw=0.9)
        if heat is not None:
            low, high = axis.get_ylim()
            band = np.asarray(heat[index], dtype=np.float64)[None, :]
            axis.imshow(band / max(float(band.max()), 1e-12), cmap="jet", vmin=0, vmax=1, aspect="auto", alpha=0.35,
                        extent=(0, band.shape[1] - 1, low, high), interpolation="nearest")
        axis.set_title(titles[index], fontsize=7)
    figure.tight_layout(pad=0.4)
    return figure_png(figure)
