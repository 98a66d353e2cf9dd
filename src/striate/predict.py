"""Turning what a user gives `predict` into a raw batch for the run's preprocessing, by the run's input kind.

Images: PNG/JPEG paths or PIL images, converted and resized to the model's input (decoded by the same functions as
the image datasets). Text: sentences, tokenised and encoded with the run's training vocabulary. Signals: arrays of
shape `(L,)`, `(C, L)` or `(N, C, L)`, padded or cut to the training length. Clips: video files or folders of frames,
sampled uniformly to the training length and resized (`striate.data.clips.clip_input`). Any kind: a tensor
`(N, *input_shape)` of raw values, passed through.

Volumes: `.npy` voxels `(C, D, H, W)` or `(N, C, D, H, W)`, or `.xyz` atoms and point clouds voxelised as the run's
training data was (`striate.data.volumes.volume_inputs`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from striate.errors import DataError, found_at

if TYPE_CHECKING:
    from striate.runs import Run


def load_inputs(inputs, run: Run) -> tuple[torch.Tensor, list[str], list[list[str]]]:
    """Raw batch `(N, *input_shape)`, a source label and a list of notes per input."""
    shape = run.input_shape
    if isinstance(inputs, torch.Tensor):
        if tuple(inputs.shape[1:]) != tuple(shape):
            raise DataError(f"Invalid input batch: expected shape (N, {', '.join(map(str, shape))}), "
                            f"received {tuple(inputs.shape)}.")
        return inputs, [f"tensor[{i}]" for i in range(len(inputs))], [[] for _ in range(len(inputs))]
    if run.input_kind == "tokens":
        return _sentences(inputs, run)
    if run.input_kind == "signal":
        return _series(inputs, shape)
    if run.input_kind == "clip":
        return _clips(inputs, shape)
    if run.input_kind == "volume":
        return _volumes(inputs, run)
    return _images(inputs, shape)


def _clips(clips, input_shape: tuple[int, ...]) -> tuple[torch.Tensor, list[str], list[list[str]]]:
    """Video files or folders of frames -> uint8 `(N, C, T, H, W)`, frames sampled uniformly and resized."""
    from striate.data.clips import clip_input

    items = [clips] if isinstance(clips, str | Path) else list(clips)
    if not items:
        raise DataError("No clips given: expected at least one video file or folder of frames.")
    arrays, notes = zip(*(clip_input(item, input_shape) for item in items), strict=True)
    return torch.from_numpy(np.stack(arrays)), [str(item) for item in items], list(notes)


def _images(images, input_shape: tuple[int, ...]) -> tuple[torch.Tensor, list[str], list[list[str]]]:
    if isinstance(images, str | Path) or not hasattr(images, "__iter__"):
        images = [images]
    arrays, sources, notes = [], [], []
    for item in images:
        array, note = image_input(item, input_shape)
        arrays.append(array)
        sources.append(str(item) if isinstance(item, str | Path) else type(item).__name__)
        notes.append(note)
    if not arrays:
        raise DataError("No images given: expected at least one PNG or JPEG file.")
    return torch.from_numpy(np.stack(arrays)), sources, notes


def image_input(item, input_shape: tuple[int, ...]) -> tuple[np.ndarray, list[str]]:
    """One image as uint8 `(C, H, W)` matching `input_shape`, with notes on any conversion or resizing."""
    from PIL import Image

    from striate.data.sources import open_image, to_chw

    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise DataError(f"This model takes inputs of shape {tuple(input_shape)}: expected 1 or 3 image channels.")
    channels, height, width = input_shape
    if isinstance(item, str | Path):
        if not Path(item).is_file():
            raise DataError(f"Image not found: expected a PNG or JPEG file at {item}, found {found_at(item)} there.")
        image = open_image(Path(item))
    elif isinstance(item, Image.Image):
        image = item
    else:
        raise DataError(f"Invalid image {item!r}: expected a file path or a PIL image, received {type(item).__name__}.")
    from striate.data.sources import depth_note

    notes, mode, depth = [], "L" if channels == 1 else "RGB", depth_note(image)
    if depth:
        notes.append(depth)
    if image.mode != mode and not (depth and mode == "L"):
        notes.append(f"converted {image.mode} to {mode}")
    if image.size != (width, height):
        notes.append(f"resized {image.size[0]}x{image.size[1]} to {width}x{height}")
    return to_chw(image, mode, (width, height)), notes


def _sentences(inputs, run: Run) -> tuple[torch.Tensor, list[str], list[list[str]]]:
    from striate.data.text import tokenize

    if isinstance(inputs, str):
        inputs = [inputs]
    sentences = [str(item) for item in inputs]
    if not sentences:
        raise DataError("No sentences given: expected at least one piece of text.")
    vocabulary = run.vocabulary
    if vocabulary is None:
        raise DataError(f"Run {run.path} has no vocab.json: expected the vocabulary `striate train` writes for text.")
    tokens = [tokenize(sentence, lowercase=run.info.get("lowercase", True)) for sentence in sentences]
    for number, words in enumerate(tokens, start=1):
        if not words:
            raise DataError(f"Sentence {number} of {len(tokens)} is empty: expected at least one word to classify.")
    ids, _ = vocabulary.encode_batch(tokens, length=run.input_shape[0])
    notes = []
    for words in tokens:
        unknown = sum(1 for word in words if vocabulary.encode([word])[0] == 1)
        note = [f"{unknown} of {len(words)} words not in the training vocabulary"] if unknown else []
        if len(words) > run.input_shape[0]:
            note.append(f"cut to the first {run.input_shape[0]} words")
        notes.append(note)
    return torch.from_numpy(ids), sentences, notes


def _series(inputs, input_shape: tuple[int, ...]) -> tuple[torch.Tensor, list[str], list[list[str]]]:
    channels, length = input_shape
    items = [inputs] if isinstance(inputs, np.ndarray) and inputs.ndim < 3 else list(inputs)
    arrays, notes = [], []
    for number, item in enumerate(items):
        try:
            array = np.asarray(item, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise DataError(f"Invalid series[{number}]: expected numbers, found {error}.") from None
        array = array[None] if array.ndim == 1 else array
        if array.ndim != 2 or array.shape[0] != channels:
            raise DataError(f"Invalid series of shape {array.shape}: expected ({channels}, L) values or (L,) for one "
                            "channel.")
        if np.isinf(array).any() or np.isnan(array).all():
            found = "infinite values" if np.isinf(array).any() else "no values (all missing)"
            raise DataError(f"Invalid series[{number}]: expected finite values (missing steps as NaN at the end), "
                            f"found {found}.")
        note = []
        if array.shape[1] != length:
            note.append(f"{'padded' if array.shape[1] < length else 'cut'} {array.shape[1]} steps to {length}")
            fitted = np.full((channels, length), np.nan, dtype=np.float32)
            fitted[:, : min(length, array.shape[1])] = array[:, :length]
            array = fitted
        arrays.append(array)
        notes.append(note)
    if not arrays:
        raise DataError("No series given: expected at least one array of values.")
    return torch.from_numpy(np.stack(arrays)), [f"series[{i}]" for i in range(len(arrays))], notes


def _volumes(inputs, run: Run) -> tuple[torch.Tensor, list[str], list[list[str]]]:
    """Volume files (`.npy` voxels, or sources voxelised as the training data was) or arrays `(C, D, H, W)`."""
    from striate.data.volumes import volume_inputs

    items = [inputs] if isinstance(inputs, str | Path | np.ndarray) else list(inputs)
    arrays, sources = [], []
    for number, item in enumerate(items):
        array = volume_inputs(item, run.info) if isinstance(item, str | Path) else np.asarray(item)[None]
        if tuple(array.shape[1:]) != tuple(run.input_shape):
            raise DataError(f"Invalid volume {item if isinstance(item, str | Path) else number} of shape "
                            f"{tuple(array.shape[1:])}: expected {tuple(run.input_shape)} (C, D, H, W) as in training.")
        arrays.append(array)
        name = str(item) if isinstance(item, str | Path) else f"volume[{number}]"
        sources += [name] if len(array) == 1 else [f"{name}[{i}]" for i in range(len(array))]
    if not arrays:
        raise DataError("No volumes given: expected at least one .npy file or array.")
    dtype = np.uint8 if run.info.get("scale", 1.0) != 1.0 else np.float32  # occupancy grids train as uint8
    return torch.from_numpy(np.concatenate(arrays).astype(dtype)), sources, [[] for _ in sources]


def read_series_file(path: Path) -> list[np.ndarray]:
    """Series to predict from a file: `.npy` `(L,)`, `(C, L)` or `(N, C, L)`, or a `.csv` with one series per row."""
    if not path.is_file():
        raise DataError(f"Series file not found: expected a .npy or .csv file at {path}, found {found_at(path)} there.")
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpy warns on an empty file; refused just below
                array = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as error:
        raise DataError(f"Cannot read series file {path}: expected numbers in .npy or comma-separated form "
                        f"({error}).") from None
    if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_ or array.size == 0:
        found = "no values" if array.size == 0 else f"an array of {array.dtype}"
        raise DataError(f"Cannot read series file {path}: expected numbers in .npy or comma-separated form, found "
                        f"{found}.")
    if array.ndim == 3:
        return list(array)
    if path.suffix.lower() == ".npy" and array.ndim <= 2:
        return [array]
    return [row for row in array]  # CSV: one univariate series per row
