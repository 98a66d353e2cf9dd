"""Datasets by name: Fashion-MNIST (IDX files), scikit-learn's digits and image folders.

Each loader returns `Splits` of uint8 image tensors `(N, C, H, W)` with class names. Fashion-MNIST keeps its real
download path for users who are online; offline it is read from Debian's `dataset-fashion-mnist` package.
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
from striate.errors import DataError, did_you_mean

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_DIRS = ("/usr/share/datasets/fashion-mnist", "~/.cache/striate/fashion-mnist")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
DATASETS = {"fashion-mnist": "Fashion-MNIST, 70,000 28x28 grey clothing images, 10 classes (IDX files)",
            "digits": "scikit-learn's 1,797 8x8 handwritten digits, 10 classes",
            "folder:PATH": "an image folder with one sub-folder per class (PNG/JPEG), optional train/ and test/"}


def load_data(spec: str, *, val_split: float = 0.0, seed: int = 0, download: bool = True) -> Splits:
    """Load a dataset by its spec (`fashion-mnist[:DIR]`, `digits`, `folder:PATH`) and split off validation data.

    Args:
        spec: dataset name, optionally with a location after a colon.
        val_split: fraction of the training set held out (stratified, seeded) for validation; 0 disables it.
        seed: seed of the validation split.
        download: whether Fashion-MNIST may be downloaded when no local copy is found.
    """
    name, _, location = spec.partition(":")
    if name == "fashion-mnist":
        splits = load_fashion_mnist(location or None, download=download)
    elif name == "digits":
        splits = load_digits()
    elif name == "folder":
        if not location:
            raise DataError("Invalid `--data folder:PATH`: expected a folder path after `folder:`, received nothing.")
        splits = load_image_folder(location)
    else:
        names = [key.split(":")[0] for key in DATASETS]
        raise DataError(f"Unknown dataset `{spec}`: expected one of {', '.join(DATASETS)}.{did_you_mean(name, names)}")
    if not 0.0 <= val_split < 1.0:
        raise DataError(f"Invalid `val_split`: expected a fraction in [0, 1), received {val_split}.")
    if val_split > 0:
        splits.train, splits.val = splits.train.split(val_split, seed=seed)
    return splits


# --- Fashion-MNIST ---------------------------------------------------------------------------------------------------

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

def load_digits(test_fraction: float = 0.2) -> Splits:
    """scikit-learn's 8x8 digits, scaled from 0..16 to uint8 `(N, 1, 8, 8)`, with a stratified seeded test split."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = torch.from_numpy(np.round(bunch.images * (255 / 16)).astype(np.uint8)).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    full = Dataset(x, y, [str(c) for c in bunch.target_names], name="digits")
    train, test = full.split(test_fraction, seed=0)
    return Splits(train=_renormalised(train), test=test)


def _renormalised(train: Dataset) -> Dataset:
    """Training statistics only (the test part must not leak into normalisation)."""
    train.mean = train.std = None
    train.__post_init__()
    return train


# --- image folders ---------------------------------------------------------------------------------------------------

def load_image_folder(path: str, test_fraction: float = 0.2) -> Splits:
    """An image folder with one sub-folder per class, or with `train/` and `test/` each laid out that way.

    All images are converted to one mode (grey when every image is grey, RGB otherwise) and resized to the most common
    size, giving uint8 `(N, C, H, W)`.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"Image folder not found: expected a directory at {root}, found nothing there.")
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
        return Splits(train=_renormalised(train), test=test)
    parts["test"].mean, parts["test"].std = parts["train"].mean, parts["train"].std
    return Splits(train=parts["train"], test=parts["test"])


def _class_files(folder: Path) -> dict[str, list[Path]]:
    found = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(f for f in sub.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            found[sub.name] = images
    return found


def _common_format(paths: list[Path]) -> tuple[str, tuple[int, int]]:

    modes, sizes = set(), Counter()
    for path in paths:
        with _open_image(path) as image:
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


def _open_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
        return image
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"Cannot read image {path}: expected a PNG or JPEG file ({error}).") from None


def image_to_array(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """Read one image as uint8 `(C, H, W)` in `mode` ('L' or 'RGB') at `size` = (width, height)."""
    from PIL import Image

    with _open_image(Path(path)) as image:
        image = image.convert(mode)
        if image.size != tuple(size):
            image = image.resize(tuple(size), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
