"""Run folders: contents, the save/load round trip, seed repeatability and broken folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import striate
from striate._io import atomic_write_text
from striate.errors import RunFolderError
from striate.models.resolve import build_model


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return striate.train(data="digits", model="lenet5", epochs=3, batch_size=32, out=str(out), quiet=True)


def test_run_folder_contents(digits_run):
    path = digits_run.path
    for name in ("config.yaml", "model.safetensors", "model.json", "metrics.jsonl", "results.json", "curves.png",
                 "confusion.png"):
        assert (path / name).is_file(), name
    config = yaml.safe_load((path / "config.yaml").read_text())
    assert config["data"] == "digits" and config["lr"] == 3e-3 and config["epochs"] == 3  # resolved defaults
    lines = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in lines] == [1, 2, 3]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"} <= set(lines[0])
    info = json.loads((path / "model.json").read_text())
    assert info["classes"] == [str(i) for i in range(10)] and info["input_shape"] == [1, 8, 8]
    assert info["architecture"]["kwargs"]["num_classes"] == 10
    for picture in ("curves.png", "confusion.png"):
        with Image.open(path / picture) as image:
            assert image.format == "PNG" and min(image.size) > 200
    assert not list(path.glob(".*.tmp"))  # no temporary files left behind


def test_trained_model_is_well_above_chance(digits_run):
    assert digits_run.results["test_accuracy"] > 0.7  # chance is 0.1
    assert digits_run.results["parameters"] == sum(p.numel() for p in digits_run.model.parameters())


def test_load_round_trip_gives_identical_predictions(digits_run):
    test = striate.data.load_data("digits").test
    loaded = striate.load(digits_run.path)
    assert torch.equal(loaded.predict_proba(test.x), digits_run.predict_proba(test.x))
    evaluated = loaded.evaluate()
    assert evaluated["accuracy"] == pytest.approx(digits_run.results["test_accuracy"], abs=1e-12)
    assert evaluated["examples"] == len(test)
    per_class = np.array(evaluated["confusion"]).diagonal().sum() / evaluated["examples"]
    assert per_class == pytest.approx(evaluated["accuracy"])


def test_model_json_alone_rebuilds_the_network(digits_run):
    from safetensors.torch import load_file

    info = json.loads((digits_run.path / "model.json").read_text())
    model = build_model(info["architecture"])
    model.load_state_dict(load_file(str(digits_run.path / "model.safetensors")))
    model.eval()
    x = digits_run.preprocess(striate.data.load_data("digits").test.x[:20])
    with torch.no_grad():
        assert torch.equal(model(x), digits_run.model(x))


def test_predict_files_resizes_and_notes(digits_run, tmp_path):
    test = striate.data.load_data("digits").test
    Image.fromarray(test.x[0, 0].numpy(), mode="L").save(tmp_path / "same.png")
    Image.fromarray(test.x[0, 0].numpy(), mode="L").convert("RGB").resize((32, 32)).save(tmp_path / "big.png")
    same, big = digits_run.predict([tmp_path / "same.png", tmp_path / "big.png"], top_k=3)
    expected = digits_run.predict_proba(test.x[:1])[0]
    assert same["notes"] == [] and same["top"][0][1] == pytest.approx(float(expected.max()), abs=1e-6)
    assert same["top"][0][0] == digits_run.classes[int(expected.argmax())]
    assert big["notes"] == ["converted RGB to L", "resized 32x32 to 8x8"]
    assert [p for _, p in same["top"]] == sorted((p for _, p in same["top"]), reverse=True)


def test_same_seed_repeats_a_cpu_run_exactly(tmp_path):
    runs = [striate.train(data="digits", epochs=2, batch_size=64, seed=7, out=str(tmp_path), quiet=True)
            for _ in range(2)]

    def metrics(run):
        rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in row.items() if "second" not in k} for row in rows]

    assert runs[0].path != runs[1].path  # the second run was numbered, not written over the first
    assert metrics(runs[0]) == metrics(runs[1])
    assert runs[0].results["test_loss"] == runs[1].results["test_loss"]
    other = striate.train(data="digits", epochs=2, batch_size=64, seed=8, out=str(tmp_path), quiet=True)
    assert metrics(other) != metrics(runs[0])


def test_missing_and_incomplete_run_folders(digits_run, tmp_path):
    with pytest.raises(RunFolderError, match="Run folder not found"):
        striate.load(tmp_path / "nothing")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text((digits_run.path / "config.yaml").read_text())
    (broken / "model.json").write_text((digits_run.path / "model.json").read_text())
    with pytest.raises(RunFolderError, match=r"is incomplete: missing model\.safetensors"):
        striate.load(broken)
    (broken / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(RunFolderError, match="expected a safetensors file"):
        striate.load(broken)
    (broken / "model.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="expected JSON"):
        striate.load(broken)
    (broken / "model.json").write_text((digits_run.path / "model.json").read_text())
    (broken / "config.yaml").write_text("data: [unclosed\n")
    with pytest.raises(RunFolderError, match=r"Cannot read .*config\.yaml: expected the YAML"):
        striate.load(broken)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from striate._io import atomic_write

    target = tmp_path / "keep.txt"
    atomic_write_text(target, "original")

    def failing(tmp):
        with open(tmp, "w") as handle:
            handle.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, failing)
    assert target.read_text() == "original" and list(tmp_path.iterdir()) == [target]


def test_a_model_spec_trains_saves_and_rebuilds_without_the_file(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text("layers:\n  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n  - relu\n"
                    "  - {type: residual, layers: [{type: conv2d, out_channels: 8, kernel_size: 3, padding: same}]}\n"
                    "  - global_avg_pool\n  - linear\n")
    run = striate.train(data="digits", model=str(spec), epochs=2, out=str(tmp_path / "runs"), quiet=True)
    assert run.path.name == "tiny-digits"
    spec.unlink()  # model.json alone must rebuild it
    loaded = striate.load(run.path)
    x = striate.data.load_data("digits").test.x[:50]
    assert torch.equal(loaded.predict_proba(x), run.predict_proba(x))
    assert json.loads((run.path / "model.json").read_text())["architecture"]["spec"]["input_shape"] == [1, 8, 8]


def test_a_spec_that_does_not_fit_the_data_names_the_layer(tmp_path):
    from striate.errors import ShapeError

    with pytest.raises(ShapeError, match=r"layer 3 \(conv2d\).*incoming shape 6x4x4"):
        striate.train(data="digits", model="configs/models/lenet5.yaml", out=str(tmp_path), quiet=True)
    assert not list(tmp_path.iterdir())  # nothing written for a model that cannot be built
