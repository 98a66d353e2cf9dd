"""Bad input, part 1: where run folders come to life, parser errors, and numbers that would be meaningless.

Each case asserts the one-line error (or the safe outcome) and that nothing half-made is left looking complete.
"""

from __future__ import annotations

import os
import re
import stat
import threading

import pytest

import striate
from striate.cli import main
from striate.errors import ConfigError, DataError, RunFolderError, TrainingError
from striate.runs import INCOMPLETE, check_run_dir, new_run_dir


def quick(tmp_path, **options):
    return striate.train(data="digits", epochs=1, batch_size=64, out=str(tmp_path), quiet=True, **options)


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".", "", ".hidden", "tab\there", "x" * 201])
def test_run_names_never_escape_out(tmp_path, name):
    with pytest.raises(ConfigError, match=r"Invalid `name` .*expected a plain folder name"):
        quick(tmp_path / "runs", name=name)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "x").exists()


def test_out_that_is_a_file_and_a_dangling_link_at_the_run_path(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"Invalid `out` .*expected a folder for run folders, found a file"):
        new_run_dir(tmp_path / "file", "run")
    (tmp_path / "runs").mkdir()
    os.symlink(tmp_path / "nowhere", tmp_path / "runs" / "run")  # dangling: exists() is False, the name is taken
    created = new_run_dir(tmp_path / "runs", "run")
    assert created.name == "run-2" and (created / INCOMPLETE).is_file()


def test_runs_started_together_with_one_name_get_different_folders(tmp_path):
    made, errors = [], []

    def create():
        try:
            made.append(new_run_dir(tmp_path, "same"))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len({path.name for path in made}) == 8


def test_a_run_is_incomplete_until_its_last_file_and_then_complete(tmp_path):
    run = quick(tmp_path)
    assert not (run.path / INCOMPLETE).exists()
    check_run_dir(run.path)
    (run.path / INCOMPLETE).write_text("as if training had been killed")
    with pytest.raises(RunFolderError, match=r"is incomplete: its training did not finish"):
        striate.load(run.path)


def test_a_bad_option_leaves_no_run_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown augmentation `blur`"):
        quick(tmp_path, augment=["blur"])
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_run_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run = quick(tmp_path)
    finally:
        os.umask(old)
    for name in ("model.json", "results.json", "model.safetensors", "config.yaml"):
        assert stat.S_IMODE((run.path / name).stat().st_mode) == 0o644, name


def test_a_diverging_run_is_an_error_and_stays_marked_incomplete(tmp_path):
    with pytest.raises(TrainingError, match=r"Training diverged at step 2 \(epoch 1\): the loss is not finite, "
                                            r"expected a finite loss \(the last finite loss was [\d.]+ at step 1\); "
                                            r"lower the learning rate \(--lr; .*clip gradients"):
        quick(tmp_path, lr=1e30, optimizer="sgd", momentum=0.0)
    (folder,) = tmp_path.iterdir()
    assert (folder / INCOMPLETE).is_file() and not (folder / "results.json").exists()


def test_empty_splits_are_errors_not_zero_accuracy(tmp_path):
    with pytest.raises(DataError, match=r"The validation part of `digits` is empty: --val-split 0.0001"):
        quick(tmp_path, val_split=0.0001)


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "--lr", "abc"], r"^error: Invalid value for '--lr': .*\(see `striate train --help`\)\.$"),
    (["trian"], r"^error: No such command 'trian'\. Did you mean 'train'\? \(see `striate --help`\)\.$"),
    (["train", "--nme", "x"], r"^error: No such option: --nme .*--name.*\(see `striate train --help`\)\.$"),
    (["predict"], r"^error: Missing argument 'run' \(see `striate predict --help`\)\.$"),
    (["evaluate", "a", "b"], r"^error: Got unexpected extra argument\(s\) \(b\) \(see `striate evaluate --help`\)\.$"),
])
def test_parser_errors_are_one_line_with_exit_code_2(monkeypatch, capsys, argv, message):
    import re

    monkeypatch.setattr("sys.argv", ["striate", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), lines


@pytest.mark.parametrize(("options", "message"), [
    ({"epochs": True}, r"Invalid config key `epochs` .*expected a number, not the boolean True"),
    ({"seed": 2**70}, r"Invalid config key `seed` .*expected less than 9223372036854775808"),
    ({"seed": -1}, r"Invalid config key `seed` .*expected greater than or equal to 0"),
])
def test_numbers_must_be_numbers_a_generator_can_take(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        striate.train(**{"data": "digits", "out": str(tmp_path), "quiet": True, **options})


def test_deep_images_keep_their_value_range(tmp_path):
    import numpy as np
    from PIL import Image

    from striate.predict import image_input

    values = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    Image.fromarray(values).save(tmp_path / "deep.png")  # a 16-bit grey PNG
    array, notes = image_input(tmp_path / "deep.png", (1, 8, 8))
    np.testing.assert_array_equal(array[0], np.rint(values / 257).astype(np.uint8))  # not clipped to 255
    assert notes == ["scaled 16-bit values to 8 bits (divided by 257)"]
    floats = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(floats).save(tmp_path / "float.tiff")  # a 32-bit float TIFF
    array, notes = image_input(tmp_path / "float.tiff", (1, 8, 8))
    np.testing.assert_array_equal(array[0], np.rint(floats * 255).astype(np.uint8))  # not all zero
    assert notes[0] == "scaled float values to 8 bits by their range"


def test_decompression_bombs_are_one_line_errors(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from striate.predict import image_input

    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4,096 pixels is then over twice the limit: a bomb
    with pytest.raises(DataError, match=r"big\.png: it has more pixels than Pillow's decompression-bomb limit"):
        image_input(tmp_path / "big.png", (1, 8, 8))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    return striate.train(data="digits", epochs=1, batch_size=64, out=str(tmp_path_factory.mktemp("runs")), quiet=True)


def edited(finished_run, tmp_path, change) -> os.PathLike:
    """A copy of a finished run whose model.json `change(info)` edits (or replaces, when it returns a value)."""
    import json
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished_run.path, copy)
    info = json.loads((copy / "model.json").read_text())
    replaced = change(info)
    (copy / "model.json").write_text(json.dumps(info if replaced is None else replaced))
    return copy


@pytest.mark.parametrize(("change", "message"), [
    (lambda info: [1, 2, 3], r"Unsupported run format .*model\.json"),
    (lambda info: info.pop("architecture") and None, r"expected `architecture` to be a mapping"),
    (lambda info: info.pop("classes") and None, r"expected `classes` to be a non-empty list of names, found 'nothing'"),
    (lambda info: info["classes"].append("extra"), r"the model has 10 outputs but `classes` names 11"),
    (lambda info: info.update(input_shape=[1, 2, 2]), r"its architecture cannot take inputs of shape \(1, 2, 2\)"),
    (lambda info: info.update(input_shape=["a"]), r"expected `input_shape` to be a list of positive integers"),
    (lambda info: info.update(mean=[0.1, 0.2]), r"expected `mean` to be 1 finite numbers, one per input channel"),
    (lambda info: info.update(std=[0.0]), r"expected `std` to be positive standard deviations"),
    (lambda info: info["architecture"]["kwargs"].update(num_classes=7),
     r"the model has 7 outputs but `classes` names 10"),
    (lambda info: info.update(architecture={"name": "convnet", "kwargs": {"num_classes": 10, "input_size": [8, 8]}}),
     r"Weights .*model\.safetensors do not match the architecture .*missing"),
    (lambda info: info.update(architecture={"name": "convnet", "kwargs": {"widths": [100_000, 100_000]}}),
     r"Model `convnet` would have [\d,]+ parameters: expected at most 2,000,000,000"),
])
def test_edited_or_mixed_up_run_folders_are_one_line_errors(finished_run, tmp_path, change, message):
    path = edited(finished_run, tmp_path, change)
    with pytest.raises(RunFolderError, match=message):
        striate.load(path)


def test_a_path_given_as_model_is_not_called_an_unknown_model(tmp_path):
    with pytest.raises(ConfigError, match=r"Invalid `model` '\./mynet': a path must name a model spec file ending in "
                                          r"\.yaml or \.yml"):
        quick(tmp_path, model="./mynet")


def test_a_training_size_beyond_the_data_is_said_not_silently_capped(tmp_path):
    from io import StringIO

    from rich.console import Console

    stream = StringIO()
    run = striate.train(data="digits", epochs=1, batch_size=64, out=str(tmp_path), train_size=99_999,
                        console=Console(file=stream, width=200))
    assert "--train-size 99999 is more than the 1,295 examples there are; using all of them." in stream.getvalue()
    assert run.results["train_examples"] == 1295


def test_unbounded_configs_and_specs_are_refused_quickly(tmp_path):
    import time

    from striate.models.resolve import model_from_target
    from striate.models.spec import build_spec

    deep = tmp_path / "deep.yaml"
    deep.write_text("model_args: {a: " + "[" * 5000 + "]" * 5000 + "}\n")
    with pytest.raises(ConfigError, match=r"nests lists or mappings too deeply to read|nest more than 32 levels"):
        striate.train(config=str(deep), out=str(tmp_path), quiet=True)
    with pytest.raises(ConfigError, match=r"Invalid config: lists or mappings nest more than 32 levels deep"):
        nested = 1
        for _ in range(40):
            nested = [nested]
        striate.train(data="digits", model_args={"x": nested}, out=str(tmp_path), quiet=True)
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"model: {loop}\nepochs: 1\n")
    with pytest.raises(ConfigError, match=r"its `model` leads back to itself"):
        model_from_target(str(loop))
    spec = {"input_shape": [4], "blocks": {"one": ["relu"], "ten": [{"type": "block", "name": "one", "repeat": 100}],
                                           "many": [{"type": "block", "name": "ten", "repeat": 100}]},
            "layers": [{"type": "block", "name": "many", "repeat": 1000}, "flatten", "linear"]}
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"it expands to more than 10,000 layers"):
        build_spec(spec, num_classes=2)  # 10 million ReLUs: refused after 10,000, in well under a second
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(("device", "message"), [
    ("meta", r"expected auto, cpu, cuda, cuda:N or mps, received 'meta' \(a device torch knows but cannot train on\)"),
    ("xla", r"expected auto, cpu, cuda, cuda:N or mps, received 'xla'"),
    ("gpu", r"Invalid `device`: expected auto, cpu, cuda or cuda:N, received 'gpu'"),
])
def test_devices_torch_names_but_striate_cannot_train_on(tmp_path, device, message):
    with pytest.raises(ConfigError, match=message):
        quick(tmp_path, device=device)
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_image_folders_that_cannot_be_read_or_are_too_large(tmp_path, image_folder, monkeypatch):
    from pathlib import Path

    from striate.data import load_data, sources

    monkeypatch.setattr(sources, "MAX_IMAGE_FILES", 40)  # the fixture holds 90 images
    with pytest.raises(DataError, match=r"holds more than 40 images: expected at most that many"):
        load_data(f"folder:{image_folder}")
    monkeypatch.undo()
    real = Path.rglob

    def refuse(self, pattern):
        if self.name == "class_1":
            raise PermissionError(13, "Permission denied")
        return real(self, pattern)

    monkeypatch.setattr(Path, "rglob", refuse)  # root reads everything, so the refusal is simulated
    with pytest.raises(DataError, match=r"Cannot read image folder .*class_1: Permission denied; expected a folder"):
        load_data(f"folder:{image_folder}")


def test_a_full_device_is_a_one_line_error_and_leaves_the_old_file(tmp_path):
    import errno

    from striate._io import atomic_write, atomic_write_text
    from striate.errors import OutputError

    target = atomic_write_text(tmp_path / "results.json", "old\n")

    def full(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match=r"Cannot write .*results\.json: No space left on device; free some space"):
        atomic_write(target, full)
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def _file_size_limit(limit: int):
    """For a child process: the kernel refuses writes past `limit` bytes (EFBIG), as a full device refuses them."""
    import resource

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ, so writes fail instead

    return apply


def test_a_real_write_failure_mid_run_is_one_line_and_leaves_the_run_incomplete(tmp_path):
    import subprocess
    import sys

    script = ("import sys; from striate.cli import main; sys.argv = ['striate', 'train', '--data', 'digits', "
              f"'--epochs', '1', '--quiet', '--out', {str(tmp_path)!r}]; main()")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          preexec_fn=_file_size_limit(50_000))  # the weights (86 KB) cannot be written; the rest can
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    # the first file over the limit is the first epoch's checkpoint (optimizer moments and weights)
    assert re.search(r"^error: Cannot write checkpoint .*step-\d+-epoch: File too large; free some space", lines[0])
    (run,) = tmp_path.iterdir()
    assert (run / INCOMPLETE).is_file() and not list(run.rglob(".*.tmp"))
    with pytest.raises(RunFolderError, match="is incomplete: its training did not finish"):
        striate.load(run)


def test_a_real_write_failure_keeps_the_old_file_whole(tmp_path):
    import subprocess
    import sys

    from striate._io import atomic_write_text

    target = atomic_write_text(tmp_path / "results.json", "old\n")
    script = f"from striate._io import atomic_write_text; atomic_write_text({str(target)!r}, 'new' * 10_000)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          preexec_fn=_file_size_limit(1_000))
    assert done.returncode != 0 and "striate.errors.OutputError: Cannot write" in done.stderr
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
