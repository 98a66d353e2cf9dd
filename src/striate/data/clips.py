"""Video clips `(N, C, T, H, W)` uint8: NPZ arrays, folders of frames or video files, and the moving-items set.

`clips:PATH` reads
- an `.npz` file with `x` `(N, C, T, H, W)` (uint8, or floats already scaled), `y` `(N,)` class indices and
  optionally `classes` (their names);
- a folder with one sub-folder per class (optionally under `train/` and `test/`), each holding clips: video files
  (decoded with PyAV) or folders of frame images (PNG/JPEG, in file-name order).

Every clip becomes `frames` frames of `size` pixels: `sampling=uniform` spreads them evenly over the clip,
`sampling=dense` takes consecutive frames from the clip's middle; without a sampling option every clip must have the
same length. Frames are resized while decoding. When the decoded clips would exceed `memory_mb`, the dataset's `x`
is a `ClipFiles` stand-in that decodes only the clips a batch asks for, and `BatchLoader` has it decode the next
batches in a background thread while the current one trains (PyAV releases the GIL while it decodes). `Splits.notes`
says which mode was used.

`moving-fashion` is a seeded synthetic set: a Fashion-MNIST item moves in a straight line across a larger canvas,
labelled by the item's class (`labels=class`) or by its direction of motion (`labels=direction`). The frames of a
clip moving right are those of the clip moving left in reverse order, so a model that ignores frame order is at
chance on direction.

Hand-written: the lazy stand-in and its prefetching (torch's `DataLoader` would assemble batches per sample and
bring worker processes; one decoding thread is enough to keep a small network busy), and the synthetic set.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from striate.data._dataset import Dataset, Splits, channel_stats, label_order
from striate.data._registry import register_dataset, renormalised
from striate.errors import DataError, found_at

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv", ".gif"}
FRAME_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
SAMPLINGS = ("uniform", "dense")
MODES = ("auto", "memory", "stream")
DIRECTIONS = ["right", "left", "down", "up"]
STAT_CLIPS = 32
"""Clips decoded to estimate the channel statistics of a streamed set."""


# --- reading one clip ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipFormat:
    """How every clip is decoded: `frames` frames chosen by `sampling`, `channels` 1 (grey) or 3 (RGB), `size` =
    (height, width)."""

    frames: int
    sampling: str
    channels: int
    size: tuple[int, int]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.channels, self.frames, *self.size)


def frame_indices(count: int, frames: int, sampling: str) -> list[int]:
    """Which of `count` frames make a clip of `frames`: evenly spread (uniform, repeating frames of a shorter clip) or
    consecutive from the middle (dense, the last frame repeated when the clip is shorter)."""
    if sampling == "uniform":
        return np.linspace(0, count - 1, frames).round().astype(int).tolist()
    start = max(0, (count - frames) // 2)
    return [min(start + i, count - 1) for i in range(frames)]


def _av():
    try:
        import av
    except ImportError:
        raise DataError("Reading video files needs PyAV: expected `import av` to work; install it with "
                        "`pip install av` (or `pip install striate[video]`).") from None
    return av


def _video_error(path: Path, error: Exception) -> DataError:
    first = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")
    return DataError(f"Cannot read video {path}: expected a video file PyAV can decode (mp4, avi, mkv, webm, ...), "
                     f"{first}.")


def probe(path: Path) -> tuple[int, int, int, bool]:
    """(frames, height, width, grey) of a video file or a folder of frames, reading as little as possible."""
    if path.is_dir():
        files = frame_files(path)
        from striate.data.sources import open_image

        with open_image(files[0]) as image:
            return len(files), image.size[1], image.size[0], image.mode in ("L", "1", "I", "I;16", "F")
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"Cannot read video {path}: expected a video stream, found none.")
            stream = container.streams.video[0]
            count = stream.frames or sum(1 for _ in container.decode(video=0))
            grey = (stream.codec_context.pix_fmt or "").startswith("gray")
            height, width = stream.codec_context.height, stream.codec_context.width
    except (av.FFmpegError, OSError, ValueError, IndexError) as error:
        raise _video_error(path, error) from None
    if count == 0:
        raise DataError(f"Cannot read video {path}: expected at least one frame, found none.")
    return count, height, width, grey


def frame_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise DataError(f"Clip folder {folder} holds no frame images: expected PNG or JPEG frames in file-name order.")
    return files


def read_clip(path: Path, form: ClipFormat, count: int) -> np.ndarray:
    """One clip of `count` frames as uint8 `(C, T, H, W)` in the format `form`."""
    wanted = frame_indices(count, form.frames, form.sampling)
    if path.is_dir():
        from striate.data.sources import image_to_array

        files = frame_files(path)
        mode, (height, width) = ("L" if form.channels == 1 else "RGB"), form.size
        chosen = {i: image_to_array(files[min(i, len(files) - 1)], mode, (width, height)) for i in set(wanted)}
        return np.stack([chosen[i] for i in wanted], axis=1)  # T x (C, H, W) -> (C, T, H, W)
    return _decode_video(path, wanted, form)


def _decode_video(path: Path, wanted: list[int], form: ClipFormat) -> np.ndarray:
    av = _av()
    height, width = form.size
    pixels = "gray" if form.channels == 1 else "rgb24"
    chosen, last = {}, max(wanted)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted:
                    array = frame.to_ndarray(format=pixels, width=width, height=height)  # resized while decoding
                    chosen[i] = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # -> (C, H, W)
                if i >= last:
                    break
    except (av.FFmpegError, OSError, ValueError, IndexError) as error:
        raise _video_error(path, error) from None
    if not chosen:
        raise DataError(f"Cannot read video {path}: expected at least one frame, found none.")
    found = sorted(chosen)
    return np.stack([chosen[i] if i in chosen else chosen[found[-1]] for i in wanted], axis=1)  # (C, T, H, W)


# --- the lazy stand-in for streamed clips ----------------------------------------------------------------------------

class ClipFiles:
    """Clips on disk standing in for a `Dataset`'s `x` `(N, C, T, H, W)` uint8: indexing decodes only those clips.

    It offers what the rest of striate reads from a tensor (`shape`, `dtype`, `dim()`, `to`, `len`, indexing with an
    int, a slice or an index tensor) plus `rows(index)` for a subset that stays lazy and `prefetch(indices)`, which
    decodes the next batches in a background thread while the caller works on the current one.
    """

    def __init__(self, paths: list[Path], counts: list[int], form: ClipFormat, depth: int = 2):
        self.paths, self.counts, self.form, self.depth = list(paths), list(counts), form, depth

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), *self.form.shape))

    @property
    def dtype(self) -> torch.dtype:
        return torch.uint8

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def dim(self) -> int:
        return 5

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def to(self, *_, **__) -> ClipFiles:
        return self  # decoded batches are moved by whoever asks for them

    def _rows(self, index) -> list[int]:
        if isinstance(index, slice):
            return list(range(len(self)))[index]
        if isinstance(index, torch.Tensor):
            return index.cpu().reshape(-1).tolist()
        return list(index) if isinstance(index, Iterable) else [int(index)]

    def rows(self, index) -> ClipFiles:
        chosen = self._rows(index)
        return ClipFiles([self.paths[i] for i in chosen], [self.counts[i] for i in chosen], self.form, self.depth)

    def __getitem__(self, index) -> torch.Tensor:
        clips = [read_clip(self.paths[i], self.form, self.counts[i]) for i in self._rows(index)]
        batch = torch.from_numpy(np.stack(clips)) if clips else torch.empty((0, *self.form.shape), dtype=torch.uint8)
        return batch[0] if isinstance(index, int) else batch  # (B, C, T, H, W)

    def prefetch(self, indices: Iterable) -> Iterator[tuple[object, torch.Tensor]]:
        """`(index, batch)` for every index, each batch decoded in a background thread up to `depth` batches ahead."""
        indices = iter(indices)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="striate-clips") as pool:
            pending = deque((index, pool.submit(self.__getitem__, index))
                            for index in itertools.islice(indices, self.depth))
            while pending:
                index, future = pending.popleft()
                following = next(indices, None)
                if following is not None:
                    pending.append((following, pool.submit(self.__getitem__, following)))
                yield index, future.result()

    def float(self) -> torch.Tensor:
        return self[:].float()

    def numpy(self) -> np.ndarray:
        return self[:].numpy()


# --- clips:PATH ------------------------------------------------------------------------------------------------------

@register_dataset("clips", location="PATH", kinds="clip, class",
                  description="video clips: an .npz of x (N, C, T, H, W) and y, or a folder with one sub-folder per "
                              "class of video files or frame folders; options frames=T, sampling=uniform|dense, "
                              "size=HxW, channels=1|3, memory_mb=M, mode=auto|memory|stream")
def _clips(location: str, frames: int | str | None = None, sampling: str | None = None, size: str | int | None = None,
           channels: int | str | None = None, memory_mb: float | str = 2048, mode: str = "auto") -> Splits:
    return load_clips(location, frames=_number(frames, "frames"), sampling=sampling, size=size,
                      channels=_number(channels, "channels"), memory_mb=float(memory_mb), mode=mode)


def _number(value, name: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if str(value).strip().isdigit() and int(value) > 0:
        return int(value)
    raise DataError(f"Invalid clips option `{name}` {value!r}: expected a positive whole number, e.g. {name}=16.")


def load_clips(path: str, *, frames: int | None = None, sampling: str | None = None, size=None,
               channels: int | None = None, memory_mb: float = 2048, mode: str = "auto",
               test_fraction: float = 0.2) -> Splits:
    """Clips from an `.npz` file or a folder of videos / frame folders, uint8 `(N, C, T, H, W)`; see the module."""
    root = Path(path).expanduser()
    if sampling is not None and sampling not in SAMPLINGS:
        raise DataError(f"Invalid clips option `sampling` {sampling!r}: expected one of {', '.join(SAMPLINGS)}.")
    if mode not in MODES:
        raise DataError(f"Invalid clips option `mode` {mode!r}: expected one of {', '.join(MODES)}.")
    if channels not in (None, 1, 3):
        raise DataError(f"Invalid clips option `channels` {channels!r}: expected 1 (grey) or 3 (RGB).")
    if root.is_file() and root.suffix.lower() == ".npz":
        return _npz_clips(root, test_fraction)
    if not root.is_dir():
        raise DataError(f"Clips not found: expected an .npz file or a folder of class sub-folders at {root}, found "
                        f"{found_at(root)} there.")
    parts = {part: _class_clips(root / part) for part in ("train", "test")} \
        if (root / "train").is_dir() and (root / "test").is_dir() else {"all": _class_clips(root)}
    classes = sorted({c for found in parts.values() for c in found}, key=label_order)
    if len(classes) < 2:
        raise DataError(f"Clip folder {root}: expected at least 2 class sub-folders with clips, found {classes}.")
    items = {part: [(p, classes.index(c)) for c in sorted(found, key=label_order) for p in found[c]]
             for part, found in parts.items()}
    probes = {p: probe(p) for part in items.values() for p, _ in part}
    form = _common_format(root, list(probes.values()), frames, sampling, size, channels)
    return _folder_splits(root, items, probes, form, classes, memory_mb, mode, test_fraction)


def _class_clips(folder: Path) -> dict[str, list[Path]]:
    """{class: clips} for a folder with one sub-folder per class; a clip is a video file or a folder of frames."""
    found = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        clips = sorted(p for p in sub.iterdir() if not p.name.startswith(".") and (
            (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES) or p.is_dir()))
        if clips:
            found[sub.name] = clips
    return found


def _common_format(root: Path, probes: list[tuple[int, int, int, bool]], frames: int | None, sampling: str | None,
                   size, channels: int | None) -> ClipFormat:
    counts = [count for count, *_ in probes]
    if frames is None and sampling is None and len(set(counts)) > 1:
        raise DataError(f"Clips in {root} have different lengths ({min(counts)} to {max(counts)} frames): expected "
                        f"equal lengths, or a sampling option, e.g. `?frames={min(counts)}&sampling=uniform`.")
    frames = frames or min(counts)
    height_width = _size(size) if size is not None else Counter((h, w) for _, h, w, _ in probes).most_common(1)[0][0]
    channels = channels or (1 if all(grey for *_, grey in probes) else 3)
    return ClipFormat(frames, sampling or "uniform", channels, height_width)


def _size(size) -> tuple[int, int]:
    text = str(size).lower().replace(",", "x")
    parts = text.split("x")
    if not all(p.strip().isdigit() and int(p) > 0 for p in parts) or len(parts) > 2:
        raise DataError(f"Invalid clips option `size` {size!r}: expected HxW or one side, e.g. size=112x112.")
    return (int(parts[0]), int(parts[-1]))


def _folder_splits(root: Path, items: dict[str, list[tuple[Path, int]]], probes: dict, form: ClipFormat,
                   classes: list[str], memory_mb: float, mode: str, test_fraction: float) -> Splits:
    total = sum(len(part) for part in items.values())
    megabytes = total * int(np.prod(form.shape)) / 2**20
    stream = mode == "stream" or (mode == "auto" and megabytes > memory_mb)
    parts = {}
    for part, found in items.items():
        paths, labels = [p for p, _ in found], torch.tensor([c for _, c in found], dtype=torch.int64)
        lazy = ClipFiles(paths, [probes[p][0] for p in paths], form)
        x = lazy if stream else _decode_all(lazy)
        placeholder = ((0.0,) * form.channels, (1.0,) * form.channels) if stream else (None, None)  # set below
        parts[part] = Dataset(x, labels, list(classes), name=f"clips:{root.name}", input_kind="clip",
                              mean=placeholder[0], std=placeholder[1])
    if "all" in parts:
        train, test = parts["all"].split(test_fraction, seed=0)
        splits = Splits(train=train if stream else renormalised(train), test=test)
    else:
        splits = Splits(train=parts["train"], test=parts["test"])
    if stream:
        splits.train.mean, splits.train.std = _sampled_stats(splits.train.x)
    splits.test.mean, splits.test.std = splits.train.mean, splits.train.std
    shape = "x".join(map(str, form.shape))
    where = (f"streamed from disk ({megabytes:,.0f} MB decoded would exceed memory_mb={memory_mb:g}; mode=memory "
             f"holds them): each batch is decoded in a background thread while the previous one trains; channel "
             f"statistics from {min(STAT_CLIPS, total)} clips") if stream else \
        f"held in memory ({megabytes:,.1f} MB, within memory_mb={memory_mb:g}; mode=stream reads them per batch)"
    splits.notes.append(f"clips: {total} clips of {shape} (C x T x H x W, {form.sampling} sampling) {where}.")
    return splits


def _decode_all(lazy: ClipFiles) -> torch.Tensor:
    return lazy[:]  # (N, C, T, H, W)


def _sampled_stats(lazy: ClipFiles) -> tuple[tuple[float, ...], tuple[float, ...]]:
    rows = torch.randperm(len(lazy), generator=torch.Generator().manual_seed(0))[:STAT_CLIPS]
    return channel_stats(lazy[rows])


def _npz_clips(path: Path, test_fraction: float) -> Splits:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            found = {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError) as error:
        raise DataError(f"Cannot read clips file {path}: expected an .npz of numeric arrays x and y ({error}).") \
            from None
    if "x" not in found or "y" not in found:
        raise DataError(f"Clips file {path} holds {sorted(found)}: expected arrays `x` (N, C, T, H, W) and `y` (N,).")
    x, y = found["x"], found["y"]
    if x.ndim != 5 or not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"Clips file {path} has `x` of shape {x.shape} and dtype {x.dtype}: expected uint8 or float "
                        "clips of shape (N, C, T, H, W).")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"Clips file {path} has `y` of shape {y.shape} and dtype {y.dtype}: expected (N,) integer "
                        "class indices.")
    classes = [str(c) for c in found["classes"]] if "classes" in found else None
    x_tensor = torch.from_numpy(np.ascontiguousarray(x if x.dtype == np.uint8 else x.astype(np.float32)))
    data = Dataset(x_tensor, torch.from_numpy(y.astype(np.int64)), classes, name=f"clips:{path.stem}",
                   input_kind="clip")
    train, test = data.split(test_fraction, seed=0)
    splits = Splits(train=renormalised(train), test=test)
    splits.notes.append(f"clips: {len(data)} clips of {'x'.join(map(str, data.input_shape))} (C x T x H x W) from "
                        f"{path.name}, held in memory.")
    return splits


def clip_input(item, input_shape: tuple[int, ...]) -> tuple[np.ndarray, list[str]]:
    """One clip for `predict`: a video file or a folder of frames as uint8 `(C, T, H, W)` matching `input_shape`,
    its frames sampled uniformly and resized, with notes on what was done."""
    path = Path(item)
    if not path.exists():
        raise DataError(f"Clip not found: expected a video file or a folder of frames at {path}, found "
                        f"{found_at(path)} there.")
    channels, frames, height, width = input_shape
    count, found_height, found_width, _ = probe(path)
    notes = []
    if count != frames:
        notes.append(f"sampled {frames} of {count} frames uniformly")
    if (found_height, found_width) != (height, width):
        notes.append(f"resized {found_width}x{found_height} to {width}x{height}")
    return read_clip(path, ClipFormat(frames, "uniform", channels, (height, width)), count), notes


# --- moving-fashion --------------------------------------------------------------------------------------------------

LABEL_SETS = ("class", "direction")


@register_dataset("moving-fashion", location="[DIR]", kinds="clip, class",
                  description="seeded synthetic clips: a Fashion-MNIST item moving across a larger canvas; "
                              "labels=class|direction, frames=T, canvas=S, size=N training clips, seed")
def _moving_fashion(location: str | None, labels: str = "class", frames: int | str = 8, canvas: int | str = 32,
                    size: int | str = 4000, seed: int | str = 0, download: bool = True) -> Splits:
    options = {key: _number(value, key) for key, value in
               (("frames", frames), ("canvas", canvas), ("size", size))}
    return load_moving_fashion(location, labels=labels, seed=int(seed), download=download, **options)


def load_moving_fashion(root: str | None = None, *, labels: str = "class", frames: int = 8, canvas: int = 32,
                        size: int = 4000, seed: int = 0, download: bool = True) -> Splits:
    """Seeded moving Fashion-MNIST clips, uint8 `(N, 1, frames, canvas, canvas)`: `size` training clips made from
    training items and `size // 4` test clips from test items, labelled by class or by direction of motion."""
    from striate.data.sources import FASHION_CLASSES, load_fashion_mnist

    if labels not in LABEL_SETS:
        raise DataError(f"Invalid moving-fashion option `labels` {labels!r}: expected one of {', '.join(LABEL_SETS)}.")
    if frames < 2 or canvas < 16:
        raise DataError(f"Invalid moving-fashion options frames={frames}, canvas={canvas}: expected at least 2 frames "
                        "and a canvas of at least 16 pixels.")
    source = load_fashion_mnist(root, download=download)
    parts = {}
    for offset, (part, count) in enumerate((("train", size), ("test", max(1, size // 4)))):
        images = getattr(source, part)
        generator = torch.Generator().manual_seed(seed * 2 + offset)
        x, items, directions, _ = moving_items(images.x, count, frames, canvas, generator)
        y, names = (images.y[items], list(FASHION_CLASSES)) if labels == "class" else (directions, list(DIRECTIONS))
        parts[part] = Dataset(x, y, names, name=f"moving-fashion-{labels}", input_kind="clip")
    parts["test"].mean, parts["test"].std = parts["train"].mean, parts["train"].std
    splits = Splits(train=parts["train"], test=parts["test"])
    splits.notes.append(f"moving-fashion: {size} training and {len(parts['test'])} test clips of 1x{frames}x{canvas}x"
                        f"{canvas} labelled by {labels}, held in memory.")
    return splits


def moving_items(images: torch.Tensor, count: int, frames: int, canvas: int, generator: torch.Generator):
    """`count` clips `(count, 1, frames, canvas, canvas)` uint8 of items from `images` `(M, 1, 28, 28)` moving in a
    straight line; returns the clips, the item each shows, its direction (index into DIRECTIONS) and the item's
    top-left corner in every frame `(count, frames, 2)` as (row, column).

    An item is shrunk to half the canvas; it moves `step` pixels per frame, the largest whole step that keeps it on
    the canvas, so the path spans the canvas.
    """
    side = canvas // 2
    items = torch.randint(len(images), (count,), generator=generator)
    small = F.interpolate(images[items].float(), size=(side, side), mode="area").round().to(torch.uint8)
    room = canvas - side  # free positions along each axis: 0..room
    step = max(1, room // (frames - 1))
    travel = step * (frames - 1)
    directions = torch.randint(len(DIRECTIONS), (count,), generator=generator)
    start = torch.randint(room - travel + 1, (count,), generator=generator)  # along the motion
    across = torch.randint(room + 1, (count,), generator=generator)  # perpendicular to it
    t = torch.arange(frames)
    along = torch.where((directions % 2 == 0)[:, None], start[:, None] + step * t,  # right / down: increasing
                        start[:, None] + travel - step * t)  # left / up: decreasing
    horizontal = (directions < 2)[:, None]
    rows = torch.where(horizontal, across[:, None].expand(-1, frames), along)  # (count, frames)
    columns = torch.where(horizontal, along, across[:, None].expand(-1, frames))
    clips = torch.zeros(count, 1, frames, canvas, canvas, dtype=torch.uint8)
    for i in range(count):
        for f in range(frames):
            r, c = int(rows[i, f]), int(columns[i, f])
            clips[i, 0, f, r: r + side, c: c + side] = small[i, 0]
    return clips, items, directions, torch.stack([rows, columns], dim=-1)
