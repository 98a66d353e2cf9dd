"""Small pictures for the report drawn straight from arrays with Pillow: inputs, Grad-CAM overlays and filter grids.

A grid of two dozen 28x28 tiles is a few milliseconds this way; the same grid as matplotlib subplots takes about a
second, which the report would add to every training run. Labels go into the page as text beside each tile.
"""

from __future__ import annotations

import io

import numpy as np
import torch

TILE = 84
"""The side in pixels each tile is enlarged to (by a whole factor, so pixels stay square), at least."""


def png(picture: np.ndarray, side: int = TILE) -> bytes:
    """PNG bytes of a uint8 picture `(H, W)` or `(H, W, 3)`, enlarged by the whole factor that brings its longer side
    to at least `side` (nearest neighbour)."""
    from PIL import Image

    factor = max(1, -(-side // max(picture.shape[:2])))
    image = Image.fromarray(np.ascontiguousarray(picture))
    if factor > 1:
        image = image.resize((image.width * factor, image.height * factor), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def picture(raw: torch.Tensor, scale: float | None) -> np.ndarray:
    """A raw input as uint8: an image `(C, H, W)` (a clip or volume `(C, D, H, W)`: its middle slice along D) ->
    `(H, W)` grey or `(H, W, 3)`. Values times `scale` (1/255 for 8-bit images) are [0, 1]; without a scale each
    picture is stretched to its own range."""
    raw = raw.detach().float().cpu()
    if raw.dim() == 4:  # (C, D, H, W) -> (C, H, W)
        raw = raw[:, raw.shape[1] // 2]
    values = raw * scale if scale else (raw - raw.min()) / (raw.max() - raw.min()).clamp_min(1e-12)
    values = values.clamp(0, 1).permute(1, 2, 0).numpy()  # (C, H, W) -> (H, W, C)
    if values.shape[2] != 3:
        values = values.mean(axis=2)  # (H, W, C) -> (H, W)
    return np.round(values * 255).astype(np.uint8)


def overlay(base: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """A non-negative map `(H, W)` over a picture (made grey), in the jet colours, opaque where the map is strong and
    clear where it is 0 (as `striate explain` draws it)."""
    from matplotlib import colormaps

    grey = base.astype(np.float64) if base.ndim == 2 else base.astype(np.float64).mean(axis=2)
    strength = np.clip(np.nan_to_num(heat.astype(np.float64)), 0, None)
    strength = strength / max(float(strength.max()), 1e-12)
    colour = colormaps["jet"](strength)[..., :3] * 255
    alpha = (0.15 + 0.6 * strength)[..., None]
    return np.round(grey[..., None] * (1 - alpha) + colour * alpha).astype(np.uint8)


def filter_grid(weight: torch.Tensor, max_filters: int = 64, max_inputs: int = 16) -> tuple[bytes, str]:
    """A convolution's weights as one picture, and a sentence on how to read it.

    `(out, in, kH, kW)` with 3 input channels: one colour tile per filter; other channel counts: a tile per (filter,
    input channel), filters in rows. `(out, in, k)`: one tile per filter, input channels in rows and kernel
    positions in columns. `(out, in, kD, kH, kW)`: the middle slice along D. Single-channel tiles are red for positive
    and blue for negative weights on one scale for the whole layer.
    """
    w = weight.detach().float().cpu()
    if w.dim() == 5:  # (out, in, kD, kH, kW) -> (out, in, kH, kW)
        w = w[:, :, w.shape[2] // 2]
    if w.dim() == 3:  # (out, in, k) -> (out, 1, in, k): one 2-D tile per filter
        w = w[:max_filters // 2, None, :32]
        tiles = [[_diverging(w[f, 0], w)] for f in range(w.shape[0])]
        how = (f"{len(tiles)} of {weight.shape[0]} filters; each tile: input channels in rows"
               f"{' (the first 32)' if weight.shape[1] > 32 else ''}, kernel positions in columns; red positive, blue "
               "negative")
        return _grid(_wrap(tiles, 16)), how
    if w.shape[1] == 3:
        tiles = [[_colour(w[f])] for f in range(min(w.shape[0], max_filters))]
        how = f"{len(tiles)} of {weight.shape[0]} filters as RGB, each stretched to its own range (grey is 0)"
        return _grid(_wrap(tiles, 16)), how
    if w.shape[1] == 1:
        tiles = [[_diverging(w[f, 0], w)] for f in range(min(w.shape[0], max_filters))]
        how = f"{len(tiles)} of {weight.shape[0]} filters; red positive, blue negative, one scale for the layer"
        return _grid(_wrap(tiles, 16)), how
    rows = [[_diverging(w[f, c], w) for c in range(min(w.shape[1], max_inputs))]
            for f in range(min(w.shape[0], max_filters // 2))]
    how = (f"{len(rows)} of {weight.shape[0]} filters in rows, {len(rows[0])} of {weight.shape[1]} input channels in "
           "columns; red positive, blue negative, one scale for the layer")
    return _grid(rows), how


def _diverging(kernel: torch.Tensor, layer: torch.Tensor) -> np.ndarray:
    from matplotlib import colormaps

    limit = max(float(layer.abs().max()), 1e-12)
    return np.round(colormaps["RdBu_r"]((kernel.numpy() / limit + 1) / 2)[..., :3] * 255).astype(np.uint8)


def _colour(kernel: torch.Tensor) -> np.ndarray:
    limit = max(float(kernel.abs().max()), 1e-12)
    values = (kernel / limit + 1) / 2  # (3, kH, kW) in [0, 1], 0.5 for a zero weight
    return np.round(values.permute(1, 2, 0).numpy() * 255).astype(np.uint8)  # (3, kH, kW) -> (kH, kW, 3)


def _wrap(tiles: list[list[np.ndarray]], columns: int) -> list[list[np.ndarray]]:
    """A single column of tiles rearranged into rows of `columns`."""
    flat = [row[0] for row in tiles]
    return [flat[start:start + columns] for start in range(0, len(flat), columns)]


def _grid(rows: list[list[np.ndarray]], gap: int = 2) -> bytes:
    """Tiles `(h, w, 3)` of one size, each enlarged to about 40 pixels (and each weight to at least 4), in rows, on
    white with `gap` pixels between."""
    height, width = rows[0][0].shape[:2]
    factor = min(16, max(-(-40 // max(height, width)), -(-4 // min(height, width))))
    h, w = height * factor, width * factor
    columns = max(len(row) for row in rows)
    canvas = np.full((len(rows) * (h + gap) + gap, columns * (w + gap) + gap, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            big = tile.repeat(factor, axis=0).repeat(factor, axis=1)
            top, left = gap + r * (h + gap), gap + c * (w + gap)
            canvas[top:top + h, left:left + w] = big
    return png(canvas, side=1)
