"""ONNX export and the inference engines: parity with PyTorch on real test samples, metadata, int8 quantisation on a
trained LeNet-5, every zoo model through the export check, the engines behind `predict` and `evaluate`, the errors."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

import striate
from models.test_zoo import CASES, Q_NETWORKS, small_input
from striate.cli import app
from striate.errors import ConfigError, RunFolderError
from striate.export import (
    QUANTIZED_TOLERANCE,
    ExportError,
    OnnxEngine,
    TorchEngine,
    export_run,
    read_metadata,
    sample_inputs,
    to_onnx,
)
from striate.models import create, list_models
from striate.models._registry import data_arguments
from striate.runs import save_model
from striate.tasks import create_task

onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def lenet(fashion_lenet):
    """LeNet-5 trained 2 epochs on 3,000 Fashion-MNIST images, tested on 500."""
    return fashion_lenet


@pytest.fixture
def one_thread():
    """Batches of 8 gain nothing from a second thread (as in tests/models)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


# --- export: parity, metadata, files ------------------------------------------------------------------------------


def test_export_matches_pytorch_on_real_test_samples_and_describes_itself(lenet, tmp_path):
    run = striate.load(lenet.path)
    exported = export_run(run, tmp_path / "lenet.onnx", dynamic_batch=True)
    rows = {name: (samples, diff, same) for name, samples, diff, _, _, same in exported.check.rows}
    assert rows["random batch"][0] == 8 and rows["test samples"][0] == 256
    assert all(diff < 1e-4 and same == samples for samples, diff, same in rows.values())
    assert rows["test samples"][1] < 1e-5  # measured 3e-7 (logits: 2.9e-6)
    model = onnx.load(str(tmp_path / "lenet.onnx"))
    (graph_input,) = model.graph.input
    assert graph_input.name == "input" and graph_input.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = [d.dim_value or d.dim_param for d in graph_input.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1:] == [1, 28, 28]
    assert [o.name for o in model.graph.output] == ["outputs", "predictions"]
    assert [d.dim_value for d in model.graph.output[1].type.tensor_type.shape.dim][1:] == [10]
    meta = read_metadata(tmp_path / "lenet.onnx")
    assert json.loads(meta["striate.classes"])[:2] == ["T-shirt/top", "Trouser"]
    assert json.loads(meta["striate.task"])["name"] == "classification"
    assert meta["striate.input_kind"] == "image" and meta["striate.input_dtype"] == "uint8"
    assert meta["striate.run_id"] == "lenet" and meta["striate.output_kind"] == "logits"
    assert meta["striate.dynamic_batch"] == "true" and len(meta["striate.fingerprint"]) == 64


def test_onnx_engine_equals_torch_on_the_whole_test_split(lenet, tmp_path):
    run = striate.load(lenet.path)
    x = sample_inputs(run, 500)
    onnx_engine = OnnxEngine(run, to_onnx(run, dynamic_batch=True))
    ours, theirs = onnx_engine.predict_proba(x, 128), TorchEngine(run).predict_proba(x, 128)
    assert ours.shape == (500, 10)
    assert float((ours - theirs).abs().max()) < 1e-5
    assert torch.equal(ours.argmax(1), theirs.argmax(1))


def test_static_export_takes_one_sample_and_the_engine_pads_to_it(lenet, tmp_path):
    run = striate.load(lenet.path)
    exported = export_run(run, tmp_path / "static.onnx", check_samples=16)
    engine = OnnxEngine(run, exported.path)
    assert engine.batch == 1 and read_metadata(exported.path)["striate.dynamic_batch"] == "false"
    x = sample_inputs(run, 5)
    assert float((engine.predict_proba(x) - TorchEngine(run).predict_proba(x)).abs().max()) < 1e-5


def test_cli_export_prints_the_check_and_writes_into_the_run_folder(lenet, tmp_path):
    folder = shutil.copytree(lenet.path, tmp_path / "lenet")
    result = invoke("export", folder, "--format", "onnx", "--dynamic-batch", "--opset", "18")
    assert result.exit_code == 0, result.output
    assert "parity test samples: 256 samples, max abs diff" in result.output
    assert "top-1 identical 256/256" in result.output and (folder / "model.onnx").is_file()
    assert f"{folder / 'model.onnx'}: opset 18, dynamic batch" in result.output


def test_int8_quantisation_keeps_the_accuracy_of_the_float_model(lenet, tmp_path):
    run = striate.load(lenet.path)
    exported = export_run(run, tmp_path / "model.onnx", dynamic_batch=True, quantize="int8")
    quantized = exported.quantized
    assert quantized["path"] == tmp_path / "model.int8.onnx" and quantized["path"].is_file()
    scores = quantized["scores"]
    assert 0.6 < scores["float"] == pytest.approx(run.results["test_accuracy"], abs=1e-9)
    assert abs(scores[quantized["method"]] - scores["float"]) <= QUANTIZED_TOLERANCE + 1e-9  # within half a point
    assert read_metadata(quantized["path"])["striate.quantization"] == f"int8 {quantized['method']}"
    assert quantized["speeds"]["float"] > 0 and "int8 (" in quantized["summary"]


# --- engines behind predict and evaluate ----------------------------------------------------------------------------


def test_predict_and_evaluate_give_the_same_answers_on_both_engines(lenet, tmp_path, fashion_arrays):
    folder = shutil.copytree(lenet.path, tmp_path / "lenet")
    images = []
    for index in range(3):
        images.append(tmp_path / f"{index}.png")
        Image.fromarray(fashion_arrays[2][index]).save(images[-1])
    answers = {}
    for engine in ("torch", "onnx"):
        predicted = invoke("predict", folder, *images, "--engine", engine, "--json", "--top-k", "10")
        evaluated = invoke("evaluate", folder, "--engine", engine, "--json")
        assert predicted.exit_code == 0 and evaluated.exit_code == 0, predicted.output + evaluated.output
        answers[engine] = (json.loads(predicted.stdout), json.loads(evaluated.stdout))
    (torch_rows, torch_metrics), (onnx_rows, onnx_metrics) = answers["torch"], answers["onnx"]
    for ours, theirs in zip(onnx_rows, torch_rows, strict=True):
        assert [c for c, _ in ours["top"]] == [c for c, _ in theirs["top"]]
        assert np.allclose([p for _, p in ours["top"]], [p for _, p in theirs["top"]], atol=1e-5)
    assert onnx_metrics["engine"] == "onnx" and torch_metrics["engine"] == "torch"
    assert onnx_metrics["accuracy"] == torch_metrics["accuracy"] == pytest.approx(lenet.results["test_accuracy"])
    assert onnx_metrics["loss"] == pytest.approx(torch_metrics["loss"], abs=1e-5)
    assert onnx_metrics["per_class"] == torch_metrics["per_class"]
    assert read_metadata(folder / "model.onnx")["striate.dynamic_batch"] == "true"  # the engine's export, kept


def test_auto_engine_reuses_an_up_to_date_export_and_redoes_a_stale_one(lenet, tmp_path):
    folder = shutil.copytree(lenet.path, tmp_path / "lenet")
    run = striate.load(folder, engine="auto")
    assert run.engine.name == "onnx" and "exported" in run.engine_notes[0]
    written = (folder / "model.onnx").stat().st_mtime_ns
    again = striate.load(folder, engine="auto")
    assert again.engine.name == "onnx" and again.engine_notes == []
    assert (folder / "model.onnx").stat().st_mtime_ns == written
    info = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps(info, indent=1))  # any change to the files makes an export stale
    stale = striate.load(folder, engine="auto")
    assert stale.engine.name == "onnx" and "exported" in stale.engine_notes[0]


def test_auto_engine_falls_back_to_torch_with_a_note_without_onnxruntime(lenet, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    run = striate.load(lenet.path, engine="auto")
    assert run.engine.name == "torch"
    assert "pip install 'striate[export]'" in run.engine_notes[0]
    with pytest.raises(ConfigError, match=r"need the packages onnx, onnxruntime and onnxscript, found no onnxruntime: "
                                          r"pip install 'striate\[export\]'"):
        _ = striate.load(lenet.path, engine="onnx").engine


def test_a_wrong_export_is_caught_once_against_pytorch(lenet, tmp_path):
    folder = shutil.copytree(lenet.path, tmp_path / "lenet")
    run = striate.load(folder)
    with torch.no_grad():
        run.model.head.bias[3] += 1.0  # the run's model now differs from what its files describe
    export = to_onnx(run, dynamic_batch=True)
    (folder / "model.onnx").write_bytes(export)
    props = {**read_metadata(folder / "model.onnx")}
    assert props["striate.fingerprint"]  # up to date by its fingerprint, but its outputs are not the run's
    auto = striate.load(folder, engine="auto")
    rows = auto.predict_proba(sample_inputs(auto, 8))
    assert auto.engine.name == "torch" and "predictions differ from PyTorch's by" in auto.engine_notes[-1]
    assert rows.shape == (8, 10)
    with pytest.raises(ExportError, match=r"The onnx engine's predictions differ from PyTorch's by \d\.\d+e[+-]\d+ "
                                          r"\(expected < 0\.0001\)"):
        striate.load(folder, engine="onnx").predict_proba(sample_inputs(auto, 8))


# --- every zoo model ------------------------------------------------------------------------------------------------

SLOW = {"alexnet", "c3d", "cnn_lstm", "googlenet", "inception_time_ensemble", "mcdnn", "resnet110", "resnet18",
        "resnet34", "resnet50", "resnet56", "resnet32", "tcn", "vgg16", "dqn"}
"""Exports that take more than 3 s each on one core (the whole list takes about 100 s)."""

RAW = {  # input description per kind: how a dataset of that kind would store and normalise it
    "image": {"input_kind": "image", "input_shape": [1, 28, 28], "normalization": "channel", "mean": [0.3],
              "std": [0.35], "scale": 1 / 255},
    "signal": {"input_kind": "signal", "input_shape": [2, 64], "normalization": "series", "scale": 1.0},
    "tokens": {"input_kind": "tokens", "input_shape": [12], "normalization": "none", "scale": 1.0, "lowercase": True},
    "clip": {"input_kind": "clip", "input_shape": [3, 4, 16, 16], "normalization": "channel", "mean": [0.5] * 3,
             "std": [0.25] * 3, "scale": 1 / 255},
    "volume": {"input_kind": "volume", "input_shape": [2, 8, 8, 8], "normalization": "channel", "mean": [0.1] * 2,
               "std": [0.2] * 2, "scale": 1.0},
}


def zoo_run(folder, name: str, kind: str, task: str = "classification", tta: str = "none"):
    """A run folder for a fresh `name` on `kind` inputs, with batch-norm statistics of such inputs (fresh
    statistics blow a 110-layer ResNet's outputs up to 1e4, and differences with them)."""
    if name in Q_NETWORKS:
        kwargs = data_arguments(name, {"input_kind": "image", "input_shape": Q_NETWORKS[name]}, 6)
        data = {**RAW["image"], "input_shape": Q_NETWORKS[name], "mean": [0.3] * 4, "std": [0.35] * 4}
    else:
        kwargs, _ = small_input(name, kind, outputs=6)
        data = RAW[kind]
    model = create(name, **kwargs)
    classes = [f"c{i}" for i in range(6)]
    info = {**data, "classes": classes, "tta": tta,
            "task": create_task(task, classes).describe(), "target_kind": "class"}
    folder.mkdir()
    settle_batch_norm(model, info)
    save_model(folder, model, {"name": name, "kwargs": {k: list(v) if isinstance(v, tuple) else v
                                                         for k, v in kwargs.items()}}, info)
    (folder / "config.yaml").write_text(yaml.safe_dump({"data": "none", "model": name}))
    if kind == "tokens":
        (folder / "vocab.json").write_text(json.dumps({"tokens": ["<pad>", "<unk>", *(f"w{i}" for i in range(48))]}))
    return striate.load(folder)


def settle_batch_norm(model: torch.nn.Module, info: dict) -> None:
    from striate.data.preprocess import Preprocess

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if norms:
        for norm in norms:
            norm.momentum = None  # a cumulative average of the batches below
        x = Preprocess.from_description(info)(torch.randint(0, 256, (8, *info["input_shape"]), dtype=torch.uint8)
                                              if info["input_kind"] != "tokens" else
                                              torch.randint(0, 50, (8, *info["input_shape"])))
        with torch.no_grad():
            model.train()(x)
    model.eval()


ZOO = [pytest.param(name, kind, marks=[pytest.mark.slow] if name in SLOW else [])
       for name, kind in [*CASES, *((name, "image") for name in Q_NETWORKS)]]


@pytest.mark.parametrize(("name", "kind"), ZOO)
def test_every_zoo_model_exports_and_passes_the_check(name, kind, tmp_path, one_thread):
    run = zoo_run(tmp_path / "run", name, kind)
    exported = export_run(run, tmp_path / "model.onnx", dynamic_batch=True, check_samples=0)
    ((_, samples, diff, scaled, _, same),) = exported.check.rows
    assert samples == 8 and same == 8 and scaled < 1e-4, (name, diff, scaled)
    assert exported.path.is_file()


def test_every_zoo_model_is_in_the_loop():
    assert {p.values[0] for p in ZOO} == {entry.name for entry in list_models()}


@pytest.mark.parametrize(("task", "tta"), [("multilabel", "none"), ("regression", "none"),
                                           ("classification", "hflip")])
def test_other_tasks_and_test_time_augmentation_export(task, tta, tmp_path):
    run = zoo_run(tmp_path / "run", "lenet5", "image", task, tta)
    exported = export_run(run, tmp_path / "model.onnx", check_samples=0)
    assert exported.check.passed and json.loads(read_metadata(exported.path)["striate.task"])["name"] == task
    assert read_metadata(exported.path)["striate.tta"] == tta


def test_series_with_missing_steps_export_with_their_normalisation(tmp_path):
    run = zoo_run(tmp_path / "run", "fcn", "signal")
    x = torch.randn(4, 2, 64)
    x[1, :, 40:] = float("nan")  # a shorter series, padded with NaN as the loaders store it
    engine = OnnxEngine(run, to_onnx(run, dynamic_batch=True))
    assert float((engine.predict_proba(x) - TorchEngine(run).predict_proba(x)).abs().max()) < 1e-5
    assert read_metadata(to_onnx(run))["striate.input_dtype"] == "float32"


def test_text_vocabulary_stays_outside_the_graph_and_is_written_beside_it(tmp_path):
    run = zoo_run(tmp_path / "run", "textcnn", "tokens")
    (tmp_path / "out").mkdir()
    exported = export_run(run, tmp_path / "out" / "model.onnx", check_samples=0)
    meta = read_metadata(exported.path)
    assert meta["striate.vocabulary"] == "vocab.json" and meta["striate.input_dtype"] == "int64"
    assert (tmp_path / "out" / "vocab.json").read_text() == (run.path / "vocab.json").read_text()
    export_run(run, tmp_path / "out" / "again.onnx", check_samples=0)  # the same vocabulary again: fine
    other = tmp_path / "other"
    other.mkdir()
    (other / "vocab.json").write_text('{"tokens": ["<pad>", "<unk>", "mine"]}')
    with pytest.raises(ConfigError, match=r"vocab\.json exists and is another run's; export into an empty folder"):
        export_run(run, other / "model.onnx", check_samples=0)
    assert (other / "vocab.json").read_text() == '{"tokens": ["<pad>", "<unk>", "mine"]}'
    assert not (other / "model.onnx").exists()


# --- errors ---------------------------------------------------------------------------------------------------------


def test_errors_are_one_line_and_leave_no_file(lenet, tmp_path, monkeypatch):
    run = striate.load(lenet.path)
    with pytest.raises(ConfigError, match=r"Unknown export format 'onnxx': expected one of onnx\. Did you mean `onnx`"):
        export_run(run, tmp_path / "a.onnx", format="onnxx")
    with pytest.raises(ConfigError, match=r"Invalid `--opset` 12: torch's exporter writes opsets 18 to 2\d\."):
        export_run(run, tmp_path / "a.onnx", opset=12)
    with pytest.raises(ConfigError, match=r"Invalid `--quantize` 'int4': expected one of int8\."):
        export_run(run, tmp_path / "a.onnx", quantize="int4")
    with pytest.raises(ConfigError, match=r"Unknown engine 'onx': expected one of torch, onnx, auto\."):
        _ = striate.load(lenet.path, engine="onx").engine
    assert list(tmp_path.iterdir()) == []


def test_a_failed_parity_check_names_the_difference_and_writes_nothing(lenet, tmp_path, monkeypatch):
    run = striate.load(lenet.path)
    with torch.no_grad():
        run.model.head.bias[3] += 0.5
    wrong = to_onnx(run, dynamic_batch=True)
    with torch.no_grad():
        run.model.head.bias[3] -= 0.5
    monkeypatch.setattr("striate.export.to_onnx", lambda *args: wrong)
    with pytest.raises(ExportError, match=r"The ONNX export of .* does not match PyTorch: on (random batch|test "
                                          r"samples) the predictions' max abs difference is \d\.\d\de-0[1-3] "
                                          r"\(expected < 0\.0001\) and top-1 differs on [1-9]\d* of \d+; nothing "
                                          r"written\."):
        export_run(run, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_an_operator_without_onnx_translation_is_named(lenet, tmp_path):
    torch.library.define("striate_test::twist", "(Tensor x) -> Tensor")
    torch.library.impl("striate_test::twist", "CompositeExplicitAutograd")(lambda x: x.flip(-1))
    torch.library.register_fake("striate_test::twist")(lambda x: torch.empty_like(x))
    run = striate.load(lenet.path)

    class Twisted(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(torch.ops.striate_test.twist(x))

    run.pipeline.model = Twisted(run.model)
    with pytest.raises(ExportError, match=r"Cannot export model `lenet5` of .* to ONNX: operator "
                                          r"torch\.ops\.striate_test\.twist\S* has no ONNX translation"):
        export_run(run, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_cli_errors(lenet, tmp_path):
    folder = shutil.copytree(lenet.path, tmp_path / "lenet")
    result = invoke("export", folder, "--format", "tflite")
    assert result.exit_code == 2 and result.output == ("error: Unknown export format 'tflite': expected one of "
                                                       "onnx.\n")
    (folder / "model.safetensors").unlink()
    result = invoke("export", folder)
    assert result.exit_code == 2 and "is incomplete: missing model.safetensors" in result.output
    result = invoke("predict", folder, "x.png", "--engine", "onnx")
    assert result.exit_code == 2 and "is incomplete" in result.output
    assert not (folder / "model.onnx").exists()
    with pytest.raises(RunFolderError, match="incomplete"):
        striate.load(folder)
