"""Pictures of explanations (matplotlib, written atomically): one PNG per input, drawn by the input's kind.

Images: the input, the map overlaid on it, and the top-3 predictions. Series: the input's channels over a band
coloured by the map, and the map per time step. Text: the sentence with each word's background coloured by its
value. Clips and volumes `(C, D, H, W)`: the three slices along D that hold the most attribution, each overlaid.
Signed maps (evidence for and against the class) are drawn red and blue around white, non-negative ones from blue
to red.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from striate.explain.attribution import SIGNED_METHODS
from striate.report import _pyplot, _save

if TYPE_CHECKING:
    from striate.explain.attribution import Explanation
    from striate.explain.visualize import Visualization
    from striate.runs import Run


def save_explanations(run: Run, explanation: Explanation, out: str | Path) -> list[Path]:
    """One PNG per input in `out`, named `NNN-<source>-<method>.png` (`...-<method>-<layer>.png` for a layer other
    than `forward_features`, so that maps of several layers sit side by side); returns the paths."""
    from striate.explain.attribution import FEATURES

    draw = {"tokens": _sentence}.get(run.input_kind) or {2: _series, 3: _image, 4: _slices}[len(run.input_shape)]
    layer = f"-{_layer_slug(explanation.layer)}" if explanation.layer not in (None, FEATURES) else ""
    paths = []
    for index, source in enumerate(explanation.sources):
        path = Path(out) / f"{index:03d}-{_slug(source)}-{explanation.method}{layer}.png"
        paths.append(draw(run, explanation, index, path))
    return paths


def save_visualization(run: Run, found: Visualization, out: str | Path) -> Path:
    """`visualize-<layer>-<channel>.png` in `out`: the synthesised input beside the top-activating test inputs."""
    plt = _pyplot()
    count = len(found.top_inputs)
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    figure = plt.figure(figsize=(2.2 * rows + 1.5 * columns, 1.6 * rows + 0.6))
    grid = figure.add_gridspec(rows, rows + columns)
    big = figure.add_subplot(grid[:, :rows])
    _show_input(big, run, found.synthesized)
    big.set_title(f"synthesised: {found.activation:.3g}\n(start {found.start:.3g})", fontsize=8)
    for k in range(count):
        axis = figure.add_subplot(grid[k // columns, rows + k % columns])
        _show_input(axis, run, found.top_inputs[k])
        axis.set_title(f"{found.top_labels[k]} {float(found.top_activations[k]):.3g}".strip(), fontsize=6)
    figure.suptitle(f"layer {found.layer}, channel {found.channel}: the input that maximises it, and the {count} test "
                    f"inputs ({found.data}) that activate it most", fontsize=8)
    return _save(figure, Path(out) / f"visualize-{_layer_slug(found.layer)}-{found.channel}.png")


def save_comparison(run: Run, explanations: list[Explanation], path: str | Path) -> Path:
    """Several methods side by side for image inputs: one row per input (with its top class), one column per method."""
    plt = _pyplot()
    first = explanations[0]
    rows, columns = len(first.sources), 1 + len(explanations)
    figure, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 1.55 * rows), squeeze=False)
    for row in range(rows):
        _show_input(axes[row, 0], run, first.inputs[row])
        name, probability = run.task.format_prediction(first.outputs[row], 1)["top"][0]
        axes[row, 0].set_title(f"{_short(name, 12)} {probability:.1%}", fontsize=7)
        for column, explanation in enumerate(explanations, start=1):
            _show_input(axes[row, column], run, explanation.inputs[row], grey=True)
            _overlay(axes[row, column], _heat(explanation, row).numpy(), explanation.method)
            if row == 0:
                axes[0, column].set_title(explanation.method.replace("_", " ").replace("integrated", "integr."),
                                          fontsize=7)
    figure.tight_layout(pad=0.3, h_pad=0.8)
    return _save(figure, path)


# --- one input -------------------------------------------------------------------------------------------------------

def _image(run: Run, explanation: Explanation, index: int, path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(7.5, 2.6), gridspec_kw={"width_ratios": [1, 1, 1.1]})
    raw = explanation.inputs[index]
    _show_input(axes[0], run, raw)
    axes[0].set_title("input", fontsize=8)
    _show_input(axes[1], run, raw, grey=True)
    _overlay(axes[1], _heat(explanation, index).numpy(), explanation.method)
    axes[1].set_title(_map_title(run, explanation, index), fontsize=8)
    _predictions(axes[2], run, explanation.outputs[index])
    return _finish(figure, explanation, index, path)


def _series(run: Run, explanation: Explanation, index: int, path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(9, 2.8), gridspec_kw={"width_ratios": [3, 1.1]})
    raw = explanation.inputs[index].numpy()  # (C, L)
    heat = _heat(explanation, index).reshape(-1).numpy()  # one value per time step
    steps = np.arange(raw.shape[1])
    low, high = np.nanmin(raw), np.nanmax(raw)
    pad = 0.05 * (high - low) + 1e-6
    cmap, limits = _colours(heat, explanation.method)
    axes[0].imshow(heat[None], aspect="auto", cmap=cmap, vmin=limits[0], vmax=limits[1], alpha=0.55,
                   extent=(-0.5, raw.shape[1] - 0.5, low - pad, high + pad), origin="lower")
    for channel, values in enumerate(raw):
        axes[0].plot(steps, values, lw=1.2, color="black" if len(raw) == 1 else None, label=f"channel {channel}")
    axes[0].set_xlabel("time step")
    axes[0].set_title(_map_title(run, explanation, index) + " (background: attribution per step)", fontsize=8)
    _predictions(axes[1], run, explanation.outputs[index])
    return _finish(figure, explanation, index, path)


def _sentence(run: Run, explanation: Explanation, index: int, path: Path) -> Path:
    plt = _pyplot()
    words = _words(run, explanation, index)
    values = explanation.attributions[index, :len(words)].numpy()
    figure, axes = plt.subplots(1, 2, figsize=(9, 2.4), gridspec_kw={"width_ratios": [3, 1.1]})
    cmap, (low, high) = _colours(values, explanation.method)
    colours = plt.get_cmap(cmap)((values - low) / max(high - low, 1e-12))
    axis, renderer = axes[0], figure.canvas.get_renderer()
    axis.axis("off")
    x, y = 0.0, 0.9
    for word, colour in zip(words, colours, strict=True):
        text = axis.text(x, y, word, fontsize=10, va="top", transform=axis.transAxes,
                         bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.5})
        width = text.get_window_extent(renderer).transformed(axis.transAxes.inverted()).width
        if x > 0 and x + width > 1:  # wrap: move the word to the next line
            x, y = 0.0, y - 0.16
            text.set_position((x, y))
        x += width + 0.015
    axis.set_title(_map_title(run, explanation, index) + " (background: attribution per word)", fontsize=8)
    _predictions(axes[1], run, explanation.outputs[index])
    return _finish(figure, explanation, index, path)


def _slices(run: Run, explanation: Explanation, index: int, path: Path) -> Path:
    plt = _pyplot()
    raw, heat = explanation.inputs[index], _heat(explanation, index)  # (C, D, H, W), (D, H, W)
    mass = heat.abs() if explanation.method in SIGNED_METHODS else heat.clamp_min(0)
    per_slice = mass.flatten(1).sum(dim=1)  # (D,)
    share = per_slice / per_slice.sum().clamp_min(1e-12)
    best = per_slice.topk(min(3, len(per_slice))).indices.sort().values.tolist()
    figure, axes = plt.subplots(1, len(best) + 1, figsize=(2.5 * len(best) + 2.8, 2.6))
    for axis, depth in zip(axes, best, strict=False):
        _show_input(axis, run, raw[:, depth], grey=True)
        _overlay(axis, heat[depth].numpy(), explanation.method, limits=_colours(heat.numpy(), explanation.method)[1])
        axis.set_title(f"slice {depth} of {len(per_slice)}: {float(share[depth]):.0%} of the map", fontsize=8)
    _predictions(axes[-1], run, explanation.outputs[index])
    return _finish(figure, explanation, index, path, _map_title(run, explanation, index))


# --- pieces ----------------------------------------------------------------------------------------------------------

def _heat(explanation: Explanation, index: int) -> torch.Tensor:
    """The map without its channel axis: `(C, *positions)` -> `(*positions)` (saliency: the largest channel, as
    Simonyan et al. show it; the others: the channels' sum)."""
    attribution = explanation.attributions[index]
    return attribution.amax(dim=0) if explanation.method == "saliency" else attribution.sum(dim=0)


def _colours(values, method: str) -> tuple[str, tuple[float, float]]:
    values = np.asarray(values, dtype=np.float64)
    if method in SIGNED_METHODS:
        largest = float(np.nanmax(np.abs(values))) if values.size else 0.0
        return "RdBu_r", (-largest or -1.0, largest or 1.0)
    return "jet", (0.0, float(np.nanmax(values)) if values.size and np.nanmax(values) > 0 else 1.0)


def _overlay(axis, heat: np.ndarray, method: str, limits: tuple[float, float] | None = None) -> None:
    """The map over the input, opaque where it is strong and clear where it is 0, so the input shows through."""
    cmap, own = _colours(heat, method)
    low, high = limits or own
    strength = np.abs(heat) / max(abs(low), abs(high), 1e-12)
    axis.imshow(heat, cmap=cmap, vmin=low, vmax=high, alpha=np.clip(0.15 + 0.7 * strength, 0, 1),
                interpolation="nearest")


def _show_input(axis, run: Run, raw: torch.Tensor, grey: bool = False) -> None:
    """A raw input drawn as a picture: an image `(C, H, W)` (the middle slice of a clip), or a series' lines."""
    raw = raw.float()
    if raw.dim() == 2:
        for values in raw.numpy():
            axis.plot(values, lw=1)
        axis.set_xticks([])
        axis.set_yticks([])
        return
    if raw.dim() == 4:  # (C, D, H, W): the middle slice
        raw = raw[:, raw.shape[1] // 2]
    scale = float(run.info.get("scale", 1.0))
    picture = raw * scale if scale != 1.0 else (raw - raw.min()) / (raw.max() - raw.min()).clamp_min(1e-12)
    picture = picture.clamp(0, 1).permute(1, 2, 0).numpy()  # (C, H, W) -> (H, W, C)
    if picture.shape[2] != 3 or grey:
        picture = picture.mean(axis=2)
    axis.imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])


def _predictions(axis, run: Run, row: torch.Tensor) -> None:
    """The top-3 predictions as bars (classification and labels), or the task's one line (values)."""
    formatted = run.task.format_prediction(row, 3)
    top = formatted.get("top")
    if not top:
        axis.axis("off")
        axis.text(0, 0.5, run.task.describe_prediction(formatted), fontsize=8, wrap=True, transform=axis.transAxes)
        return
    names, values = [name for name, _ in top][::-1], [value for _, value in top][::-1]
    axis.barh(range(len(top)), values, color="tab:blue")
    axis.set_yticks(range(len(top)), [_short(name) for name in names], fontsize=7)
    axis.set_xlim(0, 1)
    for position, value in enumerate(values):  # the share beside its bar, or inside a long one
        inside = value > 0.7
        axis.text(value - 0.02 if inside else value + 0.02, position, f"{value:.1%}", va="center", fontsize=7,
                  ha="right" if inside else "left", color="white" if inside else "black")
    axis.set_title("top 3", fontsize=8)
    axis.tick_params(axis="x", labelsize=6)


def _map_title(run: Run, explanation: Explanation, index: int) -> str:
    target = run.classes[int(explanation.targets[index])]
    layer = f" at {explanation.layer}" if explanation.layer else ""
    return f"{explanation.method.replace('_', ' ')}{layer} for `{_short(target)}`"


def _words(run: Run, explanation: Explanation, index: int) -> list[str]:
    """The explained sentence's words, as the model saw them (cut to the input length)."""
    from striate.data.text import tokenize

    source = explanation.sources[index]
    length = explanation.inputs.shape[1]
    if source.startswith("tensor[") or run.vocabulary is None:
        ids = explanation.inputs[index].long()
        return run.vocabulary.decode(ids) if run.vocabulary is not None else [str(i) for i in ids.tolist() if i]
    return tokenize(source, lowercase=run.info.get("lowercase", True))[:length]


def _finish(figure, explanation: Explanation, index: int, path: Path, subtitle: str = "") -> Path:
    figure.suptitle(explanation.sources[index][:100] + (f": {subtitle}" if subtitle else ""), fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def _slug(text: str) -> str:
    """A file-name-safe part from a source (a path's stem, a sentence's first words)."""
    stem = Path(text).stem if "/" in text or "." in text[-6:] else text
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:40] or "input"


def _layer_slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)


def _short(name: str, width: int = 18) -> str:
    return name if len(name) <= width else name[:width - 1] + "…"
