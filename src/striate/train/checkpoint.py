"""Checkpoints: the complete training state as safetensors (every tensor) and JSON (everything else), no pickle.

Layout inside a run folder:

    checkpoints/step-00000420/      (an epoch's end: step-00000420-epoch/)
        state.safetensors   every tensor of the state: weights, optimizer moments, RNG states as byte tensors, ...
        state.json          the rest of the state's structure, each tensor replaced by a reference to its key
        manifest.json       written last: each file's size and SHA-256, the epoch and the step

A checkpoint is written into a hidden temporary folder (`.step-00000420.tmp`), each file flushed and fsynced, the
manifest last, and only then renamed into place; the previous checkpoint is deleted after that, so a crash, a kill
or a full disk at any moment leaves at least one complete checkpoint. Loading checks every file against the manifest,
so a truncated or corrupted checkpoint is refused with an error naming the file.

`torch.save` would be one line, but it pickles, and `torch.load` of a pickle runs code: checkpoints are read back by
`--resume` and may come from anyone, so the nested state is split here into tensors for safetensors and plain JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from striate._io import fsync_folder, write_synced
from striate.errors import OutputError, RunFolderError
from striate.train.callbacks import Callback

FORMAT = "striate.checkpoint/1"
FOLDER = "checkpoints"
FILES = ("state.safetensors", "state.json")


def flatten(state: Any) -> tuple[dict[str, torch.Tensor], Any]:
    """Split a nested state into `{key: tensor}` and a JSON-able skeleton that refers to the tensors by key.

    Tuples, dicts with non-string keys (an optimizer's parameter ids), NumPy arrays (NumPy's RNG state) and
    non-finite floats survive the round trip through `unflatten`.
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            key = f"t{len(tensors)}"
            tensors[key] = value.detach().to("cpu", copy=True).contiguous()  # copies: safetensors refuses shared memory
            return {"__tensor__": key}
        if isinstance(value, np.ndarray):
            key = f"t{len(tensors)}"
            tensors[key] = torch.from_numpy(value.astype(np.int64) if value.dtype == np.uint32 else value.copy())
            return {"__ndarray__": key, "dtype": str(value.dtype)}
        if isinstance(value, float) and not np.isfinite(value):
            return {"__float__": repr(value)}
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: walk(v) for k, v in value.items()}
            return {"__items__": [[walk(k), walk(v)] for k, v in value.items()]}
        if isinstance(value, tuple):
            return {"__tuple__": [walk(v) for v in value]}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"Cannot checkpoint a value of type {type(value).__name__}: expected tensors, arrays, "
                        "numbers, strings, lists, tuples and dicts.")

    return tensors, walk(state)


def unflatten(tensors: dict[str, torch.Tensor], skeleton: Any) -> Any:
    """The inverse of `flatten`."""
    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__ndarray__" in value:
            return tensors[value["__ndarray__"]].numpy().astype(value["dtype"])
        if "__float__" in value:
            return float(value["__float__"])
        if "__tuple__" in value:
            return tuple(walk(v) for v in value["__tuple__"])
        if "__items__" in value:
            return {walk(k): walk(v) for k, v in value["__items__"]}
        return {k: walk(v) for k, v in value.items()}

    return walk(skeleton)


def save_checkpoint(run_dir: str | Path, state: dict[str, Any], *, epoch: int, step: int, keep: int = 1,
                    tag: str = "") -> Path:
    """Write `state` as `run_dir/checkpoints/step-NNNNNNNN[-tag]/` atomically; keep the newest `keep` checkpoints.

    An epoch's end is tagged (`step-00000041-epoch`), so it never replaces a step checkpoint taken at the same step
    and sorts after it: no complete checkpoint is ever removed before its successor is in place.
    """
    root = Path(run_dir) / FOLDER
    name = f"step-{step:08d}" + (f"-{tag}" if tag else "")
    final, tmp = root / name, root / f".{name}.tmp"
    tensors, skeleton = flatten(state)
    payload = {"state.safetensors": save_tensors(tensors),
               "state.json": json.dumps(skeleton, separators=(",", ":")).encode("utf-8")}
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)  # a temporary left by a crash during an earlier write
        tmp.mkdir()
        for file, data in payload.items():
            write_synced(tmp / file, data)
        manifest = {"format": FORMAT, "epoch": epoch, "step": step, "created": time.time(),
                    "files": {file: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                              for file, data in payload.items()}}
        write_synced(tmp / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
        fsync_folder(tmp)
        if final.exists():  # the very same point saved twice: the older copy goes aside first, then away
            aside = root / f".{name}.old"
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(final, aside)
            os.replace(tmp, final)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_folder(root)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"Cannot write checkpoint {final}: {error.strerror or error}; free some space or choose "
                          "another folder. The previous checkpoint is unchanged.") from None
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints (those with a manifest), oldest first; temporaries of interrupted writes are skipped."""
    root = Path(run_dir) / FOLDER
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if p.is_dir() and (p / "manifest.json").is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RunFolderError(f"Cannot read checkpoint manifest {path / 'manifest.json'}: expected the JSON striate "
                             f"writes ({error}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunFolderError(f"Unsupported checkpoint format in {path / 'manifest.json'}: expected {FORMAT!r}.")
    return manifest


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state saved in checkpoint folder `path` and its manifest; every file is checked against the manifest."""
    path = Path(path)
    manifest = read_manifest(path)
    data = {}
    for file in FILES:
        expected = manifest.get("files", {}).get(file)
        try:
            content = (path / file).read_bytes()
        except OSError as error:
            raise RunFolderError(f"Cannot read checkpoint file {path / file}: {error.strerror or error}.") from None
        if expected is None or len(content) != expected["bytes"] or \
                hashlib.sha256(content).hexdigest() != expected["sha256"]:
            found = f"{len(content):,} bytes" + ("" if expected is None or len(content) != expected["bytes"]
                                                 else " with a different checksum")
            raise RunFolderError(f"Corrupted checkpoint file {path / file}: expected "
                                 f"{expected['bytes'] if expected else '?':,} bytes with the manifest's SHA-256, found "
                                 f"{found}; resume from another checkpoint or train again.")
        data[file] = content
    try:
        tensors = load_tensors(data["state.safetensors"])
        skeleton = json.loads(data["state.json"])
    except Exception as error:  # the checksums matched, so this is a writer bug, not damage: keep the cause visible
        raise RunFolderError(f"Cannot decode checkpoint {path}: {error}.") from error
    return unflatten(tensors, skeleton), manifest


class Checkpointer(Callback):
    """Callback: a checkpoint after every epoch and every `every_steps` steps; a clean stop on Ctrl-C or SIGTERM.

    On the first SIGINT or SIGTERM the current step (with several processes, at most `AGREE_EVERY` steps) finishes, a
    checkpoint is written and `Interrupted` is raised with the command that resumes; a second signal, a few seconds
    later, stops at once (the last checkpoint stays).
    A loss that is not finite is never saved: the trainer's divergence check runs before every write.

    With several training processes every one of them has a Checkpointer: the state is gathered from all (a
    collective), rank 0 alone writes it, and a signal any of them received is agreed on after every step, so they
    all stop after the same step (torchrun passes a SIGTERM or Ctrl-C on to every process, at slightly different
    moments).

    Args:
        run_dir: the run folder the checkpoints go in.
        every_steps: also write one every this many optimizer steps (None: after epochs only).
        keep: how many checkpoints to keep (the newest).
        resume_hint: the command printed on interruption.
        world: the training processes (`striate.train.distributed`); rank 0 writes.
    """

    AGREE_EVERY = 10
    """With several processes, steps between two agreements on a signal (each is a round trip between them)."""

    REPEAT_SECONDS = 2.0
    """A second signal within this long of the first is the same request (a launcher passing it on), not an
    insistence on stopping at once."""

    def __init__(self, run_dir: str | Path, every_steps: int | None = None, keep: int = 1,
                 resume_hint: str | None = None, world=None):
        from striate.train.distributed import SINGLE

        self.run_dir, self.every_steps, self.keep = Path(run_dir), every_steps, keep
        self.world = world or SINGLE
        self.agree_every = self.AGREE_EVERY if self.world.active else 1
        self._requested_at = 0.0
        self.resume_hint = resume_hint or f"striate train --resume {run_dir}"
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    # hooks, in the trainer's order (see striate.train.callbacks)
    def on_train_start(self, trainer) -> None:
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed from the main thread
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._request)

    def _request(self, number: int, frame) -> None:
        import signal

        if self.requested is not None:
            if time.monotonic() - self._requested_at < self.REPEAT_SECONDS:
                return
            self.restore_signals()  # a second signal: stop now, the last checkpoint stays
            signal.raise_signal(number)
            return
        self.requested, self._requested_at = number, time.monotonic()

    def on_batch_end(self, trainer) -> None:
        number = self._agreed_signal() if trainer.step % self.agree_every == 0 else 0
        if number:
            self.save(trainer)
            self._stop(trainer, number)
        if self.every_steps and trainer.step % self.every_steps == 0:
            self.save(trainer)

    def on_epoch_end(self, trainer, metrics: dict[str, float]) -> None:
        self.save(trainer, tag="epoch")
        number = self._agreed_signal()
        if number:
            self._stop(trainer, number)

    def on_train_end(self, trainer) -> None:
        self.restore_signals()

    def _agreed_signal(self) -> int:
        """The signal to stop for (0: none), the same on every process: a signal any of them received (one tiny
        all-reduce every `AGREE_EVERY` steps and at every epoch's end). The handler's flag is read once and never
        written here, so a signal that lands while the processes agree is neither lost nor acted on by one process
        alone: it counts at the next agreement."""
        number = self.requested or 0
        if self.world.active:
            from striate.train.distributed import agree

            number = int(agree(self.world, number))
        return number

    # the work
    def save(self, trainer, tag: str = "") -> Path:
        trainer.check_finite()  # never save weights that a non-finite loss has already ruined
        state = trainer.state_dict()  # with several processes, every one takes part in gathering it
        if not self.world.is_main:
            return self.run_dir / FOLDER
        return save_checkpoint(self.run_dir, state, epoch=trainer.epoch, step=trainer.step, keep=self.keep, tag=tag)

    def _stop(self, trainer, number: int) -> None:
        import signal

        from striate.errors import Interrupted

        self.requested = None
        self.restore_signals()
        name = signal.Signals(number).name
        raise Interrupted(f"Interrupted by {name} at step {trainer.step} (epoch {trainer.epoch + 1}): a checkpoint "
                          f"was written; resume with `{self.resume_hint}`.", number)

    def restore_signals(self) -> None:
        import signal

        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}
