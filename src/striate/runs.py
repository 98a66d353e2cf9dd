"""Run folders: what training writes, and `load()` which every later command reads them back through.

Layout of `runs/<name>/`:

    config.yaml         the fully resolved run configuration
    model.safetensors   the weights (safetensors: no pickle, safe to load from anyone)
    model.json          architecture, data description (input kind and shape, normalisation, class names) and the
                        task's description: enough to rebuild the model, its preprocessing and its task
    vocab.json          the training vocabulary, for text data
    metrics.jsonl       one JSON object per epoch
    results.json        test metrics, wall time, parameter count, why training stopped, per-class/label details
    curves.png          loss and the task's metric per epoch, training against validation
    confusion.png       classification: test confusion matrix; labels.png (multi-label) or scatter.png (regression)
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn
import yaml
from safetensors.torch import load_file, save

from striate._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from striate.config import yaml_problem
from striate.errors import ConfigError, RunFolderError, StriateError, found_at

if TYPE_CHECKING:
    from striate.data.preprocess import Pipeline, Preprocess
    from striate.export import Engine
    from striate.tasks import Task

RUN_FORMAT = "striate.run/1"
REQUIRED_FILES = ("model.json", "model.safetensors", "config.yaml")
INCOMPLETE = ".incomplete"
"""Marker file present from the moment a run folder is created until its last file is written (`mark_complete`)."""


def new_run_dir(out: str | Path, name: str, marker: str = "") -> Path:
    """Create `out/name` atomically, numbering it (`name-2`, `name-3`, ...) so an earlier run is never overwritten.

    The folder is created with one `mkdir` that fails if anything (a file, a folder, a dangling link) is there, so two
    runs started together with the same name get different folders. It holds the `.incomplete` marker until
    `mark_complete`, so an interrupted run is never mistaken for a finished one; `marker` is extra text for it (the
    launch a restarted job looks for).

    Raises:
        ConfigError: for a name that is empty, hidden or a path (it would escape `out`), or an `out` that is a file.
    """
    name = check_run_name(name)
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"Invalid `out` {str(out)!r}: expected a folder for run folders, found a file; choose "
                          "another --out.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"Cannot create `out` folder {out}: {error.strerror or error}.") from None
    for number in range(1, 100_000):
        candidate = out / (name if number == 1 else f"{name}-{number}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            raise ConfigError(f"Cannot create run folder {candidate}: {error.strerror or error}.") from None
        atomic_write_text(candidate / INCOMPLETE,
                          "training started; this file is removed when the run is complete\n" + marker)
        return candidate
    raise ConfigError(f"Too many runs named {name!r} in {out}: choose another --name.")


def check_run_name(name: str) -> str:
    """A run name must be one plain folder name: no separators, not `.`/`..`, not hidden, printable."""
    if (not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name
            or any(not ch.isprintable() for ch in name) or len(name) > 200):
        raise ConfigError(f"Invalid `name` {name!r}: expected a plain folder name (letters, digits, - _ and ., not "
                          "starting with a dot, no / or \\); the run folder is always created inside --out.")
    return name


def mark_incomplete(run_dir: Path, marker: str = "") -> None:
    """A run folder that training continues in (`--resume`) reads as incomplete again until it ends."""
    atomic_write_text(run_dir / INCOMPLETE,
                      "training resumed; this file is removed when the run is complete\n" + marker)


def mark_complete(run_dir: Path) -> None:
    """The last step of a run: remove the `.incomplete` marker once every file is written."""
    (run_dir / INCOMPLETE).unlink(missing_ok=True)


def save_model(run_dir: Path, model: nn.Module, architecture: dict[str, Any], data_info: dict[str, Any]) -> None:
    """Write `model.safetensors` and `model.json` atomically."""
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    # Serialised to bytes and written by `atomic_write_bytes`: safetensors' own `save_file` reports a full or size-
    # limited disk as a SafetensorError, not an OSError, and does not fsync.
    atomic_write_bytes(run_dir / "model.safetensors", save(tensors))
    atomic_write_json(run_dir / "model.json", {"format": RUN_FORMAT, "architecture": architecture, **data_info})


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RunFolderError(f"Cannot read {path}: expected JSON written by `striate train` ({error}).") from None


class Run:
    """A trained model read back from its run folder.

    Attributes:
        path: the run folder.
        model: the `torch.nn.Module`, in eval mode on `device`.
        classes: class names, index i names output i.
        info: the contents of `model.json`.
        config: the resolved run configuration (a dict).
        results: test metrics and timings from `results.json` (empty if absent).
        engine: what `predict_proba`, `predict` and `evaluate` run on: "torch", "onnx" or "auto" (see
            `striate.export.create_engine`); `engine_notes` says what choosing it did (an export, a fallback).
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cpu", engine: str = "torch"):
        self.path = Path(path)
        self.engine_name = engine
        check_run_dir(self.path)
        self.info = _read_json(self.path / "model.json")
        if not isinstance(self.info, dict) or self.info.get("format") != RUN_FORMAT:
            found = self.info.get("format") if isinstance(self.info, dict) else type(self.info).__name__
            raise RunFolderError(f"Unsupported run format in {self.path / 'model.json'}: expected {RUN_FORMAT!r}, "
                                 f"found {found!r}.")
        try:
            self.config = yaml.safe_load((self.path / "config.yaml").read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise RunFolderError(f"Cannot read {self.path / 'config.yaml'}: expected the YAML written by "
                                 f"`striate train` ({yaml_problem(error)}).") from None
        results = self.path / "results.json"
        self.results = _read_json(results) if results.is_file() else {}
        self.device = torch.device(device)
        check_model_info(self.info, self.path / "model.json")
        self.model = _build_checked(self.info, self.path).to(self.device)
        self.model.eval()

    @property
    def classes(self) -> list[str]:
        """Names of the model's outputs: classes, labels or regression targets."""
        return list(self.info["classes"])

    @property
    def tta(self) -> str:
        """The test-time augmentation the model was trained to be evaluated with ("none" or "hflip")."""
        return self.info.get("tta", "none")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.info["input_shape"])

    @property
    def input_kind(self) -> str:
        return self.info.get("input_kind", "image")

    @cached_property
    def task(self) -> Task:
        """The run's task, rebuilt from its description (loss, threshold, target statistics)."""
        from striate.tasks import task_from_description

        description = self.info.get("task")
        if not isinstance(description, dict):  # runs written before tasks described themselves
            description = {"name": "classification", "classes": self.classes, "loss": self.config.get("loss")}
        return task_from_description(description)

    @cached_property
    def preprocessor(self) -> Preprocess:
        """The preprocessing module training used, on the run's device."""
        from striate.data.preprocess import Preprocess

        # Its statistics must be normal tensors even when first built inside `outputs`' inference mode: inference
        # tensors cannot be saved for backward, and `explain` differentiates through this module.
        with torch.inference_mode(False):
            return Preprocess.from_description(self.info).to(self.device)

    @cached_property
    def vocabulary(self):
        """The training vocabulary of a text run (`vocab.json`), or None."""
        path = self.path / "vocab.json"
        if not path.is_file():
            return None
        from striate.data.text import Vocabulary

        return Vocabulary.load(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, model={self.info['architecture']['name']!r}, classes={len(self.classes)})"

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Raw inputs `(N, *input_shape)` (uint8 images, floats, token ids) -> model inputs on the run's device."""
        return self.preprocessor(x)

    @cached_property
    def pipeline(self) -> Pipeline:
        """Raw inputs -> model outputs: the preprocessing, the model and its test-time augmentation in one module."""
        from striate.data.preprocess import Pipeline

        return Pipeline(self.preprocessor, self.model, self.tta)

    @cached_property
    def engine(self) -> Engine:
        """The inference engine (`striate.export.Engine`) the run's predictions and evaluations go through."""
        from striate.export import create_engine

        engine, self._engine_notes = create_engine(self, self.engine_name)
        return engine

    @property
    def engine_notes(self) -> list[str]:
        """What choosing the engine did (an export written, a fallback to torch and why)."""
        engine = self.engine
        return [*self._engine_notes, *getattr(engine, "notes", [])]

    def outputs(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """The task's predictions `(N, K)` (probabilities, scores or values) for raw inputs `(N, *input_shape)`."""
        return self.engine.predict_proba(x, batch_size)

    def predict_proba(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Class probabilities (classification), label probabilities (multi-label) or values (regression) `(N, K)`."""
        return self.outputs(x, batch_size)

    def predict(self, inputs, top_k: int = 3) -> list[dict[str, Any]]:
        """Predictions for image files, PIL images, sentences (text runs), series arrays, or a raw tensor.

        Returns one dict per input: `{"source", "notes": [...]}` plus the task's format: `"top": [(class, p), ...]`
        for classification, `"labels"` and `"scores"` for multi-label, `"values"` for regression.
        """
        from striate.predict import load_inputs

        x, sources, notes = load_inputs(inputs, self)
        rows = self.outputs(x)
        return [{"source": source, "notes": note, **self.task.format_prediction(row, top_k)}
                for source, note, row in zip(sources, notes, rows, strict=True)]

    def evaluate(self, data: str | None = None, batch_size: int = 1024) -> dict[str, Any]:
        """The task's metrics and details on the test split of `data` (default: the run's own test data)."""
        from striate.evaluate import evaluate_run

        return evaluate_run(self, data, batch_size)

    def explain(self, x, method: str = "gradcam", target=None, **options) -> torch.Tensor:
        """Attribution maps for inputs `x` (anything `predict` takes), through the run's preprocessing.

        Returns `(N, *input_shape)`, Grad-CAM `(N, 1, *spatial)` upsampled to the input, or `(N, L)` per token for
        text. `target` is a class name or index, or one per input (default: the predicted class); `options` are
        those of `striate.explain.explain` (`layer`, `window`, `stride`, `steps`, `batch_size`,
        `internal_batch_size`).
        """
        from striate.explain import explain

        return explain(self, x, method, target, **options).attributions

    def visualize(self, layer: str | None = None, channel: int = 0, **options):
        """The input that maximises channel `channel` of `layer`, and the test inputs that activate it most
        (`striate.explain.visualize`)."""
        from striate.explain import visualize

        return visualize(self, layer, channel, **options)


def check_model_info(info: dict[str, Any], path: Path) -> None:
    """`model.json`'s fields have the types and sizes the rest of the folder relies on."""
    def fail(field: str, expected: str) -> RunFolderError:
        found = info.get(field, "nothing")
        return RunFolderError(f"Invalid {path}: expected `{field}` to be {expected}, found {str(found)[:60]!r}; the "
                              "file was edited or comes from another program: train again.")

    if not isinstance(info.get("architecture"), dict) or "name" not in info["architecture"]:
        raise fail("architecture", "a mapping with the model's name and arguments")
    shape = info.get("input_shape")
    if not isinstance(shape, list) or not shape or not all(isinstance(v, int) and v > 0 for v in shape):
        raise fail("input_shape", "a list of positive integers")
    classes = info.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise fail("classes", "a non-empty list of names")
    if info.get("normalization", "channel") == "channel":
        for field in ("mean", "std"):
            values = info.get(field)
            if not isinstance(values, list) or len(values) != shape[0] or not all(
                    isinstance(v, int | float) and math.isfinite(v) for v in values):
                raise fail(field, f"{shape[0]} finite numbers, one per input channel")
        if any(v <= 0 for v in info["std"]):
            raise fail("std", "positive standard deviations")


def _build_checked(info: dict[str, Any], path: Path) -> nn.Module:
    """The model `model.json` describes, checked on the meta device (size, output width) before it is allocated,
    then filled with the weights, which must match it key for key and shape for shape."""
    from striate.models._registry import MAX_PARAMETERS
    from striate.models._utils import output_shape
    from striate.models.resolve import build_model

    where = path / "model.json"
    try:
        with torch.device("meta"):
            skeleton = build_model(info["architecture"])
        parameters = sum(p.numel() for p in skeleton.parameters())
        if parameters > MAX_PARAMETERS:
            raise RunFolderError(f"Invalid {where}: its architecture has {parameters:,} parameters, expected at most "
                                 f"{MAX_PARAMETERS:,}; the file was edited: train again.")
        width = output_shape(skeleton.eval(), tuple(info["input_shape"]))
    except StriateError as error:
        if isinstance(error, RunFolderError):
            raise
        raise RunFolderError(f"Invalid architecture in {where}: {error}") from None
    except (RuntimeError, TypeError, ValueError, KeyError, IndexError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RunFolderError(f"Invalid {where}: its architecture cannot take inputs of shape "
                             f"{tuple(info['input_shape'])} ({first}).") from None
    expected_width = _expected_outputs(info)
    if len(width) > 1 and width[1] != expected_width:
        task = info["task"].get("name", "its") if isinstance(info.get("task"), dict) else "its"
        raise RunFolderError(f"Invalid {where}: the model has {width[1]} outputs but `classes` names "
                             f"{len(info['classes'])}; expected {expected_width} outputs for the {task} task (one per "
                             "class, label or target; per step and quantile for a forecast).")
    model = build_model(info["architecture"])
    weights = _load_weights(path / "model.safetensors")
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in weights.items()}
    if expected != found:
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra
                  else f"{wrong[0]} is {found[wrong[0]]}, expected {expected[wrong[0]]}")
        raise RunFolderError(f"Weights {path / 'model.safetensors'} do not match the architecture in {where}: "
                             f"{detail}; the files come from different runs: train again.")
    model.load_state_dict(weights)
    return model


def _expected_outputs(info: dict[str, Any]) -> int:
    """The model's output width the run's task needs (one per class, label or target; H x Q for a forecast; one risk
    score for survival), or one per class name when the task cannot be rebuilt."""
    from striate.tasks import task_from_description

    task = info.get("task")
    if isinstance(task, dict):
        try:  # with model.json's own class names, so an edit to either list is caught
            return task_from_description({**task, "classes": info["classes"]}).num_outputs
        except (StriateError, TypeError, ValueError):
            pass
    return len(info["classes"])


def check_run_dir(path: Path) -> None:
    if not path.is_dir():
        raise RunFolderError(f"Run folder not found: expected a folder written by `striate train` at {path}, found "
                             f"{found_at(path)} there.")
    if (path / INCOMPLETE).exists():
        raise RunFolderError(f"Run folder {path} is incomplete: its training did not finish (interrupted, failed or "
                             "still running); train again or pick another run.")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if len(missing) == len(REQUIRED_FILES):
        raise RunFolderError(f"{path} is not a run folder: expected {', '.join(REQUIRED_FILES)} written by `striate "
                             "train`, found none of them; give the folder `striate train` printed.")
    if missing:
        raise RunFolderError(f"Run folder {path} is incomplete: missing {', '.join(missing)} "
                             "(was training interrupted? train again or pick another run).")


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise RunFolderError(f"Cannot read weights {path}: expected a safetensors file ({error}).") from None


def load(path: str | Path, device: str | torch.device = "cpu", engine: str = "torch") -> Run:
    """Load a run folder written by `striate train` (see the module docstring for its layout); `engine` is what its
    predictions and evaluations run on ("torch", "onnx" or "auto", see `striate.export.create_engine`)."""
    return Run(path, device, engine)
