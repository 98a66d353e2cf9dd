"""Shared fixtures: small real datasets written to temporary folders in the formats striate reads."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
TEXT_DIR = Path(os.environ.get("STRIATE_TEXT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "text"))
"""Kim's TREC and SST-2 files: the project's shared data folder beside the checkout, or $STRIATE_TEXT_DATA."""


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format, written independently of striate's reader: zero, zero, type 0x08, ndim, big-endian sizes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", size) for size in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="session")
def fashion_arrays():
    """The first 2,000 training and 500 test images of the real Fashion-MNIST, parsed with numpy directly."""
    def read(name: str, offset: int) -> np.ndarray:
        with gzip.open(FASHION_DIR / name, "rb") as handle:
            return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset)

    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail("Fashion-MNIST is missing: run `make test` (it installs dataset-fashion-mnist).")
    train_x = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:2000]
    train_y = read("train-labels-idx1-ubyte.gz", 8)[:2000]
    test_x = read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:500]
    test_y = read("t10k-labels-idx1-ubyte.gz", 8)[:500]
    return train_x, train_y, test_x, test_y


@pytest.fixture(scope="session")
def _fashion_lenet(tmp_path_factory):
    """LeNet-5 trained 2 epochs on 3,000 Fashion-MNIST images, tested on 500 (trained once per session)."""
    import striate

    return striate.train(data="fashion-mnist", model="lenet5", epochs=2, train_size=3000, test_size=500,
                         batch_size=64, out=str(tmp_path_factory.mktemp("shared-runs")), name="lenet", quiet=True)


@pytest.fixture(scope="module")
def fashion_lenet(_fashion_lenet, tmp_path_factory):
    """A module's own copy of the session's Fashion-MNIST LeNet-5 run (exports and engines write into it)."""
    import shutil

    import striate

    folder = tmp_path_factory.mktemp("runs") / "lenet"
    shutil.copytree(_fashion_lenet.path, folder)
    return striate.load(folder)


@pytest.fixture
def small_fashion(tmp_path, fashion_arrays) -> Path:
    """A folder holding a 2,000/500-image Fashion-MNIST in the original four IDX .gz files."""
    train_x, train_y, test_x, test_y = fashion_arrays
    for name, array in (("train-images-idx3-ubyte.gz", train_x), ("train-labels-idx1-ubyte.gz", train_y),
                        ("t10k-images-idx3-ubyte.gz", test_x), ("t10k-labels-idx1-ubyte.gz", test_y)):
        write_idx(tmp_path / name, array)
    return tmp_path


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Three classes of scikit-learn digits (0, 1, 2) saved as 8x8 grey PNGs, 30 per class, in class sub-folders."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    root = tmp_path / "digits-folder"
    for label in (0, 1, 2):
        folder = root / f"class_{label}"
        folder.mkdir(parents=True)
        images = bunch.images[bunch.target == label][:30]
        for index, image in enumerate(images):
            Image.fromarray(np.round(image * 255 / 16).astype(np.uint8), mode="L").save(folder / f"{index}.png")
    (root / "class_0" / "notes.txt").write_text("not an image; ignored because of its suffix")
    return root


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def text_dir() -> Path:
    """The folder of TREC and SST-2 (skips, naming the fix, where a checkout has no shared data folder beside it)."""
    if not (TEXT_DIR / "TREC.train.all").is_file():
        pytest.skip(f"{TEXT_DIR} is missing: set STRIATE_TEXT_DATA to the folder holding Kim's TREC and SST-2 files.")
    return TEXT_DIR
