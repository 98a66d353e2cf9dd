"""Four kinds of data end to end: train, evaluate and predict from a saved run, from Python and from the CLI.

Also pins the defects the shared core fixed: one evaluation loop (results.json and `evaluate` agree for any loss),
models built from the data description (a Text CNN's vocabulary is the vocabulary), hooks reached through wrappers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import striate
from striate.cli import app
from striate.data import load_data
from striate.data.series import find_bundled, read_ts

runner = CliRunner()
pytestmark = pytest.mark.slow


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def quick(tmp_path, **options):
    return striate.train(out=str(tmp_path), quiet=True, seed=0, **options)


@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    return quick(tmp_path_factory.mktemp("series"), data="ucr:GunPoint", model="fcn", epochs=4, batch_size=16)


def test_time_series_classification_run(series_run, tmp_path):
    info = json.loads((series_run.path / "model.json").read_text())
    assert info["input_kind"] == "signal" and info["input_shape"] == [1, 150] and info["classes"] == ["1", "2"]
    assert info["architecture"]["kwargs"]["in_channels"] == 1 and info["task"]["name"] == "classification"
    assert series_run.results["train_examples"] + 5 == 50 and series_run.results["test_examples"] == 150  # 10% val
    evaluated = striate.load(series_run.path).evaluate()
    assert evaluated["accuracy"] == pytest.approx(series_run.results["test_accuracy"], abs=1e-12)
    assert evaluated["loss"] == pytest.approx(series_run.results["test_loss"], rel=1e-6)
    table = read_ts(find_bundled("GunPoint")["test"])
    first = table.series[0]  # (1, 150), read independently of the training data
    expected = series_run.predict_proba(torch.from_numpy(first[None].astype(np.float32)))
    predicted = series_run.predict([first])[0]
    assert predicted["top"][0][1] == pytest.approx(float(expected.max()), rel=1e-6)
    np.save(tmp_path / "one.npy", first)
    result = cli("predict", series_run.path, tmp_path / "one.npy", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["top"][0][0] == predicted["top"][0][0]


def test_unequal_length_series_are_padded_and_normalised_over_their_own_steps():
    splits = load_data("ucr:JapaneseVowels?normalize=series")
    train = splits.train
    assert train.input_shape[0] == 12 and train.lengths is not None
    longest = int(train.lengths.max())
    assert train.input_shape[1] == max(longest, int(splits.test.lengths.max())) == 29  # both parts, one length
    assert int(train.lengths.min()) < longest
    short = int(torch.argmin(train.lengths))
    assert bool(train.x[short, :, int(train.lengths[short]):].isnan().all())  # padding is NaN, masked by preprocessing
    resampled = load_data("ucr:JapaneseVowels?unequal=resample")
    assert resampled.train.lengths is None and not bool(resampled.train.x.isnan().any())
    assert resampled.test.input_shape == resampled.train.input_shape == (12, 26)  # the training length


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, text_dir):
    return quick(tmp_path_factory.mktemp("text"), data=f"text:{text_dir / 'TREC.train.all'}",
                 test_data=f"text:{text_dir / 'TREC.test.all'}", model="textcnn", epochs=2, batch_size=50,
                 train_size=1500, model_args={"embedding_dim": 50, "out_channels": 20})


def test_text_classification_run(text_run):
    vocabulary = text_run.vocabulary
    assert vocabulary is not None and (text_run.path / "vocab.json").is_file()
    kwargs = json.loads((text_run.path / "model.json").read_text())["architecture"]["kwargs"]
    assert kwargs["vocab_size"] == len(vocabulary)  # the defect: it was the sentence length
    assert text_run.model.embedding.num_embeddings == len(vocabulary)
    assert text_run.results["test_examples"] == 500
    evaluated = text_run.evaluate()
    assert evaluated["accuracy"] == pytest.approx(text_run.results["test_accuracy"], abs=1e-12)
    result = cli("predict", text_run.path, "How far is it from Denver to Aspen ?", "--json")
    assert result.exit_code == 0, result.stderr
    prediction = json.loads(result.stdout)[0]
    ids, _ = vocabulary.encode_batch([["how", "far", "is", "it", "from", "denver", "to", "aspen", "?"]],
                                     length=text_run.input_shape[0])
    expected = text_run.predict_proba(torch.from_numpy(ids))[0]
    assert prediction["top"][0][1] == pytest.approx(float(expected.max()), rel=1e-6)


def test_the_vocabulary_is_built_on_the_training_part_only(text_run, text_dir):
    from striate.data._registry import load_source

    def words(spec: str) -> set[str]:  # every word of a whole file, unsplit
        return {w for sentence in load_source(spec).meta["tokens"] for w in sentence}

    test_only = words(f"text:{text_dir / 'TREC.test.all'}") - words(f"text:{text_dir / 'TREC.train.all'}")
    assert test_only and not any(word in text_run.vocabulary for word in test_only)


def test_multilabel_run(tmp_path):
    run = quick(tmp_path, data="digits-attributes", epochs=3, batch_size=32, task_args={"threshold": 0.5})
    assert run.task.name == "multilabel" and run.classes == ["even", "prime", "at_least_5", "closed_loop"]
    assert {"test_micro_f1", "test_macro_f1", "test_mean_ap"} <= set(run.results)
    assert run.results["test_micro_f1"] > 0.6 and (run.path / "labels.png").stat().st_size > 1000
    evaluated = run.evaluate()
    assert evaluated["micro_f1"] == pytest.approx(run.results["test_micro_f1"], abs=1e-12)
    assert set(evaluated["per_label"]) == set(run.classes)
    test = load_data("digits-attributes").test
    prediction = run.predict(test.x[:1])[0]
    assert set(prediction["labels"]) <= set(run.classes) and len(prediction["scores"]) == 4


def test_regression_run_on_a_time_series_extrinsic_regression_set(tmp_path):
    run = quick(tmp_path, data="ucr:Covid3Month", model="fcn", epochs=3, batch_size=16)
    train = load_data("ucr:Covid3Month", val_split=0.1).train  # the same seeded split training used
    assert run.task.name == "regression"
    assert run.task.target_mean.item() == pytest.approx(float(train.y.double().mean()), rel=1e-6)
    assert run.task.target_std.item() == pytest.approx(float(train.y.double().std(correction=0)), rel=1e-6)
    assert {"test_mae", "test_rmse", "test_r2"} <= set(run.results) and (run.path / "scatter.png").is_file()
    evaluated = run.evaluate()
    assert evaluated["mae"] == pytest.approx(run.results["test_mae"], rel=1e-9)
    test = load_data("ucr:Covid3Month").test
    values = run.predict_proba(test.x)
    assert values.shape == (len(test), 1)
    assert float((values[:, 0] - test.y).abs().mean()) == pytest.approx(run.results["test_mae"], rel=1e-5)


def test_results_and_evaluate_agree_for_the_euclidean_loss(tmp_path):
    """The defect: results.json said test loss 0.087, `run.evaluate()` 2.285 (a softmax loss) for the same run."""
    run = quick(tmp_path, data="digits", epochs=2, batch_size=64, loss="euclidean")
    evaluated = striate.load(run.path).evaluate()
    assert evaluated["loss"] == pytest.approx(run.results["test_loss"], rel=1e-6)
    assert run.results["test_loss"] < 0.2  # a mean squared error on one-hot targets, not a cross-entropy


def test_a_task_that_does_not_fit_the_data_fails_before_a_run_folder_exists(tmp_path):
    with pytest.raises(striate.ConfigError, match=r"the regression task needs real targets, the data has class"):
        quick(tmp_path, data="digits", task="regression", epochs=1)
    with pytest.raises(striate.ConfigError, match=r"Model `lenet5` takes image inputs, but the data holds signal"):
        quick(tmp_path, data="ucr:GunPoint", model="lenet5", epochs=1)
    assert not list(tmp_path.iterdir())


def test_model_hooks_are_reached_through_wrappers():
    from striate.models import create
    from striate.models._base import apply_model_constraints, model_loss, output_kind, unwrap

    capsules = create("capsnet", num_classes=3, input_size=(20, 20), reconstruction=False)
    wrapped = torch.nn.DataParallel(capsules)
    assert unwrap(wrapped) is capsules and output_kind(wrapped) == "capsule_lengths"
    lengths = torch.tensor([[0.9, 0.2, 0.1]])
    loss = model_loss(wrapped, lengths, torch.tensor([0]))
    assert loss is not None and loss.item() == pytest.approx(0.5 * (0.1**2 + 0.0**2))  # margin loss, not the task's
    text = create("textcnn", vocab_size=20, num_classes=2)
    with torch.no_grad():
        text.head.weight.mul_(100)
    apply_model_constraints(torch.nn.DataParallel(text))
    assert float(text.head.weight.norm(dim=1).max()) <= 3.0 + 1e-5


def test_pretrained_word_vectors_fill_the_text_cnns_embedding(tmp_path):
    """CNN-static: vectors from a GloVe-format file are copied in and stay frozen through training."""
    (tmp_path / "train.txt").write_text("0 the cat sat on the mat\n1 a dog ran in the park\n" * 10)
    vectors = {"cat": [0.5, -0.5, 0.25, 1.0], "dog": [-1.0, 0.0, 0.75, 0.5], "zebra": [9.0, 9.0, 9.0, 9.0]}
    (tmp_path / "vectors.txt").write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
    run = quick(tmp_path / "runs", data=f"text:{tmp_path / 'train.txt'}", model="textcnn", epochs=2, batch_size=4,
                embeddings=str(tmp_path / "vectors.txt"),
                model_args={"embedding_dim": 4, "out_channels": 3, "variant": "static"})
    table = run.model.embedding.weight.detach()
    for word in ("cat", "dog"):
        assert table[run.vocabulary.encode([word])[0]].tolist() == vectors[word]
    assert "zebra" not in run.vocabulary and table[0].abs().sum() == 0  # padding row stays zero
    with pytest.raises(striate.ConfigError, match=r"Invalid `embeddings` for signal data"):
        quick(tmp_path / "runs", data="ucr:GunPoint", model="fcn", epochs=1, embeddings=str(tmp_path / "vectors.txt"))
