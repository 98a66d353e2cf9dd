"""ONNX export of a run, the parity check that proves it, and the inference engines `predict` and `evaluate` run on.

What is exported is the run's whole `Pipeline` (preprocessing, model, test-time augmentation) followed by the task's
prediction step, as one graph:

    input    `input`        (N, *input_shape) raw values, as a dataset stores them: uint8 images (C, H, W), float32
                            series (C, L) with NaN after a shorter series' end, int64 token ids (L,)
    outputs  `outputs`      (N, K) the pipeline's output (logits, capsule lengths, Q-values, values: see
                            `striate.output_kind` in the metadata), what the loss and `evaluate` read
             `predictions`  (N, K) what `predict` returns (probabilities, scores or values in target units)

The model's `metadata_props` name the classes, task, input kind and shape, run id and a fingerprint of the weights
(`striate.*` keys), so the file is usable without the run folder; a text run's vocabulary stays outside the graph, in
the JSON file `striate.vocabulary` names. The export is torch's (`torch.onnx.export`, the torch.export-based
exporter), the runtime onnxruntime's and int8 quantisation `onnxruntime.quantization`'s; written here is only the
wiring: the parity check, the metadata, and one engine interface (`Engine.predict_proba`) over torch and onnxruntime
that `striate predict`, `striate evaluate`, `Run` and the HTTP service share.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn

from striate._io import atomic_write_bytes
from striate.errors import ConfigError, StriateError, did_you_mean

if TYPE_CHECKING:
    from striate.runs import Run

FORMATS = ("onnx",)
ENGINES = ("torch", "onnx", "auto")
QUANTIZE = ("int8",)
MIN_OPSET = 18
"""torch's exporter writes opset 18 and converts upwards; older opsets fail inside its version converter."""
TOLERANCE = 1e-4
CHECK_SAMPLES = 256
"""Real test samples the parity check runs (besides a random batch)."""
INSTALL = "pip install 'striate[export]'"


class ExportError(StriateError, RuntimeError):
    """A model cannot be exported, or its export does not reproduce the PyTorch model."""


def require_onnx():
    """(onnx, onnxruntime), imported on first use; a one-line error naming the extra when they are missing."""
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError as error:
        raise ConfigError(f"ONNX export and the onnx engine need the packages onnx, onnxruntime and onnxscript, "
                          f"found no {error.name}: {INSTALL}.") from None
    return onnx, onnxruntime


def max_opset() -> int:
    onnx, _ = require_onnx()
    return min(onnx.defs.onnx_opset_version(), 23)  # 23: the newest opset onnxruntime 1.32 runs


def check_opset(opset: int | None) -> int:
    top = max_opset()
    if opset is None:
        return MIN_OPSET
    if not MIN_OPSET <= opset <= top:
        raise ConfigError(f"Invalid `--opset` {opset}: torch's exporter writes opsets {MIN_OPSET} to {top}.")
    return opset


def fingerprint(run: Run) -> str:
    """sha256 of the files that define the model (`model.json`, `model.safetensors`): an export is up to date when
    its recorded fingerprint equals the run's."""
    digest = hashlib.sha256()
    for name in ("model.json", "model.safetensors"):
        digest.update((run.path / name).read_bytes())
    return digest.hexdigest()


def input_dtype(info: dict[str, Any]) -> torch.dtype:
    """The raw input's dtype: int64 token ids, uint8 for data scaled by 1/255 (images), float32 otherwise."""
    if info.get("input_kind", "image") == "tokens":
        return torch.int64
    return torch.uint8 if abs(float(info.get("scale", 1.0)) - 1 / 255) < 1e-9 else torch.float32


def random_inputs(run: Run, batch: int, seed: int = 0) -> torch.Tensor:
    """A random raw batch `(batch, *input_shape)` of the run's input dtype (token ids below the vocabulary size)."""
    generator = torch.Generator().manual_seed(seed)
    shape, dtype = (batch, *run.input_shape), input_dtype(run.info)
    if dtype == torch.uint8:
        return torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
    if dtype == torch.int64:
        size = run.info["architecture"].get("kwargs", {}).get("vocab_size") or 2
        return torch.randint(0, int(size), shape, generator=generator)
    return torch.randn(shape, generator=generator)


class ExportModule(nn.Module):
    """Raw inputs `(N, *input_shape)` -> (`outputs` `(N, K)`, `predictions` `(N, K)`): the run's pipeline and its
    task's prediction step, on the CPU."""

    def __init__(self, run: Run):
        super().__init__()
        from striate.models._base import output_kind

        self.pipeline, self.task, self.kind = run.pipeline, run.task, output_kind(run.model)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = self.pipeline(x)
        return outputs, self.task.predict(outputs, self.kind)


# --- export ---------------------------------------------------------------------------------------------------------


@dataclass
class Check:
    """The parity check of an export against PyTorch, one row per input set: (inputs, samples, max abs difference
    of the predictions, the same divided by their magnitude where it exceeds 1, max abs difference of the outputs,
    rows whose top-1 agrees).

    It passes when the predictions (what `predict` returns: probabilities, scores, values) differ by less than 1e-4,
    relative to their magnitude where it exceeds 1 (values in target units), and every top-1 agrees. The outputs'
    (logits') difference is reported beside it: on deep networks it is float32 rounding of that size already (a fresh
    ResNet-50's logits differ by 1.1e-4 between torch and onnxruntime, and torch's own float32 from float64 by 7e-5),
    which the softmax shrinks to 2e-5.
    """

    rows: list[tuple[str, int, float, float, float, int]] = field(default_factory=list)

    @property
    def max_diff(self) -> float:
        return max((row[2] for row in self.rows), default=0.0)

    @property
    def passed(self) -> bool:
        return all(scaled < TOLERANCE and same == samples for _, samples, _, scaled, _, same in self.rows)

    def lines(self) -> list[str]:
        return [f"parity {name}: {samples} samples, max abs diff {diff:.1e} in the predictions"
                + (f" ({scaled:.1e} of their magnitude)" if scaled != diff else "")
                + f" (< {TOLERANCE:g}: {'yes' if scaled < TOLERANCE else 'NO'}), {outputs:.1e} in the outputs, "
                f"top-1 identical {same}/{samples}"
                for name, samples, diff, scaled, outputs, same in self.rows]


@dataclass
class Exported:
    """What `export_run` wrote and measured."""

    path: Path | None
    model: bytes
    check: Check
    opset: int
    dynamic_batch: bool
    seconds: float
    quantized: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def export_run(run: Run, out: str | Path | None = None, *, format: str = "onnx", opset: int | None = None,
               dynamic_batch: bool = False, quantize: str | None = None, check_samples: int = CHECK_SAMPLES,
               write: bool = True) -> Exported:
    """Export `run` to ONNX (default `RUN/model.onnx`), check it against PyTorch and write it atomically.

    The check runs a random batch and up to `check_samples` of the run's own test samples (rebuilt as `striate
    evaluate` rebuilds them) through both and requires a max abs difference under 1e-4 on both outputs and the same
    top-1 everywhere; nothing is written when it fails. Static exports (the default) take batches of exactly one sample.

    Raises:
        ConfigError: an unknown `format` or `quantize`, an `opset` torch cannot write, onnx packages missing.
        ExportError: an operator the exporter cannot translate (named), or a failed parity check (the difference).
    """
    if format not in FORMATS:
        raise ConfigError(f"Unknown export format {format!r}: expected one of {', '.join(FORMATS)}."
                          f"{did_you_mean(format, FORMATS)}")
    if quantize is not None and quantize not in QUANTIZE:
        raise ConfigError(f"Invalid `--quantize` {quantize!r}: expected one of {', '.join(QUANTIZE)}.")
    opset = check_opset(opset)
    start = time.perf_counter()
    model = to_onnx(run, opset, dynamic_batch)
    check = check_export(run, model, check_samples)
    if not check.passed:
        raise ExportError(f"The ONNX export of {run.path} does not match PyTorch: {_worst(check)}; nothing written.")
    path = Path(out) if out is not None else run.path / "model.onnx"
    result = Exported(path if write else None, model, check, opset, dynamic_batch, time.perf_counter() - start)
    if quantize:
        result.quantized = quantize_int8(run, model, check_samples)
    if write:
        _write_vocabulary(run, path)
        atomic_write_bytes(path, model)
        if result.quantized:
            result.quantized["path"] = atomic_write_bytes(_int8_path(path), result.quantized.pop("model"))
    return result


def _worst(check: Check) -> str:
    name, samples, diff, scaled, _, same = max(check.rows, key=lambda row: (row[5] < row[1], row[3]))
    relative = f", {scaled:.2e} of their magnitude" if scaled != diff else ""
    return (f"on {name} the predictions' max abs difference is {diff:.2e}{relative} (expected < {TOLERANCE:g}) and "
            f"top-1 differs on {samples - same} of {samples}")


def _int8_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.int8{path.suffix or '.onnx'}")


def to_onnx(run: Run, opset: int = MIN_OPSET, dynamic_batch: bool = True) -> bytes:
    """The serialized ONNX model of `run`'s pipeline with its metadata (see the module docstring); a static export
    takes batches of one sample."""
    require_onnx()
    module = ExportModule(run).cpu().eval()
    example = random_inputs(run, 2 if dynamic_batch else 1)
    batch = torch.export.Dim("batch", min=1, max=65536) if dynamic_batch else None
    try:
        with warnings.catch_warnings(), _quiet_exporter():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, (example,), dynamo=True, opset_version=opset, input_names=["input"],
                                        output_names=["outputs", "predictions"], verbose=False,
                                        dynamic_shapes=({0: batch},) if dynamic_batch else None)
    except Exception as error:  # the exporter's errors have no common class; every one means "cannot export"
        raise ExportError(f"Cannot export model `{run.info['architecture']['name']}` of {run.path} to ONNX: "
                          f"{_operator(error)}.") from None
    proto = program.model_proto
    for key, value in metadata(run, dynamic_batch).items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "striate"
    return proto.SerializeToString()


class _quiet_exporter:
    """torch.onnx logs each export step at INFO/WARNING; a user sees the check instead."""

    def __enter__(self):
        self.levels = {name: logging.getLogger(name).level for name in ("torch.onnx", "onnxscript", "torch.export", "")}
        for name in self.levels:
            logging.getLogger(name).setLevel(logging.ERROR)

    def __exit__(self, *exc):
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)


def _operator(error: Exception) -> str:
    """The operator an export failure names (`aten::...`), or the failure's first line."""
    text = f"{type(error).__name__}: {error}"
    found = re.search(r"(aten(?:::|\.)[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?|torch\.ops\.[A-Za-z0-9_.]+)", text)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return f"operator {found.group(1)} has no ONNX translation ({first[:160]})" if found else first[:240]


def metadata(run: Run, dynamic_batch: bool) -> dict[str, str]:
    from striate.models._base import output_kind

    vocabulary = {"striate.vocabulary": "vocab.json", "striate.lowercase": json.dumps(run.info.get("lowercase", True))}
    return {"striate.run_id": run.path.resolve().name, "striate.fingerprint": fingerprint(run),
            "striate.classes": json.dumps(run.classes), "striate.task": json.dumps(run.task.describe()),
            "striate.input_kind": run.input_kind, "striate.input_shape": json.dumps(list(run.input_shape)),
            "striate.input_dtype": str(input_dtype(run.info)).removeprefix("torch."),
            "striate.output_kind": output_kind(run.model), "striate.tta": run.tta,
            "striate.dynamic_batch": json.dumps(dynamic_batch),
            **(vocabulary if run.input_kind == "tokens" else {})}


def read_metadata(model: bytes | str | Path) -> dict[str, str]:
    """The `metadata_props` of an ONNX file or serialized model, as a dict."""
    onnx, _ = require_onnx()
    if isinstance(model, bytes):
        proto = onnx.load_from_string(model)
    else:
        proto = onnx.load(str(model), load_external_data=False)
    return {prop.key: prop.value for prop in proto.metadata_props}


def _write_vocabulary(run: Run, path: Path) -> None:
    """A text run's vocabulary beside the exported file (the run folder has it already as vocab.json)."""
    if run.input_kind == "tokens" and path.parent.resolve() != run.path.resolve():
        target, vocabulary = path.parent / "vocab.json", (run.path / "vocab.json").read_bytes()
        if target.exists() and (not target.is_file() or target.read_bytes() != vocabulary):
            raise ConfigError(f"Cannot write the vocabulary beside {path}: {target} exists and is another run's; "
                              "export into an empty folder (--out), or remove that file first.")
        atomic_write_bytes(target, vocabulary)


# --- the parity check -----------------------------------------------------------------------------------------------


def check_export(run: Run, model: bytes, samples: int = CHECK_SAMPLES) -> Check:
    """Compare the ONNX model with PyTorch on a random batch and on up to `samples` real test samples."""
    engine = OnnxEngine(run, model)
    reference = TorchEngine(run)
    check = Check()
    sets = [("random batch", random_inputs(run, max(engine.batch or 8, 8), seed=1))]
    if samples:
        test = sample_inputs(run, samples)
        if test is not None:
            sets.append(("test samples", test))
    for name, x in sets:
        check.rows.append((name, len(x), *compare(engine, reference, x)))
    return check


def compare(engine: Engine, reference: Engine, x: torch.Tensor) -> tuple[float, float, float, int]:
    """(max abs difference of the predictions, the same divided by their magnitude where it exceeds 1, max abs
    difference of the outputs, rows whose top-1 agrees) of `engine` against `reference` on `x`. Rows whose reference
    scores at the two top-1 indices are within 1e-6 (a tie) count as agreeing.
    """
    (outputs, predictions), (ref_outputs, ref_predictions) = engine.run(x), reference.run(x)
    if not len(x):
        return 0.0, 0.0, 0.0, 0
    diff = float((predictions - ref_predictions).abs().max())
    scaled = diff / max(1.0, float(ref_predictions.abs().max()))
    mine, yours = predictions.argmax(1), ref_predictions.argmax(1)
    rows = torch.arange(len(x))
    tie = (ref_predictions[rows, yours] - ref_predictions[rows, mine]).abs() <= 1e-6
    return diff, scaled, float((outputs - ref_outputs).abs().max()), int(((mine == yours) | tie).sum())


def sample_inputs(run: Run, samples: int) -> torch.Tensor | None:
    """The first `samples` raw inputs of the run's own test split (None when its data cannot be read here)."""
    from striate.evaluate import test_split

    try:
        test, _ = test_split(run)
    except StriateError:
        return None
    return test.x[:samples]


# --- engines --------------------------------------------------------------------------------------------------------


class Engine:
    """Raw inputs `(N, *input_shape)` -> the run's outputs, on one runtime; what predict, evaluate and serve call."""

    name = "engine"
    batch: int | None = None  # the only batch size a static export takes; None: any
    width = 0  # K, the outputs per sample

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(`outputs` `(N, K)` as the loss reads them, `predictions` `(N, K)`) for one batch, on the CPU."""
        raise NotImplementedError

    def predict_proba(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """The task's predictions `(N, K)`: probabilities, scores or values."""
        return self._batched(x, batch_size, 1)

    def outputs(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """The pipeline's outputs `(N, K)` (logits for most models)."""
        return self._batched(x, batch_size, 0)

    def _batched(self, x: torch.Tensor, batch_size: int, which: int) -> torch.Tensor:
        parts = [self.run(part)[which] for part in torch.split(x, batch_size)]
        return torch.cat(parts) if parts else torch.zeros(0, self.width)


class TorchEngine(Engine):
    """The run's `Pipeline` in PyTorch, on the run's device."""

    name = "torch"

    def __init__(self, run: Run):
        from striate.models._base import output_kind

        self.pipeline, self.task, self.kind = run.pipeline, run.task, output_kind(run.model)
        self.width = len(run.classes)

    @torch.inference_mode()
    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = self.pipeline(x)
        return outputs.float().cpu(), self.task.predict(outputs, self.kind).cpu()


class OnnxEngine(Engine):
    """An exported run in onnxruntime, on the CPU (`model`: a path or serialized bytes). A static export runs
    batches padded to its fixed size."""

    name = "onnx"

    def __init__(self, run: Run, model: bytes | str | Path, threads: int | None = None):
        _, ort = require_onnx()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        # Idle pool threads sleep instead of spinning: spinning would take the cores from the torch work, data
        # loading and other requests that run between calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        size = self.session.get_inputs()[0].shape[0]
        self.batch = size if isinstance(size, int) else None
        self.dtype = input_dtype(run.info)
        self.width = len(run.classes)

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.batch is None or len(x) == self.batch:
            return self._session(x)
        parts = [self._padded(part) for part in torch.split(x, self.batch)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def _padded(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = len(x)
        if rows < self.batch:  # (B, ...) <- (rows, ...) + repeated first row
            x = torch.cat([x, x[:1].expand(self.batch - rows, *x.shape[1:])])
        outputs, predictions = self._session(x)
        return outputs[:rows], predictions[:rows]

    def _session(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        array = np.ascontiguousarray(x.detach().cpu().to(self.dtype).numpy())
        outputs, predictions = self.session.run(None, {"input": array})
        return torch.from_numpy(outputs), torch.from_numpy(predictions)


def create_engine(run: Run, engine: str = "auto") -> tuple[Engine, list[str]]:
    """The engine `engine` names for `run`, and notes for the user.

    "torch" is the PyTorch pipeline. "onnx" runs `RUN/model.onnx` when it is up to date (its fingerprint is the
    run's), or else exports the run (dynamic batch, checked) and writes it there (kept in memory when the folder is
    read-only). "auto" does what "onnx" does and falls back to torch, with a note, where onnxruntime is missing or the
    export fails. The outputs are compared with PyTorch once, on the first batch (`Run` does this), see
    `CheckedEngine`.
    """
    if engine not in ENGINES:
        raise ConfigError(f"Unknown engine {engine!r}: expected one of {', '.join(ENGINES)}."
                          f"{did_you_mean(engine, ENGINES)}")
    if engine == "torch":
        return TorchEngine(run), []
    try:
        onnx_engine, notes = _onnx_engine(run)
    except StriateError as error:
        if engine == "onnx":
            raise
        return TorchEngine(run), [f"running on torch: {error}"]
    return CheckedEngine(onnx_engine, TorchEngine(run), strict=engine == "onnx"), notes


def _onnx_engine(run: Run) -> tuple[OnnxEngine, list[str]]:
    path = run.path / "model.onnx"
    current = path.is_file() and up_to_date(run, path)
    if current and read_metadata(path).get("striate.dynamic_batch") == "true":
        return OnnxEngine(run, path), []
    exported = export_run(run, dynamic_batch=True, check_samples=0, write=False)
    if current:  # the user's fixed-batch export stays; one sample per call would be slow for whole test sets
        return OnnxEngine(run, exported.model), [f"{path} takes a fixed batch: exported the run with a dynamic batch "
                                                 "in memory (`striate export --dynamic-batch` keeps one)"]
    try:
        atomic_write_bytes(path, exported.model)
        return OnnxEngine(run, exported.model), [f"exported {path} for the onnx engine ({exported.seconds:.1f} s)"]
    except StriateError:  # a read-only run folder: the export lives in memory for this process
        return OnnxEngine(run, exported.model), [f"exported {run.path} for the onnx engine in memory (the folder is "
                                                 "read-only)"]


def up_to_date(run: Run, path: Path) -> bool:
    """Whether the ONNX file at `path` was exported from the run's current model files (and is not quantised)."""
    try:
        props = read_metadata(path)
    except Exception:  # an unreadable or foreign file is simply not up to date
        return False
    return props.get("striate.fingerprint") == fingerprint(run) and "striate.quantization" not in props


class CheckedEngine(Engine):
    """An engine whose first batch is compared with PyTorch's; on a mismatch it raises (`strict`, --engine onnx) or
    switches to PyTorch for good with a note (auto)."""

    def __init__(self, engine: Engine, reference: Engine, strict: bool):
        self.engine, self.reference, self.strict, self.checked = engine, reference, strict, False
        self.name, self.width, self.notes = engine.name, engine.width, []

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.checked and len(x):
            self.checked = True
            diff, scaled, _, same = compare(self.engine, self.reference, x[:64])
            if scaled >= TOLERANCE or same < min(len(x), 64):
                problem = (f"the onnx engine's predictions differ from PyTorch's by {diff:.2e} (expected < "
                           f"{TOLERANCE:g}), top-1 on {min(len(x), 64) - same} inputs; export the run again")
                if self.strict:
                    raise ExportError(problem[0].upper() + problem[1:] + ".")
                self.engine, self.name = self.reference, self.reference.name
                self.notes.append(f"running on torch: {problem}")
        return self.engine.run(x)


# --- quantisation ---------------------------------------------------------------------------------------------------


def quantize_int8(run: Run, model: bytes, samples: int = CHECK_SAMPLES) -> dict[str, Any]:
    """int8 static quantisation (QDQ, per-channel weights) calibrated on `samples` training inputs, or dynamic
    quantisation (weights int8, activations quantised on the fly) when that keeps more test accuracy.

    Returns `model` (the kept int8 model), `method`, the test metric of the float and int8 models, their speeds
    (samples/s on up to 1,024 test inputs) and a one-line `summary`.
    """
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    calibration = _train_inputs(run, max(samples, 64))
    batch = OnnxEngine(run, model).batch or 64

    class Reader(CalibrationDataReader):
        def __init__(self):
            rows = len(calibration) - len(calibration) % batch
            self.parts = iter(torch.split(calibration[:rows], batch))

        def get_next(self):
            part = next(self.parts, None)
            return None if part is None else {"input": part.to(input_dtype(run.info)).numpy()}

    candidates = {}
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings(), _quiet_exporter():
        warnings.simplefilter("ignore")
        source, target = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(model)
        quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        candidates["static"] = target.read_bytes()
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        candidates["dynamic"] = target.read_bytes()
    return _choose(run, model, candidates)


QUANTIZED_TOLERANCE = 0.005
"""How much test accuracy (or the task's monitored metric) an int8 model may lose and still be preferred for speed."""


def _choose(run: Run, model: bytes, candidates: dict[str, bytes]) -> dict[str, Any]:
    """Of the int8 candidates that keep the float model's test metric within `QUANTIZED_TOLERANCE`, the faster;
    when none does, the most accurate."""
    test = sample_inputs(run, 1024)
    metric, higher = _metric(run)
    engines = {"float": OnnxEngine(run, model), **{name: OnnxEngine(run, m) for name, m in candidates.items()}}
    scores = {name: _score(run, engine, metric) for name, engine in engines.items()}
    speeds = {name: samples_per_second(engine, test) for name, engine in engines.items()}
    sign = 1 if higher else -1
    keeping = [name for name in candidates if sign * (scores[name] - scores["float"]) >= -QUANTIZED_TOLERANCE]
    best = (max(keeping, key=speeds.get) if keeping else max(candidates, key=lambda name: sign * scores[name]))
    other = next(name for name in candidates if name != best)
    how = "static, calibrated on training samples" if best == "static" else "dynamic"
    summary = (f"int8 ({how}): test {metric} {scores['float']:.4f} -> {scores[best]:.4f} "
               f"({scores[best] - scores['float']:+.4f}), {speeds[best]:,.0f} vs {speeds['float']:,.0f} samples/s "
               f"({speeds[best] / speeds['float']:.2f}x the float model); {other}: {scores[other]:.4f}, "
               f"{speeds[other] / speeds['float']:.2f}x")
    return {"model": _tag_quantized(candidates[best], best), "method": best, "metric": metric, "scores": scores,
            "speeds": speeds, "summary": summary}


def _metric(run: Run) -> tuple[str, bool]:
    metrics = run.task.metrics
    name = "accuracy" if "accuracy" in metrics else run.task.monitor
    return name, metrics.get(name, "min") == "max"


def _score(run: Run, engine: Engine, metric: str) -> float:
    from striate.evaluate import evaluate_run

    return float(evaluate_run(run, engine=engine)[metric])


def samples_per_second(engine: Engine, x: torch.Tensor, batch_size: int = 256, repeats: int = 3) -> float:
    """The best of `repeats` passes of `engine` over `x` in batches of `batch_size`, in samples per second."""
    engine.predict_proba(x[:batch_size], batch_size)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        engine.predict_proba(x, batch_size)
        best = min(best, time.perf_counter() - start)
    return len(x) / best


def _tag_quantized(model: bytes, method: str) -> bytes:
    onnx, _ = require_onnx()
    proto = onnx.load_from_string(model)
    proto.metadata_props.add(key="striate.quantization", value=f"int8 {method}")
    return proto.SerializeToString()


def _train_inputs(run: Run, samples: int) -> torch.Tensor:
    """The first `samples` raw inputs of the run's training split, as training built it."""
    from striate.data import load_data

    config = run.config
    splits = load_data(config.get("data", "fashion-mnist"), seed=config.get("seed", 0),
                       split=config.get("split", "auto"), test_data=config.get("test_data"),
                       options=config.get("data_args") or {})
    return splits.train.x[:samples]
