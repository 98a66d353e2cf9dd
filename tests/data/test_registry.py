"""The dataset registry, split strategies, alignment of separate parts, the preprocessing module and table loaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from striate.data import BatchLoader, Dataset, Preprocess, list_datasets, load_data, parse_data_spec
from striate.data._registry import align
from striate.errors import ConfigError, DataError


def test_specs_parse_names_locations_and_options():
    assert parse_data_spec("csv:data/x.csv?target=real&label_columns=y") == (
        "csv", "data/x.csv", {"target": "real", "label_columns": "y"})
    assert parse_data_spec("digits") == ("digits", None, {})
    names = {entry.name for entry in list_datasets()}
    assert {"fashion-mnist", "digits", "digits-attributes", "folder", "ucr", "ts", "tsv", "text", "csv", "npz"} <= names


def test_registry_errors_name_the_fix():
    with pytest.raises(DataError, match=r"Unknown dataset `ucrr:GunPoint`.*Did you mean `ucr`\?"):
        load_data("ucrr:GunPoint")
    with pytest.raises(DataError, match=r"Invalid `--data ucr:NAME`: expected a name after `ucr:`, received nothing"):
        load_data("ucr")
    with pytest.raises(ConfigError, match=r"Unknown option `unequall` for dataset `ucr`.*Did you mean `unequal`\?"):
        load_data("ucr:GunPoint?unequall=pad")
    with pytest.raises(DataError, match=r"dataset `digits` takes no location after the colon"):
        load_data("digits:somewhere")


def toy(target_kind="class", n=40, ordered=False):
    x = torch.arange(n * 3, dtype=torch.float32).reshape(n, 1, 3)
    y = {"class": torch.arange(n) % 4, "real": torch.arange(n, dtype=torch.float32),
         "multilabel": torch.stack([torch.arange(n) % 2, torch.arange(n) % 3 == 0], 1).float()}[target_kind]
    return Dataset(x, y, None, input_kind="signal", target_kind=target_kind, ordered=ordered)


def test_split_strategies():
    train, held = toy("class").split(0.3, seed=0)
    assert held.y.bincount(minlength=4).tolist() == [3, 3, 3, 3]  # stratified: 30% of each class's 10 rows
    assert sorted(torch.cat([train.y, held.y]).tolist()) == sorted(toy().y.tolist())
    train, held = toy("real", ordered=True).split(0.25)
    assert held.y.tolist() == [float(i) for i in range(30, 40)]  # temporal: the last quarter, in order
    assert train.y.tolist() == [float(i) for i in range(30)]
    a, b = toy("multilabel").split(0.25, seed=1), toy("multilabel").split(0.25, seed=1)
    assert torch.equal(a[1].x, b[1].x) and len(a[1]) == 10  # random: seeded
    assert toy("multilabel").split_strategy() == "random" and toy("class").split_strategy() == "stratified"
    with pytest.raises(ConfigError, match=r"Invalid `split: stratified` for real targets"):
        toy("real").split(0.2, strategy="stratified")


def test_align_maps_classes_by_name_and_rejects_unseen_labels():
    train = Dataset(torch.zeros(4, 1, 3), torch.tensor([0, 1, 2, 0]), ["cat", "dog", "eel"], input_kind="signal")
    part = Dataset(torch.ones(3, 1, 3), torch.tensor([0, 1, 1]), ["eel", "cat"], input_kind="signal")
    aligned = align(part, train, "test.csv")
    assert aligned.classes == ["cat", "dog", "eel"] and aligned.y.tolist() == [2, 0, 0]
    assert aligned.mean == train.mean and aligned.std == train.std
    odd = Dataset(torch.ones(2, 1, 3), torch.tensor([0, 1]), ["cat", "fox"], input_kind="signal")
    with pytest.raises(DataError, match=r"Data `test.csv` has labels \['fox'\] that the training data never had"):
        align(odd, train, "test.csv")
    wide = Dataset(torch.ones(2, 1, 4), torch.tensor([0, 0]), ["cat"], input_kind="signal")
    with pytest.raises(DataError, match=r"has inputs of shape \(1, 4\) but the training data has \(1, 3\)"):
        align(wide, train, "test.csv")


def test_preprocess_channel_normalisation_matches_the_formula():
    x = torch.randint(0, 256, (5, 2, 3, 3), dtype=torch.uint8)
    pre = Preprocess("image", "channel", mean=(0.5, 0.25), std=(0.5, 2.0), scale=1 / 255)
    expected = (x.double() / 255 - torch.tensor([0.5, 0.25]).view(1, 2, 1, 1)) / torch.tensor([0.5, 2.0]).view(
        1, 2, 1, 1)
    assert torch.allclose(pre(x).double(), expected, atol=1e-6)


def test_preprocess_series_znormalises_each_series_over_its_valid_steps():
    x = torch.tensor([[[1.0, 2.0, 3.0, float("nan")], [5.0, 5.0, 5.0, 5.0]],
                      [[0.0, 4.0, float("nan"), float("nan")], [1.0, -1.0, 1.0, -1.0]]])
    out = Preprocess("signal", "series")(x)
    for n in range(2):
        for c in range(2):
            row = x[n, c].double()
            valid = row[~row.isnan()]
            std = valid.std(correction=0)
            reference = torch.zeros(4, dtype=torch.float64)
            if std > 1e-8:
                reference[: len(valid)] = (valid - valid.mean()) / std
            assert torch.allclose(out[n, c].double(), reference, atol=1e-6), (n, c)


def test_token_ids_reach_the_model_unchanged():
    """The defect: token ids [43, 8, 8, 31] came out of the loader as [0.93, -1.24, -1.13, 0.44]."""
    ids = torch.tensor([[43, 8, 8, 31], [2, 3, 0, 0]])
    data = Dataset(ids, torch.tensor([0, 1]), ["a", "b"], input_kind="tokens", normalization="none")
    x, _ = next(iter(BatchLoader(data, 2)))
    assert x.dtype == torch.int64 and torch.equal(x, ids)


def test_npz_loader_every_target_kind(tmp_path):
    generator = np.random.default_rng(0)
    x = generator.normal(size=(20, 2, 9)).astype(np.float32)
    np.savez(tmp_path / "c.npz", X=x, y=np.array(["b", "a"] * 10))
    np.savez(tmp_path / "m.npz", X=x, y=(generator.random((20, 3)) < 0.5).astype(np.int64), classes=["p", "q", "r"])
    np.savez(tmp_path / "r.npz", X=x[:, 0], y=np.linspace(0, 1, 20))
    classes = load_data(f"npz:{tmp_path / 'c.npz'}").train
    assert classes.classes == ["a", "b"] and classes.input_shape == (2, 9) and classes.target_kind == "class"
    multi = load_data(f"npz:{tmp_path / 'm.npz'}?target=multilabel")
    assert multi.train.classes == ["p", "q", "r"] and multi.train.y.shape[1] == 3
    assert len(multi.train) + len(multi.test) == 20
    real = load_data(f"npz:{tmp_path / 'r.npz'}").train
    assert real.target_kind == "real" and real.input_shape == (1, 9)
    np.savez(tmp_path / "bad.npz", inputs=x)
    with pytest.raises(DataError, match=r"has no array `X`: expected keys X and y \(optional classes\), found inputs"):
        load_data(f"npz:{tmp_path / 'bad.npz'}")


def test_csv_loader_multilabel_columns_and_errors(tmp_path):
    rows = ["a,b,c,cat,dog"] + [f"{i},{i + 1},{i * 2},{i % 2},{int(i % 3 == 0)}" for i in range(10)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    data = load_data(f"csv:{tmp_path / 'm.csv'}?label_columns=cat,dog", test_split=0.2)
    assert data.train.classes == ["cat", "dog"] and data.train.target_kind == "multilabel"
    assert data.train.input_shape == (1, 3)
    (tmp_path / "bad.csv").write_text("a,label\n1,x\nseven,y\n")
    with pytest.raises(DataError, match=r"line 3 column 'a': expected a number, found 'seven'"):
        load_data(f"csv:{tmp_path / 'bad.csv'}")
    with pytest.raises(DataError, match=r"has no column 'kind': expected label_columns among a, label"):
        load_data(f"csv:{tmp_path / 'bad.csv'}?label_columns=kind")


def test_image_folder_with_a_multilabel_csv(tmp_path):
    names = []
    for i in range(12):
        Image.fromarray(np.full((6, 6), 20 * i, np.uint8)).save(tmp_path / f"{i}.png")
        names.append(f"{i}.png,{'sky|sea' if i % 2 else 'sky'}")
    (tmp_path / "labels.csv").write_text("file,labels\n" + "\n".join(names) + "\n")
    splits = load_data(f"folder:{tmp_path}?labels={tmp_path / 'labels.csv'}&target=multilabel")
    train = splits.train
    assert train.classes == ["sea", "sky"] and train.target_kind == "multilabel" and train.input_shape == (1, 6, 6)
    assert len(train) + len(splits.test) == 12
    brightness_is_odd = (train.x[:, 0, 0, 0].long() // 20) % 2 == 1
    assert torch.equal(train.y[:, 0] == 1, brightness_is_odd) and bool((train.y[:, 1] == 1).all())


def test_separate_text_test_data_uses_the_training_vocabulary_and_rejects_new_labels(tmp_path):
    (tmp_path / "train.txt").write_text("0 the cat sat\n1 a dog ran\n0 the cat ran\n1 a dog sat\n")
    (tmp_path / "test.txt").write_text("1 the dog flew\n0 a cat sat\n")
    splits = load_data(f"text:{tmp_path / 'train.txt'}", test_data=f"text:{tmp_path / 'test.txt'}")
    vocabulary = splits.train.meta["vocabulary"]
    assert "flew" not in vocabulary and splits.test.meta["vocabulary"] is vocabulary
    assert splits.test.x[0, :3].tolist() == vocabulary.encode(["the", "dog", "flew"]) and splits.test.x[0, 2] == 1
    assert splits.test.input_shape == splits.train.input_shape == (5,)  # padded to the widest filter
    (tmp_path / "odd.txt").write_text("7 the cat\n")
    with pytest.raises(DataError, match=r"has labels \['7'\] that the training data never had"):
        load_data(f"text:{tmp_path / 'train.txt'}", test_data=f"text:{tmp_path / 'odd.txt'}")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match=r"empty\.txt"):
        load_data(f"text:{tmp_path / 'empty.txt'}")


def test_text_case_is_kept_when_asked_and_the_run_records_it(tmp_path):
    (tmp_path / "t.txt").write_text("0 What is NASA ?\n1 Who is Ada ?\n")
    lower = load_data(f"text:{tmp_path / 't.txt'}", test_split=0.5).train
    kept = load_data(f"text:{tmp_path / 't.txt'}?lowercase=false", test_split=0.5).train
    assert "nasa" in lower.meta["vocabulary"] or "ada" in lower.meta["vocabulary"]
    assert lower.describe()["lowercase"] is True and kept.describe()["lowercase"] is False
    assert any(word[0].isupper() for sentence in kept.meta["tokens"] for word in sentence)
    with pytest.raises(ConfigError, match=r"Invalid `lowercase` 'maybe': expected true or false"):
        load_data(f"text:{tmp_path / 't.txt'}?lowercase=maybe")


def test_npz_archives_are_checked_before_anything_is_read(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3)))
    with pytest.raises(DataError, match=r"Invalid \.npz file .*x\.npy: expected an \.npz \(zip\) archive of named "
                                        r"arrays, found a file that is not a zip archive"):
        load_data(f"npz:{tmp_path / 'x.npy'}")
    np.savez(tmp_path / "pickled.npz", X=np.zeros((2, 3)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match=r"expected numeric or string arrays, found a pickled object array"):
        load_data(f"npz:{tmp_path / 'pickled.npz'}")
    np.savez(tmp_path / "extra.npz", X=np.zeros((2, 3)), y=np.zeros(2), weights=np.ones(2))
    with pytest.raises(DataError, match=r"has an array `weights`: expected only X, y and classes"):
        load_data(f"npz:{tmp_path / 'extra.npz'}")
    np.savez(tmp_path / "short.npz", X=np.zeros((3, 4)), y=np.zeros(2))
    with pytest.raises(DataError, match=r"has 3 inputs in X and 2 targets in y"):
        load_data(f"npz:{tmp_path / 'short.npz'}")


def test_npz_series_padded_with_nan_keep_their_lengths(tmp_path):
    x = np.full((4, 2, 6), np.nan, dtype=np.float32)
    for row, length in enumerate((6, 3, 5, 1)):
        x[row, :, :length] = row + 1
    np.savez(tmp_path / "ragged.npz", X=x, y=np.array(["a", "b", "a", "b"]))
    data = load_data(f"npz:{tmp_path / 'ragged.npz'}", test_split=0.0).train
    assert data.lengths is not None and sorted(data.lengths.tolist()) == [1, 3, 5, 6]
    for row in range(4):
        assert int(data.lengths[row]) == int((~data.x[row, 0].isnan()).sum())
