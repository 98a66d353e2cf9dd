"""Generated bad input: every parser and loader either works or raises striate's own error, quickly.

Hypothesis feeds generated configs, model specs, run-folder `model.json` contents, `.ts` text, CSV and image bytes;
the property is the promise of the CLI: a `StriateError` (one line, exit code 2) or a result, never another
exception, and within a time bound.
"""

from __future__ import annotations

import io
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from striate.config import make_config
from striate.errors import StriateError

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                            max_size=4), max_leaves=12)


def works_or_striate_error(function, *args, seconds: float = 5.0):
    start = time.perf_counter()
    try:
        function(*args)
    except StriateError as error:
        assert str(error) and "\n" not in str(error), repr(error)  # one line
    assert time.perf_counter() - start < seconds


KEYS = ["epochs", "batch_size", "lr", "optimizer", "loss", "monitor", "seed", "augment", "model_args", "task",
        "task_args", "data", "split", "tta", "val_split", "class_weights", "weight_decay", "patience", "name"]


@FAST
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), values, max_size=5))
def test_generated_configs(config):
    works_or_striate_error(lambda: make_config(config))


layer_names = st.sampled_from(["conv2d", "relu", "flatten", "linear", "maxpool2d", "batchnorm2d", "dropout",
                               "residual", "concat", "block", "global_avg_pool", "conv1d", "nonsense"])
entries = st.one_of(layer_names, st.fixed_dictionaries({"type": layer_names}, optional={
    "out_channels": st.integers(-2, 40), "kernel_size": st.integers(-1, 9), "padding": st.integers(-1, 3),
    "layers": st.lists(layer_names, max_size=3), "branches": st.lists(st.lists(layer_names, max_size=2), max_size=2),
    "name": st.text(max_size=4), "repeat": st.integers(-1, 50), "out_features": st.integers(-1, 20)}))


@FAST
@given(st.lists(entries, max_size=6), st.sampled_from([[1, 8, 8], [3, 5, 5], [2, 9], [16], [0, 4, 4], [1, 1, 1]]))
def test_generated_model_specs(layers, shape):
    from striate.models.spec import build_spec

    works_or_striate_error(lambda: build_spec({"layers": layers, "input_shape": shape}, num_classes=3))


@FAST
@given(st.dictionaries(st.sampled_from(["format", "architecture", "input_shape", "classes", "mean", "std",
                                        "normalization", "input_kind"]), values, max_size=8))
def test_generated_model_json(tmp_path_factory, info):
    from striate.runs import _build_checked, check_model_info

    folder = tmp_path_factory.mktemp("run")
    info = {"format": "striate.run/1", **info}

    def load():
        check_model_info(info, folder / "model.json")
        _build_checked(info, folder)

    works_or_striate_error(load)


@FAST
@given(st.lists(st.sampled_from(["@problemName x", "@univariate true", "@univariate false", "@dimensions 2",
                                 "@equalLength true", "@seriesLength 3", "@classLabel true a b", "@targetLabel true",
                                 "@data", "1,2,3:a", "1,2:3,4:b", "?,1,2:a", "x,y:a", "1,2,3:c", "1:2:3", "",
                                 "# comment", "1,2,3:1.5"]), max_size=10))
def test_generated_ts_files(tmp_path_factory, lines):
    from striate.data.series import read_ts

    path = tmp_path_factory.mktemp("ts") / "x.ts"
    path.write_text("\n".join(lines) + "\n")
    works_or_striate_error(read_ts, path)


@FAST
@given(st.lists(st.lists(st.sampled_from(["1", "2.5", "", "x", "label", "a", "nan", "-3"]), min_size=1, max_size=4),
                max_size=6))
def test_generated_csv_files(tmp_path_factory, rows):
    from striate.data import load_data

    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_text("\n".join(",".join(row) for row in rows) + "\n")
    works_or_striate_error(lambda: load_data(f"csv:{path}"))


@FAST
@given(st.binary(max_size=300))
def test_generated_image_bytes(tmp_path_factory, data):
    from striate.predict import image_input

    path = tmp_path_factory.mktemp("img") / "x.png"
    path.write_bytes(data)
    works_or_striate_error(image_input, path, (1, 8, 8))


@FAST
@given(st.sampled_from(["PNG", "TIFF", "BMP", "GIF"]), st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I;16",
                                                                       "I", "F", "CMYK"]),
       st.integers(1, 40), st.integers(1, 40))
def test_generated_images_of_any_mode_decode_or_fail_cleanly(tmp_path_factory, fmt, mode, width, height):
    from PIL import Image

    from striate.predict import image_input

    buffer = io.BytesIO()
    try:
        Image.new(mode, (width, height)).save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):
        return  # Pillow cannot write this mode in this format: nothing to read back
    path = tmp_path_factory.mktemp("img") / f"x.{fmt.lower()}"
    path.write_bytes(buffer.getvalue())
    for shape in ((1, 8, 8), (3, 8, 8)):
        works_or_striate_error(image_input, path, shape)


class _Accepted(Exception):
    """Raised in place of training once `striate train` has accepted every option (the table tests what follows)."""


junk = st.sampled_from(["", "0", "-1", "1e400", "nan", "abc", "x=1", "=", "[", "{a: [}", "../x", "a\nb", "\x7f",
                        "99999999999999999999", "1.5", "true", "digits", "lenet5", "hflip", "val_loss"])
TRAIN_FLAGS = {
    "--data": st.sampled_from(["digits", "nope", "digits?x=1", "npz:/nope", "folder:/", "ucr:", "text:"]) | junk,
    "--model": st.sampled_from(["lenet5", "convnet", "fcn", "textcnn", "nope", "x.yaml", "./x"]) | junk,
    "--model-args": st.sampled_from(["widths=[8]", "dropout=0.5", "widths=[0]", "dropout=2", "x"]) | junk,
    "--data-args": st.sampled_from(["normalize=series", "min_freq=2"]) | junk,
    "--task-args": st.sampled_from(["threshold=0.5", "loss=softmax"]) | junk,
    "--epochs": junk, "--batch-size": junk, "--lr": junk, "--momentum": junk, "--weight-decay": junk,
    "--warmup": junk, "--label-smoothing": junk, "--class-weights": junk, "--l1": junk, "--max-norm": junk,
    "--patience": junk, "--monitor": junk, "--min-delta": junk, "--augment": junk, "--tta": junk, "--seed": junk,
    "--device": st.sampled_from(["cpu", "cuda:7", "meta", "tpu"]) | junk, "--name": junk, "--val-split": junk,
    "--split": junk, "--task": junk, "--loss": junk, "--optimizer": junk, "--schedule": junk, "--train-size": junk,
    "--test-size": junk, "--embeddings": junk, "--test-data": junk, "--val-data": junk, "--nope": junk,
}
arguments = st.lists(st.sampled_from(sorted(TRAIN_FLAGS)).flatmap(
    lambda flag: st.tuples(st.just(flag), TRAIN_FLAGS[flag])), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arguments, st.lists(junk, max_size=1))
def test_generated_train_command_lines(tmp_path_factory, monkeypatch, capsys, pairs, stray):
    """Any `striate train` command line either passes every check or is one `error:` line with exit code 2."""
    from striate.cli import main

    out = tmp_path_factory.mktemp("out")
    argv = ["train", "--data", "digits", "--train-size", "64", "--test-size", "64", "--quiet", "--out", str(out),
            *[part for pair in pairs for part in pair], *stray]

    def accepted(*args, **kwargs):
        raise _Accepted

    import importlib

    monkeypatch.setattr(importlib.import_module("striate.train.job"), "make_trainer", accepted)
    monkeypatch.setattr("sys.argv", ["striate", *argv])
    start = time.perf_counter()
    try:
        main()
    except _Accepted:
        return
    except SystemExit as exit_info:
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit_info.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (argv, lines)
    finally:
        monkeypatch.undo()
    assert time.perf_counter() - start < 30


targets = st.sampled_from(["lenet5", "convnet", "fcn", "textcnn", "tdnn", "nope", "", "x.yaml", "/", "."])
shapes = st.sampled_from(["1x28x28", "3x32x32", "1x100", "1x8x8", "0x1", "1x1x1x1x1", "abc", "", "x", "1,28,28",
                          "99999x99999", "2x1", "-1"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(targets, st.none() | shapes, st.none() | st.sampled_from(["1", "0", "-2", "10", "abc", "99999999999"]))
def test_generated_summary_command_lines(monkeypatch, capsys, target, shape, classes):
    """Any `striate summary` command line prints a summary or is one `error:` line with exit code 2."""
    from striate.cli import main

    argv = ["summary", target, *(["--input", shape] if shape is not None else []),
            *(["--num-classes", classes] if classes is not None else [])]
    monkeypatch.setattr("sys.argv", ["striate", *argv])
    try:
        main()
    except SystemExit as exit_info:
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit_info.code in (0, 2), (argv, lines)
        if exit_info.code == 2:
            assert len(lines) == 1 and lines[0].startswith("error: "), (argv, lines)
    finally:
        monkeypatch.undo()


def test_the_properties_would_catch_a_traceback_or_a_second_line():
    """The checker itself: a plain exception escapes it, and so does a two-line message (found by the config
    property: a key holding a line break was echoed raw until `StriateError` escaped line breaks)."""
    with pytest.raises(ZeroDivisionError):
        works_or_striate_error(lambda: 1 / 0)
    with pytest.raises(StriateError, match=r"Unknown config key `a\\nb`"):
        make_config({"a\nb": 1})
    assert "\n" not in str(StriateError(json.dumps({"text": "two\nlines"}, indent=2)))
