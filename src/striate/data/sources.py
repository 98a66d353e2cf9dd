"""Image datasets: Fashion-MNIST (IDX files), scikit-learn's digits and image folders.

Each loader returns `Splits` of uint8 image tensors `(N, C, H, W)` with class names. Fashion-MNIST keeps its real
download path for users who are online; offline it is read from Debian's `dataset-fashion-mnist` package. Image
decoding lives here only (`image_to_array`, `open_image`); `predict` uses the same functions.
"""

from __future__ import annotations

import gzip
import os
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from striate._io import atomic_write_bytes
from striate.data._dataset import Dataset, Splits
from striate.data._registry import register_dataset, renormalised
from striate.errors import DataError, found_at

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_DIRS = ("/usr/share/datasets/fashion-mnist", "~/.cache/striate/fashion-mnist")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


# --- Fashion-MNIST ---------------------------------------------------------------------------------------------------

@register_dataset("fashion-mnist", location="[DIR]", description="Fashion-MNIST, 70,000 28x28 grey clothing images, "
                  "10 classes (the four IDX .gz files, from DIR or Debian's dataset-fashion-mnist)")
def _fashion_mnist(location: str | None, download: bool = True) -> Splits:
    return load_fashion_mnist(location, download=download)


def load_fashion_mnist(root: str | None = None, *, download: bool = True) -> Splits:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test images, uint8 `(N, 1, 28, 28)`."""
    folder = _find_fashion_mnist(root, download)
    parts = {}
    for part, (images, labels) in FASHION_FILES.items():
        x = torch.from_numpy(read_idx(folder / images)).unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
        y = torch.from_numpy(read_idx(folder / labels).astype(np.int64))
        parts[part] = Dataset(x, y, list(FASHION_CLASSES), name="fashion-mnist")
    test = parts["test"]
    test.mean, test.std = parts["train"].mean, parts["train"].std
    return Splits(train=parts["train"], test=test)


def _find_fashion_mnist(root: str | None, download: bool) -> Path:
    candidates = [root] if root else [os.environ.get("STRIATE_FASHION_MNIST"), *FASHION_DIRS]
    for candidate in filter(None, candidates):
        folder = Path(candidate).expanduser()
        if all((folder / f).is_file() for pair in FASHION_FILES.values() for f in pair):
            return folder
    cache = Path(root or FASHION_DIRS[-1]).expanduser()
    if download:
        try:
            return _download_fashion_mnist(cache)
        except OSError:
            pass
    raise DataError(
        f"Fashion-MNIST not found: expected the four IDX .gz files in {' or '.join(filter(None, candidates))}; "
        "install them with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu) or download them into "
        f"{cache}.")


def _download_fashion_mnist(folder: Path) -> Path:
    """Fetch the four IDX files from the dataset's own site (the real path for users who are online).

    Everything is fetched before anything is written, so a failed download leaves no folder or partial file behind.
    """
    names = [name for pair in FASHION_FILES.values() for name in pair]
    payloads = {}
    for name in names:
        with urllib.request.urlopen(FASHION_URL + name, timeout=10) as response:
            payloads[name] = response.read()
    for name, payload in payloads.items():
        atomic_write_bytes(folder / name, payload)
    return folder


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) of unsigned bytes into an array of its declared shape."""
    try:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"Cannot read IDX file {path}: {error}.") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"Invalid IDX file {path}: expected the magic bytes 00 00 08 <ndim> of unsigned bytes.")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)):
        raise DataError(f"Invalid IDX file {path}: header declares shape {shape}, "
                        f"but {len(data) - offset} bytes follow instead of {int(np.prod(shape))}.")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape).copy()


# --- scikit-learn digits ---------------------------------------------------------------------------------------------

@register_dataset("digits", description="scikit-learn's 1,797 8x8 handwritten digits, 10 classes; option size=N "
                                        "resizes them to NxN (e.g. 28 to fine-tune a Fashion-MNIST model)")
def _digits(location: None, size: int = 8) -> Splits:
    return load_digits(size=size)


DIGIT_ATTRIBUTES = {"even": {0, 2, 4, 6, 8}, "prime": {2, 3, 5, 7}, "at_least_5": {5, 6, 7, 8, 9},
                    "closed_loop": {0, 6, 8, 9}}
"""The multi-label attributes of `digits-attributes`: which digits have each property."""


@register_dataset("digits-attributes", kinds="image, multilabel",
                  description="scikit-learn's 8x8 digits labelled with four attributes each (even, prime, at_least_5, "
                              "closed_loop): a multi-label set; option size=N as for digits")
def _digits_attributes(location: None, size: int = 8) -> Splits:
    splits = load_digits(size=size)
    for part in (splits.train, splits.test):
        attributes = torch.tensor([[float(int(part.classes[d]) in digits) for digits in DIGIT_ATTRIBUTES.values()]
                                   for d in part.y.tolist()])  # (N, 4) multi-hot
        part.y, part.classes, part.target_kind = attributes, list(DIGIT_ATTRIBUTES), "multilabel"
        part.name = "digits-attributes"
    return splits


def load_digits(test_fraction: float = 0.2, size: int = 8) -> Splits:
    """scikit-learn's 8x8 digits, scaled from 0..16 to uint8 `(N, 1, 8, 8)`, with a stratified seeded test split;
    `size` resizes them to `(N, 1, size, size)` (bilinear; the same split)."""
    from sklearn.datasets import load_digits as sklearn_digits

    if isinstance(size, bool) or not isinstance(size, int) or not 4 <= size <= 512:
        raise DataError(f"Invalid digits option `size` {size!r}: expected an integer from 4 to 512, e.g. size=28.")
    bunch = sklearn_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32)).unsqueeze(1)  # (N, 1, 8, 8), values 0..16
    if size != 8:
        images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    x = torch.round(images.clamp(0, 16) * (255 / 16)).to(torch.uint8)  # (N, 1, size, size)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    full = Dataset(x, y, [str(c) for c in bunch.target_names], name="digits")
    train, test = full.split(test_fraction, seed=0)
    return Splits(train=renormalised(train), test=test)


# --- image folders ---------------------------------------------------------------------------------------------------

@register_dataset("folder", location="PATH", kinds="image, class | multilabel | real",
                  description="an image folder with one sub-folder per class (PNG/JPEG), optional train/ and test/; "
                              "or any images with labels=CSV (a file column, label columns; target=multilabel|real)")
def _folder(location: str, labels: str | None = None, target: str = "auto") -> Splits | Dataset:
    if labels is not None:
        return load_labelled_images(location, labels, target)
    return load_image_folder(location)


def load_labelled_images(path: str, labels_csv: str, target: str = "auto") -> Dataset:
    """Every image under `path` (recursively), with targets from a labels CSV (see `tabular.folder_targets`)."""
    from striate.data.tabular import folder_targets

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"Image folder not found: expected a folder at {root}, found {found_at(root)} there.")
    files = _image_files(root)
    if not files:
        raise DataError(f"Image folder {root} holds no PNG or JPEG images.")
    y, classes, kind = folder_targets(files, labels_csv, target)
    mode, size = _common_format(files)
    x = torch.from_numpy(np.stack([image_to_array(f, mode, size) for f in files]))  # (N, C, H, W)
    return Dataset(x, y, classes, name=f"folder:{root.name}", target_kind=kind)


def load_image_folder(path: str, test_fraction: float = 0.2) -> Splits:
    """An image folder with one sub-folder per class, or with `train/` and `test/` each laid out that way.

    All images are converted to one mode (grey when every image is grey, RGB otherwise) and resized to the most common
    size, giving uint8 `(N, C, H, W)`.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"Image folder not found: expected a folder at {root}, found {found_at(root)} there.")
    if (root / "train").is_dir() and (root / "test").is_dir():
        files = {part: _class_files(root / part) for part in ("train", "test")}
        classes = sorted(files["train"])
        if sorted(files["test"]) != classes:
            raise DataError(f"Image folder {root}: train/ has classes {classes} but test/ has {sorted(files['test'])}.")
    else:
        files = {"all": _class_files(root)}
        classes = sorted(files["all"])
    if len(classes) < 2:
        raise DataError(f"Image folder {root}: expected at least 2 class sub-folders with images, found {classes}.")
    mode, size = _common_format([f for part in files.values() for fs in part.values() for f in fs])
    parts = {part: _stack(found, classes, mode, size, root.name) for part, found in files.items()}
    if "all" in parts:
        train, test = parts["all"].split(test_fraction, seed=0)
        return Splits(train=renormalised(train), test=test)
    parts["test"].mean, parts["test"].std = parts["train"].mean, parts["train"].std
    return Splits(train=parts["train"], test=parts["test"])


MAX_IMAGE_FILES = 2_000_000
"""The most image files a folder dataset may hold: all of them are decoded into memory."""


def _class_files(folder: Path) -> dict[str, list[Path]]:
    found, total = {}, 0
    for sub in sorted(p for p in _listing(folder) if p.is_dir() and not p.name.startswith(".")):
        images = _image_files(sub, MAX_IMAGE_FILES - total)
        total += len(images)
        if images:
            found[sub.name] = images
    return found


def _listing(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as error:
        raise DataError(f"Cannot read image folder {folder}: {error.strerror or error}; expected a folder this user "
                        "can list.") from None


def _image_files(folder: Path, limit: int = MAX_IMAGE_FILES) -> list[Path]:
    """Image files under `folder` (recursively, sorted); more than `limit` is an error, as is an unreadable folder."""
    images = []
    try:
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                images.append(path)
                if len(images) > limit:
                    raise DataError(f"Image folder {folder} holds more than {MAX_IMAGE_FILES:,} images: expected at "
                                    "most that many, as all are decoded into memory; use a subset.")
    except OSError as error:
        raise DataError(f"Cannot read image folder {folder}: {error.strerror or error}; expected a folder this user "
                        "can list.") from None
    return sorted(images)


def _common_format(paths: list[Path]) -> tuple[str, tuple[int, int]]:

    modes, sizes = set(), Counter()
    for path in paths:
        with open_image(path) as image:
            modes.add(image.mode)
            sizes[image.size] += 1
    grey = modes <= {"L", "1", "I", "I;16", "F"}
    return ("L" if grey else "RGB"), sizes.most_common(1)[0][0]


def _stack(found: dict[str, list[Path]], classes: list[str], mode: str, size: tuple[int, int], name: str) -> Dataset:
    arrays, labels = [], []
    for index, cls in enumerate(classes):
        for path in found.get(cls, []):
            arrays.append(image_to_array(path, mode, size))
            labels.append(index)
    x = torch.from_numpy(np.stack(arrays))  # (N, C, H, W)
    return Dataset(x, torch.tensor(labels, dtype=torch.int64), list(classes), name=f"folder:{name}")


def depth_note(image) -> str | None:
    """What `to_chw` does to an image's values beyond Pillow's 8-bit conversion, or None."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return "scaled 16-bit values to 8 bits (divided by 257)"
    if image.mode == "I":
        return "scaled 32-bit integer values to 8 bits by their minimum and maximum"
    if image.mode == "F":
        return "scaled float values to 8 bits by their range"
    return None


def to_8_bit(image):
    """An 8-bit grey ('L') copy of a 16-bit, 32-bit or float grey image, keeping its value range; others unchanged."""
    from PIL import Image

    if image.mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return image
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        scaled = values / 257.0
    elif image.mode == "F" and values.size and values.min() >= 0.0 and values.max() <= 1.0:
        scaled = values * 255.0
    else:
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def open_image(path: Path):
    """Open and decode an image file with Pillow; every failure is a one-line DataError naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
        return image
    except Image.DecompressionBombError:
        raise DataError(f"Cannot read image {path}: it has more pixels than Pillow's decompression-bomb limit "
                        f"({Image.MAX_IMAGE_PIXELS:,}); expected an image small enough to train on, resize it first.") \
            from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"Cannot read image {path}: expected a PNG or JPEG file ({error}).") from None


def image_to_array(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """Read one image as uint8 `(C, H, W)` in `mode` ('L' or 'RGB') at `size` = (width, height)."""
    with open_image(Path(path)) as image:
        return to_chw(image, mode, size)


def to_chw(image, mode: str, size: tuple[int, int]) -> np.ndarray:
    """A PIL image converted to `mode` and resized (bilinear) to `size` = (width, height), as uint8 `(C, H, W)`.

    16-bit and 32-bit integer images are scaled to 8 bits by their type's range and float images by theirs ([0, 1],
    else their own minimum to maximum), instead of Pillow's conversion, which clips them (16-bit PNGs become almost
    all 255, float TIFFs all 0); `depth_note` says what was done.
    """
    from PIL import Image

    image = to_8_bit(image)
    image = image.convert(mode) if image.mode != mode else image
    if image.size != tuple(size):
        image = image.resize(tuple(size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)


from striate.data import clips as _clips  # noqa: E402, F401  (registers `clips`, `moving-fashion`: after the images)
