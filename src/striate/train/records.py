"""Run-folder plumbing shared by the training loops that are not epochs over a data set (DQN, self-play): JSON-lines
logs, a clean stop on Ctrl-C, the settings file, and the final weights.

- `append_jsonl` / `read_jsonl` / `keep_rows`: one JSON object per line (a learning curve, evaluations, matches);
  after a resume the rows written after the checkpoint are dropped, since the run repeats that stretch.
- `StopOnSignal`: the first SIGINT or SIGTERM is remembered so the loop can finish its step, write a checkpoint and
  raise `Interrupted`; a second one stops at once.
- `read_settings`: `config.yaml` of a run folder, refused in one line when it is not the command's.
- `read_record` / `save_weights` / `load_weights`: the JSON record that says what a run folder holds, and
  `model.safetensors`, written atomically (the layout `striate.runs.save_model` writes) and read back without pickle.
"""

from __future__ import annotations

import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import torch
import yaml

from striate._io import atomic_write_bytes, atomic_write_text
from striate.errors import RunFolderError


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Add one row; a crash mid-write leaves at most a torn last line, which `keep_rows` drops on resume."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def read_jsonl(path: Path, writer: str = "striate") -> list[dict[str, Any]]:
    """Every row of a JSON-lines file (none when it is missing); a line that is not JSON is a one-line error."""
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            raise RunFolderError(f"Cannot read {path} line {number}: expected one JSON object per line, as "
                                 f"`{writer}` writes.") from None
    return rows


def keep_rows(path: Path, key: str, last: int | float) -> list[dict[str, Any]]:
    """Rewrite `path` (atomically) with the rows whose `key` is at most `last`; returns them."""
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a line torn by the crash the run resumes from
                continue
            if isinstance(row, dict) and row.get(key, float("inf")) <= last:
                rows.append(row)
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
    return rows


class StopOnSignal:
    """`with StopOnSignal() as stop:` ... `if stop.number is not None:` checkpoint and raise `Interrupted`.

    Outside the main thread signals cannot be caught, and the handlers are left alone.
    """

    def __init__(self):
        self.number: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        for number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number, frame) -> None:
        if self.number is not None:  # a second signal: stop now
            signal.signal(number, self._previous.get(number, signal.SIG_DFL))
            raise KeyboardInterrupt
        self.number = number

    @property
    def name(self) -> str:
        return signal.Signals(self.number).name if self.number is not None else ""

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def read_settings(run_dir: Path, command: str, marker: str) -> dict[str, Any]:
    """`run_dir/config.yaml` as a mapping, for a folder that `command` wrote (it holds `marker` too)."""
    path = run_dir / "config.yaml"
    if not (run_dir / marker).is_file() or not path.is_file():
        raise RunFolderError(f"Cannot resume {run_dir}: expected a folder written by `{command}` (with config.yaml "
                             f"and {marker}), found none; pass the run folder to --resume.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise RunFolderError(f"Cannot read {path}: expected the YAML written by `{command}` ({error}).") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"Cannot read {path}: expected a mapping of settings, found {type(data).__name__}.")
    return data


def save_weights(path: Path, module: torch.nn.Module) -> Path:
    """`module`'s state as safetensors, serialised to bytes and written atomically (safetensors' own `save_file`
    reports a full disk as its own error type and does not fsync)."""
    from safetensors.torch import save

    tensors = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()}
    return atomic_write_bytes(path, save(tensors))


def read_record(run_dir: Path, file: str, format: str, command: str, kind: str) -> dict[str, Any]:
    """`run_dir/file`, the JSON record `command` writes (its `format` checked), refused in one line otherwise."""
    path = run_dir / file
    if not path.is_file():
        raise RunFolderError(f"Not a {kind} run: expected {path} written by `{command}`, found none; pass a folder "
                             f"made by `{command}`.")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RunFolderError(f"Cannot read {path}: expected JSON written by `{command}` ({error}).") from None
    if not isinstance(record, dict) or record.get("format") != format:
        raise RunFolderError(f"Unsupported {kind} format in {path}: expected {format!r}.")
    return record


def load_weights(run_dir: Path, module: torch.nn.Module, what: str, command: str) -> torch.nn.Module:
    """`run_dir/model.safetensors` into `module` (`what` names it in errors); a missing file points to `--resume`."""
    from safetensors.torch import load_file

    weights = run_dir / "model.safetensors"
    if not weights.is_file():
        raise RunFolderError(f"Run {run_dir} has no model.safetensors: expected a finished run; resume it with "
                             f"`{command} --resume {run_dir}`.")
    try:
        module.load_state_dict(load_file(weights))
    except Exception as error:  # safetensors' own error types, or keys and shapes that do not match
        raise RunFolderError(f"Cannot load {weights}: expected the weights of {what} "
                             f"({str(error).splitlines()[0]}).") from None
    return module.eval()
