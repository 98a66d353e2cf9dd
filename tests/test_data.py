"""Datasets: readers, shapes, dtypes, labels, class names, splits and the batch loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from striate.data import BatchLoader, Dataset, channel_stats, load_data, load_fashion_mnist
from striate.data.sources import FASHION_CLASSES, read_idx
from striate.errors import DataError


def test_full_fashion_mnist_shapes_labels_and_published_statistics():
    splits = load_fashion_mnist()
    assert splits.train.x.shape == (60000, 1, 28, 28) and splits.train.x.dtype == torch.uint8
    assert splits.test.x.shape == (10000, 1, 28, 28)
    assert splits.train.y.dtype == torch.int64
    assert torch.equal(splits.train.y.bincount(), torch.full((10,), 6000))
    assert torch.equal(splits.test.y.bincount(), torch.full((10,), 1000))
    assert splits.train.classes[0] == "T-shirt/top" and splits.train.classes[9] == "Ankle boot"
    # The widely quoted Fashion-MNIST normalisation constants are mean 0.2860, std 0.3530.
    assert splits.train.mean[0] == pytest.approx(0.2860, abs=1e-4)
    assert splits.train.std[0] == pytest.approx(0.3530, abs=1e-4)
    assert splits.test.mean == splits.train.mean  # the test set is normalised with training statistics


def test_fashion_mnist_from_a_folder_matches_numpy(small_fashion, fashion_arrays):
    train_x, train_y, test_x, _ = fashion_arrays
    splits = load_data(f"fashion-mnist:{small_fashion}")
    assert torch.equal(splits.train.x[:, 0], torch.from_numpy(train_x))
    assert torch.equal(splits.train.y, torch.from_numpy(train_y.astype(np.int64)))
    assert torch.equal(splits.test.x[:, 0], torch.from_numpy(test_x))
    assert splits.train.classes == FASHION_CLASSES and splits.train.input_shape == (1, 28, 28)


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"Fashion-MNIST not found: .*apt-get install dataset-fashion-mnist"):
        load_data(f"fashion-mnist:{tmp_path}", download=False)


def test_idx_reader_rejects_bad_headers_and_truncated_files(tmp_path):
    (tmp_path / "bad.idx").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x02ab")
    with pytest.raises(DataError, match="magic bytes"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DataError, match=r"declares shape \(5,\), but 3 bytes follow"):
        read_idx(tmp_path / "short.idx")


def test_unknown_dataset_suggests_closest():
    with pytest.raises(DataError, match=r"Unknown dataset `fashion`.*Did you mean `fashion-mnist`\?"):
        load_data("fashion")


def test_digits_are_uint8_images_with_a_stratified_held_out_test_split():
    splits = load_data("digits")
    assert len(splits.train) + len(splits.test) == 1797
    assert splits.train.x.dtype == torch.uint8 and splits.train.input_shape == (1, 8, 8)
    assert int(splits.train.x.max()) == 255 and splits.train.classes == [str(i) for i in range(10)]
    share = splits.test.y.bincount(minlength=10).double() / splits.train.y.bincount(minlength=10).double()
    assert torch.allclose(share, torch.full((10,), 0.25, dtype=torch.float64), atol=0.02)  # 20% held out per class
    rows = {tuple(r) for r in splits.train.x.flatten(1).tolist()}
    assert sum(tuple(r) in rows for r in splits.test.x.flatten(1).tolist()) < 5  # disjoint up to duplicate images


def test_validation_split_is_stratified_disjoint_and_seeded():
    a = load_data("digits", val_split=0.2, seed=3)
    b = load_data("digits", val_split=0.2, seed=3)
    c = load_data("digits", val_split=0.2, seed=4)
    assert torch.equal(a.val.x, b.val.x) and not torch.equal(a.val.x, c.val.x)
    assert len(a.train) + len(a.val) == 1797 - len(a.test)
    counts = a.val.y.bincount(minlength=10)
    assert int(counts.max() - counts.min()) <= 3
    with pytest.raises(DataError, match=r"val_split.*received 1.5"):
        load_data("digits", val_split=1.5)


def test_image_folder_classes_from_subfolders_and_mixed_formats(image_folder):
    extra = Image.fromarray(np.full((16, 12, 3), 200, np.uint8), mode="RGB")
    extra.save(image_folder / "class_2" / "big.jpg")  # one RGB image: all become RGB, resized to the common 8x8
    splits = load_data(f"folder:{image_folder}")
    assert splits.train.classes == ["class_0", "class_1", "class_2"]
    assert splits.train.input_shape == (3, 8, 8)
    grey = splits.train.x[splits.train.y == 0]
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])  # grey copied to R, G, B
    assert len(splits.train) + len(splits.test) == 91
    assert splits.train.x.dtype == torch.uint8


def test_image_folder_with_train_and_test_subfolders(tmp_path):
    for part, count in (("train", 4), ("test", 2)):
        for cls, value in (("cat", 30), ("dog", 220)):
            folder = tmp_path / part / cls
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(np.full((5, 6, 3), value + i, np.uint8)).save(folder / f"{i}.png")
    splits = load_data(f"folder:{tmp_path}")
    assert (len(splits.train), len(splits.test)) == (8, 4)
    assert splits.train.input_shape == (3, 5, 6)
    assert splits.test.y.tolist() == [0, 0, 1, 1]
    assert int(splits.test.x[2, 0, 0, 0]) == 220


def test_unreadable_image_names_the_file(image_folder):
    (image_folder / "class_1" / "broken.png").write_text("this is not a PNG")
    with pytest.raises(DataError, match=r"Cannot read image .*broken\.png: expected a PNG or JPEG file"):
        load_data(f"folder:{image_folder}")


def test_missing_image_folder(tmp_path):
    with pytest.raises(DataError, match="Image folder not found"):
        load_data(f"folder:{tmp_path / 'nope'}")


def test_channel_stats_match_float64_formula():
    x = torch.randint(0, 256, (50, 3, 4, 5), dtype=torch.uint8)
    mean, std = channel_stats(x)
    reference = x.double() / 255
    assert np.allclose(mean, reference.mean(dim=(0, 2, 3)).numpy(), rtol=0, atol=1e-12)
    assert np.allclose(std, reference.std(dim=(0, 2, 3), correction=0).numpy(), rtol=0, atol=1e-12)


def test_batch_loader_visits_every_row_once_and_normalises():
    x = torch.arange(10 * 2 * 3 * 3, dtype=torch.float32).reshape(10, 2, 3, 3).remainder(256).to(torch.uint8)
    data = Dataset(x, torch.arange(10), [str(i) for i in range(10)], mean=(0.5, 0.25), std=(0.5, 2.0))
    loader = BatchLoader(data, 4, shuffle=True, generator=torch.Generator().manual_seed(1))
    batches = list(loader)
    assert [len(y) for _, y in batches] == [4, 4, 2] and len(loader) == 3
    seen = torch.cat([y for _, y in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    inputs = torch.cat([b for b, _ in batches])
    expected = (x[seen].double() / 255 - torch.tensor([0.5, 0.25]).view(1, 2, 1, 1)) / torch.tensor([0.5, 2.0]).view(
        1, 2, 1, 1)
    assert torch.allclose(inputs.double(), expected, atol=1e-6)


def test_batch_loader_channels_last_and_drop_last():
    data = Dataset(torch.zeros(9, 3, 4, 4, dtype=torch.uint8), torch.zeros(9, dtype=torch.int64), ["a"])
    loader = BatchLoader(data, 4, drop_last=True, channels_last=True)
    batches = list(loader)
    assert len(batches) == 2 and len(loader) == 2
    assert batches[0][0].is_contiguous(memory_format=torch.channels_last)
