"""Turning user images into model inputs: read with Pillow, convert and resize to the model's input shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from striate.errors import DataError


def load_inputs(images, input_shape: tuple[int, ...]) -> tuple[torch.Tensor, list[str], list[list[str]]]:
    """Raw uint8 batch `(N, C, H, W)`, a source label and a list of notes per input.

    Args:
        images: a tensor `(N, *input_shape)` passed through as is, or a list of file paths and/or PIL images.
        input_shape: the model's `(C, H, W)`.
    """
    if isinstance(images, torch.Tensor):
        if tuple(images.shape[1:]) != tuple(input_shape):
            raise DataError(f"Invalid input batch: expected shape (N, {', '.join(map(str, input_shape))}), "
                            f"received {tuple(images.shape)}.")
        return images, [f"tensor[{i}]" for i in range(len(images))], [[] for _ in range(len(images))]
    if isinstance(images, (str, Path)) or not hasattr(images, "__iter__"):
        images = [images]
    arrays, sources, notes = [], [], []
    for item in images:
        array, note = image_input(item, input_shape)
        arrays.append(array)
        sources.append(str(item) if isinstance(item, (str, Path)) else type(item).__name__)
        notes.append(note)
    if not arrays:
        raise DataError("No images given: expected at least one PNG or JPEG file.")
    return torch.from_numpy(np.stack(arrays)), sources, notes


def image_input(item, input_shape: tuple[int, ...]) -> tuple[np.ndarray, list[str]]:
    """One image as uint8 `(C, H, W)` matching `input_shape`, with notes on any conversion or resizing."""
    from PIL import Image

    from striate.data.sources import _open_image

    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise DataError(f"This model takes inputs of shape {tuple(input_shape)}: expected 1 or 3 image channels.")
    channels, height, width = input_shape
    if isinstance(item, (str, Path)):
        if not Path(item).is_file():
            raise DataError(f"Image not found: expected a PNG or JPEG file at {item}.")
        image = _open_image(Path(item))
    elif isinstance(item, Image.Image):
        image = item
    else:
        raise DataError(f"Invalid image {item!r}: expected a file path or a PIL image, received {type(item).__name__}.")
    notes, mode = [], "L" if channels == 1 else "RGB"
    if image.mode != mode:
        notes.append(f"converted {image.mode} to {mode}")
        image = image.convert(mode)
    if image.size != (width, height):
        notes.append(f"resized {image.size[0]}x{image.size[1]} to {width}x{height}")
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return (array[None] if array.ndim == 2 else array.transpose(2, 0, 1)), notes  # (H, W, C) -> (C, H, W)
