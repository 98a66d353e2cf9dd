"""The command line end to end: train on a Fashion-MNIST subset, evaluate, predict, and every user error path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from striate.cli import app
from striate.data import load_fashion_mnist

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-runs")
    result = invoke("train", "--train-size", 6000, "--test-size", 1000, "--epochs", 2, "--out", out, "--name", "e2e")
    assert result.exit_code == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def test_train_end_to_end_on_fashion_mnist_subset(fashion_run):
    results = json.loads((fashion_run / "results.json").read_text())
    assert results["train_examples"] == 6000 and results["test_examples"] == 1000
    assert results["test_accuracy"] > 0.7  # chance is 0.1; the full default run reaches about 0.9
    assert fashion_run.name == "e2e"


def test_evaluate_prints_per_class_table(fashion_run):
    result = invoke("evaluate", fashion_run)
    assert result.exit_code == 0, result.stderr
    assert "Ankle boot" in result.stdout and "T-shirt/top" in result.stdout
    as_json = json.loads(invoke("evaluate", fashion_run, "--json").stdout)
    assert set(as_json["per_class"]) == set(load_fashion_mnist().train.classes)
    results = json.loads((fashion_run / "results.json").read_text())
    # the same 1,000 seeded test images training evaluated on, through the same loop: the same numbers
    assert as_json["examples"] == 1000 and as_json["accuracy"] == pytest.approx(results["test_accuracy"], abs=1e-12)
    assert as_json["loss"] == pytest.approx(results["test_loss"], rel=1e-6)
    full = json.loads(invoke("evaluate", fashion_run, "--data", "fashion-mnist", "--json").stdout)
    assert full["examples"] == 10000 and 0.7 < full["accuracy"] <= 1.0


def test_predict_png_top_k(fashion_run, tmp_path):
    test = load_fashion_mnist().test
    paths = []
    for index in range(3):
        paths.append(tmp_path / f"{index}.png")
        Image.fromarray(test.x[index, 0].numpy(), mode="L").save(paths[-1])
    result = invoke("predict", fashion_run, *paths, "--top-k", 2, "--json")
    assert result.exit_code == 0, result.stderr
    predictions = json.loads(result.stdout)
    assert [len(p["top"]) for p in predictions] == [2, 2, 2]
    import striate

    expected = striate.load(fashion_run).predict_proba(test.x[:3]).argmax(dim=1).tolist()
    names = striate.load(fashion_run).classes
    assert [p["top"][0][0] for p in predictions] == [names[i] for i in expected]
    text = invoke("predict", fashion_run, paths[0])
    assert text.stdout.startswith(f"{paths[0]}: ") and "%" in text.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--model", "lenet"], r"Unknown model `lenet`: expected one of .*Did you mean `lenet5`\?"),
    (["train", "--data", "fasion-mnist"], r"Unknown dataset `fasion-mnist`.*Did you mean `fashion-mnist`\?"),
    (["train", "--data", "fashion-mnist:/no/such/striate/path"], r"Fashion-MNIST not found: .*apt-get install"),
    (["train", "--epochs", "0"], r"Invalid config key `epochs`.*greater than or equal to 1, received 0"),
    (["train", "--optimizer", "adam"], r"`optimizer`.*expected 'adamw' or 'sgd', received 'adam'"),
    (["train", "--device", "cuda:0"], r"`device`|CUDA"),
    (["train", "--data", "folder:/no/such/striate/path"], r"Image folder not found"),
    (["evaluate", "/no/such/striate/path/run"], r"Run folder not found"),
    (["predict", "/no/such/striate/path/run", "x.png"], r"Run folder not found"),
    (["train", "--data", "ucr:GunPoit"], r"Unknown bundled data set `GunPoit`.*Did you mean `GunPoint`\?"),
    (["train", "--data", "ucr:GunPoint?unequal=stretch"], r"Invalid `unequal` 'stretch': expected one of pad"),
    (["train", "--data", "text:/no/such/striate/file.txt"], r"/no/such/striate/file.txt"),
    (["train", "--data", "digits", "--task", "regresion"], r"Unknown task `regresion`.*Did you mean `regression`\?"),
    (["train", "--data", "digits", "--loss", "pinball"], r"Invalid `loss` 'pinball' for the classification task"),
    (["train", "--data", "digits", "--model-args", "dropout"], r"Invalid `--model-args` 'dropout': expected KEY=VALUE"),
    (["train", "--data", "ucr:GunPoint", "--augment", "crop"], r"Invalid `augment` for signal data"),
    (["train", "--data", "digits", "--patience", "2", "--monitor", "val_mae"],
     r"Invalid `monitor` 'val_mae' for early stopping: expected one of val_loss, val_accuracy"),
])
def test_user_errors_are_one_line_with_exit_code_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    import re

    assert re.search(message, lines[0]), lines[0]


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: ten\n")
    result = invoke("train", "--config", bad)
    assert result.exit_code == 2 and "`epochs`" in result.stderr and "'ten'" in result.stderr
    typo = tmp_path / "typo.yaml"
    typo.write_text("modle: lenet5\n")
    assert "Did you mean `model`?" in invoke("train", "--config", typo).stderr


def test_predict_errors_on_non_images_and_incomplete_runs(fashion_run, tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("plain text")
    result = invoke("predict", fashion_run, not_image)
    assert result.exit_code == 2 and "Cannot read image" in result.stderr
    missing = invoke("predict", fashion_run, tmp_path / "absent.jpg")
    assert missing.exit_code == 2 and "Image not found" in missing.stderr
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "model.json").write_text("{}")
    result = invoke("evaluate", incomplete)
    assert result.exit_code == 2 and "is incomplete: missing model.safetensors, config.yaml" in result.stderr


def test_models_lists_the_registry():
    result = invoke("models")
    assert result.exit_code == 0 and "lenet5" in result.stdout and "61,706" in result.stdout


def test_summary_of_a_zoo_model_a_run_and_a_bad_input(fashion_run):
    result = invoke("summary", "lenet5", "--json")
    assert result.exit_code == 0, result.stderr
    table = json.loads(result.stdout)
    assert table["total_params"] == 61706 and table["warnings"] == []
    # conv5 (pad 2) -> pool2 -> conv5 -> pool2: receptive fields 5, 6, 14, 16 (r += (k-1) * jump)
    sizes = [row["receptive_field"]["size"] for row in table["layers"] if row["type"] in ("Conv2d", "MaxPool2d")]
    assert sizes == [[5, 5], [6, 6], [14, 14], [16, 16]]
    odd = json.loads(invoke("summary", "lenet5", "--input", "1x29x29", "--json").stdout)
    assert any("14.5 is not an integer" in warning for warning in odd["warnings"])
    from_run = invoke("summary", fashion_run)
    assert from_run.exit_code == 0 and "61,706" in from_run.stdout
    bad = invoke("summary", "lenet5", "--input", "1xa")
    assert bad.exit_code == 2 and "expected sizes joined by x" in bad.stderr


def test_datasets_lists_the_registry_with_kinds():
    result = invoke("datasets", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"ucr:NAME", "text:PATH", "csv:PATH", "npz:PATH", "folder:PATH", "digits-attributes"} <= set(rows)
    assert rows["text:PATH"]["kinds"].startswith("tokens") and rows["ucr:NAME"]["kinds"].startswith("signal")


def test_mapping_flags_are_read_as_yaml_values(tmp_path):
    result = invoke("train", "--data", "digits", "--model", "convnet", "--model-args", "widths=[4,8]",
                    "--model-args", "depth=1", "--epochs", "1", "--out", tmp_path, "-q")
    assert result.exit_code == 0, result.stderr
    info = json.loads((Path(result.stdout.strip()) / "model.json").read_text())
    assert info["architecture"]["kwargs"]["widths"] == [4, 8] and info["architecture"]["kwargs"]["depth"] == 1
