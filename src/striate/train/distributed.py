"""Data-parallel training on PyTorch's own distributed engine: the process group, the few collectives training needs,
synchronised batch norm, and the launcher behind `striate train --nproc N`.

One process per device (or per group of CPU cores), each holding the whole model, reading its own shard of every
global batch; `DistributedDataParallel` averages the gradients, so every process takes the same optimizer step.

- Started by `torchrun` (or `--nproc`, which runs torchrun's launcher): the environment it sets (`WORLD_SIZE`,
  `RANK`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`/`MASTER_PORT`, `TORCHELASTIC_RUN_ID`,
  `TORCHELASTIC_RESTART_COUNT`) is all `start` reads; without it training is one plain process.
- Backend: NCCL when training on CUDA (one device per process, `cuda:LOCAL_RANK`), gloo on CPU.
- Nothing here pickles: text and RNG states travel as byte tensors.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn

from striate.errors import ConfigError, StriateError

SEPARATE_STORE = "TORCH_DISABLE_SHARE_RDZV_TCP_STORE"
"""torchrun's switch that gives every attempt of a job its own store instead of the rendezvous' shared one."""

HANDOFF = "STRIATE_HANDOFF"
"""Environment variable naming the file where rank 0 of a launched job records its run folder and outcome."""


class PeerLost(StriateError, RuntimeError):
    """Another training process died or stopped answering: this one stops instead of waiting for ever."""


class LaunchFailed(StriateError):
    """The processes `--nproc` launched did not all finish; `exit_code` is the one rank 0 exited with."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class World:
    """Where this process stands among the training processes (one process: size 1, rank 0)."""

    size: int = 1
    rank: int = 0
    local_rank: int = 0
    local_size: int = 1
    backend: str = ""
    run_id: str = ""
    restart: int = 0  # how many times torchrun has restarted the job's processes

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def collective_device(self) -> torch.device:
        """Where tensors must be for a collective: the process's GPU under NCCL, else the CPU."""
        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else torch.device("cpu")


SINGLE = World()


def launched() -> bool:
    """Whether this process was started by torchrun (or anything that sets its environment)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"Invalid environment variable {name}={value!r}: expected an integer, as torchrun sets "
                          "it; launch with torchrun or `striate train --nproc N`.") from None


def start(device: torch.device, timeout_s: float) -> tuple[World, torch.device]:
    """Join the process group torchrun's environment describes; returns this process's `World` and its device.

    Sets the threads per process so the processes on one machine share its cores instead of oversubscribing them
    (each gets `cores // LOCAL_WORLD_SIZE`), and pins a CUDA process to `cuda:LOCAL_RANK`.
    """
    if not launched():
        return SINGLE, device
    size, rank = _env_int("WORLD_SIZE", 1), _env_int("RANK", 0)
    local_rank, local_size = _env_int("LOCAL_RANK", 0), _env_int("LOCAL_WORLD_SIZE", 1)
    if size <= 1:
        return SINGLE, device
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"Invalid process count: local rank {local_rank} needs cuda:{local_rank} but this "
                              f"machine has {torch.cuda.device_count()} CUDA devices; start at most that many "
                              "processes per machine (--nproc / --nproc-per-node).")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ConfigError(f"Invalid `device` {device} for several processes: expected cpu (gloo) or cuda (NCCL).")
    torch.set_num_threads(threads_per_process(local_size))
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    world = World(size, rank, local_rank, local_size, backend, os.environ.get("TORCHELASTIC_RUN_ID", ""),
                  _env_int("TORCHELASTIC_RESTART_COUNT", 0))
    return world, device


def threads_per_process(processes: int) -> int:
    """The cores this process may use, shared evenly among the `processes` on the machine (at least one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(processes, 1))


def stop(world: World) -> None:
    """Leave the process group together: wait for every process (rank 0 writes the run folder last), free what
    still holds the group (a data-parallel wrapper), then destroy it."""
    if world.active and dist.is_initialized():
        import gc

        with peer_guard(world, "finishing"):
            dist.barrier()
        gc.collect()
        dist.destroy_process_group()


# --- collectives -----------------------------------------------------------------------------------------------------


@contextmanager
def peer_guard(world: World, doing: str, hint: str = "") -> Iterator[None]:
    """Turn a collective that failed because another process died (or hung past the timeout) into one line."""
    try:
        yield
    except (dist.DistError, RuntimeError) as error:
        if not world.active or not _is_peer_failure(error):
            raise
        raise PeerLost(f"Lost contact with another training process while {doing} (rank {world.rank} of "
                       f"{world.size}: {_reason(error)}); expected all {world.size} processes to keep running. "
                       f"{hint or 'Check the other processes’ messages.'}") from None


def _reason(error: BaseException) -> str:
    """The useful part of a backend's message: its first line, without the source file it came from and the advice
    that follows (`[.../pair.cc:537] Read error ...: Connection reset by peer. This is typically caused by ...`)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = re.sub(r"^\[[^\]]*\.(cc|cpp|h|hpp):\d+\]\s*", "", text)
    return text.split(". This is typically")[0][:300]


def _is_peer_failure(error: BaseException) -> bool:
    if isinstance(error, dist.DistError):
        return True
    text = str(error).lower()
    return any(word in text for word in ("gloo", "nccl", "connection", "timed out", "timeout", "peer", "socket",
                                         "process group", "broken pipe"))


def broadcast_text(world: World, text: str | None) -> str:
    """Rank 0's `text`, on every process (others pass None)."""
    if not world.active:
        return text or ""
    device = world.collective_device
    data = (text or "").encode("utf-8") if world.is_main else b""
    length = torch.tensor([len(data)], dtype=torch.int64, device=device)
    dist.broadcast(length, 0)
    buffer = torch.zeros(int(length), dtype=torch.uint8, device=device)
    if world.is_main and data:
        buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    if int(length):
        dist.broadcast(buffer, 0)
    return bytes(buffer.cpu().tolist()).decode("utf-8")


def agree(world: World, value: float, op: str = "max") -> float:
    """The largest (or smallest) of every process's `value`."""
    if not world.active:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=world.collective_device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.MIN)
    return float(tensor)


def gather_same_shape(world: World, tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every process's `tensor` (same shape and dtype everywhere), in rank order, on the CPU."""
    if not world.active:
        return [tensor.cpu()]
    local = tensor.to(world.collective_device).contiguous()
    parts = [torch.empty_like(local) for _ in range(world.size)]
    dist.all_gather(parts, local)
    return [part.cpu() for part in parts]


def _gather_rows(world: World, tensor: torch.Tensor) -> torch.Tensor:
    """Every process's rows of `tensor` (sizes may differ along dim 0), concatenated in rank order."""
    device = tensor.device
    local = tensor.to(world.collective_device).contiguous()
    sizes = gather_same_shape(world, torch.tensor([local.shape[0]], dtype=torch.int64, device=local.device))
    longest = max(int(size) for size in sizes)
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(parts, padded)
    return torch.cat([part[: int(size)] for part, size in zip(parts, sizes, strict=True)]).to(device)


def reduce_state(world: World, state: dict[str, Any]) -> dict[str, Any]:
    """A task's metric state summed over every process: counts and sums added, kept per-example lists (scores,
    predictions) joined in rank order, which for contiguous evaluation shards is the data's own order."""
    if not world.active:
        return state
    reduced: dict[str, Any] = {}
    for key, value in state.items():  # every process holds the same keys in the same order
        if isinstance(value, torch.Tensor):
            total = value.to(world.collective_device, copy=True)
            dist.all_reduce(total)
            reduced[key] = total.to(value.device)
        elif isinstance(value, list):
            local = torch.cat(value) if value else None
            template = _agree_template(world, local)
            if template is None:
                reduced[key] = []
                continue
            local = local if local is not None else template.new_zeros((0, *template.shape[1:]))
            reduced[key] = [_gather_rows(world, local)]
        else:
            reduced[key] = value
    return reduced


def _agree_template(world: World, local: torch.Tensor | None) -> torch.Tensor | None:
    """For a kept list that is empty on some processes: the dtype and trailing shape the others have (None when
    every process's list is empty)."""
    dims = torch.tensor([-1] * 4, dtype=torch.int64, device=world.collective_device)
    if local is not None:
        trailing = list(local.shape[1:])
        if len(trailing) > 3:
            raise ValueError("kept metric tensors have at most 4 dimensions")
        dims[: 1 + len(trailing)] = torch.tensor([_DTYPES.index(local.dtype), *trailing])
    dist.all_reduce(dims, op=dist.ReduceOp.MAX)
    if int(dims[0]) < 0:
        return None
    trailing = [int(d) for d in dims[1:] if int(d) >= 0]
    return torch.zeros((0, *trailing), dtype=_DTYPES[int(dims[0])])


_DTYPES = [torch.float32, torch.float64, torch.int64, torch.int32, torch.bool, torch.float16, torch.bfloat16,
           torch.uint8]


# --- gradients through shared memory ----------------------------------------------------------------------------------


class SharedMemoryAllReduce:
    """A `DistributedDataParallel` communication hook that averages gradients through shared memory, for CPU
    processes that all run on one machine.

    Hand-written because the CPU build of torch has one backend, gloo, and gloo sends every gradient through TCP on
    the loopback device. Here each process copies its gradient bucket into its own slot of a shared buffer, one gloo
    barrier (a few bytes) says every slot is written, and each process sums the slots itself. Measured with
    `benchmarks/ddp_step.py` on 2 cores: a LeNet-5 step of 2 processes 7.69 ms with gloo, 6.90 ms with this hook;
    on the larger speedrun networks the two are within 2% (the wait for the slower process dominates there).
    Two buffers per bucket alternate, so a slot is never rewritten before every process has read it: between two uses
    of the same buffer lies the other buffer's barrier, which a process reaches only after reading.

    The buffers are files in /dev/shm (the temporary folder where it is missing), created by rank 0, mapped by all,
    and unlinked once mapped, so nothing is left behind when a process dies. DDP calls the hook for the same buckets
    in the same order in every process, which is what keeps the buffers and their alternation in step.
    """

    def __init__(self, world: World):
        self.world = world
        self.token = broadcast_text(world, f"{os.getpid()}-{os.urandom(4).hex()}" if world.is_main else None)
        self.buffers: dict[tuple, torch.Tensor] = {}
        self.parity: dict[tuple, int] = {}

    def average(self, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
        grad = bucket.buffer()
        key = (bucket.index(), grad.numel(), grad.dtype)
        if key not in self.buffers:
            self.buffers[key], self.parity[key] = self._map(key, grad), 0
        slots = self.buffers[key][self.parity[key]]  # (processes, numel)
        self.parity[key] ^= 1
        slots[self.world.rank].copy_(grad)
        dist.barrier()  # every slot is written
        torch.sum(slots, dim=0, out=grad)
        grad.div_(self.world.size)
        future: torch.futures.Future[torch.Tensor] = torch.futures.Future()
        future.set_result(grad)
        return future

    def _map(self, key: tuple, grad: torch.Tensor) -> torch.Tensor:
        """Two (processes, numel) buffers in one shared file, mapped by every process (a collective)."""
        folder = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
        path = folder / f"striate-grad-{self.token}-{key[0]}-{key[1]}"
        count = 2 * self.world.size * grad.numel()
        if self.world.is_main:
            with open(path, "wb") as handle:
                handle.truncate(count * grad.element_size())
        dist.barrier()
        shared = torch.from_file(str(path), shared=True, size=count, dtype=grad.dtype)
        dist.barrier()
        if self.world.is_main:
            path.unlink()
        return shared.view(2, self.world.size, grad.numel())


def _shared_memory_hook(state, bucket):
    return state.average(bucket)


# DDP checks the hook's annotations against the real classes; this module's annotations are strings (PEP 563).
_shared_memory_hook.__annotations__ = {"bucket": dist.GradBucket, "return": torch.futures.Future[torch.Tensor]}


def wrap_model(model: nn.Module, world: World, device: torch.device, **options: Any) -> nn.Module:
    """`model` in `DistributedDataParallel` (with its keyword `options`); on CPU processes that share one machine,
    with gradients averaged through shared memory instead of the loopback network."""
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        return DistributedDataParallel(model, device_ids=[device.index], **options)
    wrapped = DistributedDataParallel(model, **options)
    if world.local_size == world.size:
        wrapped.register_comm_hook(SharedMemoryAllReduce(world), _shared_memory_hook)
    return wrapped


# --- synchronised batch norm -----------------------------------------------------------------------------------------


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are the global batch's, across every process.

    Hand-written because `torch.nn.SyncBatchNorm` runs on GPUs only, and CPU processes (gloo) need it too. The
    per-channel sums travel through the differentiable `all_reduce` of `torch.distributed.nn`, whose backward is an
    all-reduce of the gradients, so autograd yields the exact gradient of the global batch's normalisation. Two
    passes (the mean, then the squared deviations from it) keep the variance accurate in float32. Evaluation uses
    the running statistics, as `nn.BatchNorm*d` does; with one process it is `nn.BatchNorm*d`.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (N, C, ...), got {input.dim()}-D input")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training or not self.track_running_stats):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = _all_sum(x.new_tensor([x.numel() / x.shape[1]]))
        mean = _all_sum(x.sum(dims)) / count
        shape = (1, -1) + (1,) * (x.dim() - 2)
        centred = x - mean.view(shape)
        var = _all_sum((centred * centred).sum(dims)) / count
        if self.training and self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * (count / (count - 1).clamp(min=1))
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def _all_sum(tensor: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return _AllSum.apply(tensor)
    return tensor


class _AllSum(torch.autograd.Function):
    """Sum over the processes, differentiable: the gradient of a sum that every process uses is the sum of their
    gradients, so the backward is an all-reduce too."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """`module` with every `nn.BatchNorm1d/2d/3d` replaced by `SyncBatchNorm`, sharing its parameters and buffers
    (so an optimizer built before or after sees the same tensors, and the state dict keys do not change)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, SyncBatchNorm):
        sync = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                             module.track_running_stats)
        if module.affine:
            sync.weight, sync.bias = module.weight, module.bias
        if module.track_running_stats:
            sync.running_mean, sync.running_var = module.running_mean, module.running_var
            sync.num_batches_tracked = module.num_batches_tracked
        sync.train(module.training)
        return sync
    for name, child in list(module.named_children()):
        converted = convert_sync_batchnorm(child)
        if converted is not child:
            setattr(module, name, converted)
    return module


# --- finding a restarted job's run folder ----------------------------------------------------------------------------


def launch_tag(world: World) -> str:
    """The line the run folder's `.incomplete` marker carries, so a restarted job finds its own folder."""
    return f"torchrun run id: {world.run_id}\n" if world.run_id else ""


def find_restarted_run(out: str | Path, world: World) -> Path | None:
    """After torchrun restarted the job's processes: the run folder its first attempt created (the newest
    incomplete one in `out` whose marker names this job's run id), or None."""
    from striate.runs import INCOMPLETE

    tag = launch_tag(world)
    if not tag or world.restart == 0:
        return None
    found = []
    for marker in Path(out).expanduser().glob(f"*/{INCOMPLETE}"):
        try:
            if tag in marker.read_text(encoding="utf-8"):
                found.append((marker.stat().st_mtime, marker.parent))
        except OSError:
            continue
    return max(found)[1] if found else None


def report_failure(error: StriateError) -> bool:
    """A process `--nproc` launched: leave its one-line error to the launcher (which prints the one that explains
    the failure, once) instead of printing it; False when this process was not launched that way."""
    path = os.environ.get(HANDOFF)
    if not path:
        return False
    from striate._io import atomic_write_json

    atomic_write_json(f"{path}.rank{os.environ.get('RANK', '0')}", {
        "error": str(error), "kind": type(error).__name__, "exit_code": getattr(error, "exit_code", 2)})
    return True


def _reported(record_file: Path, nproc: int) -> list[tuple[int, dict[str, Any]]]:
    """The errors the processes left (`report_failure`), by rank."""
    found = []
    for rank in range(nproc):
        path = Path(f"{record_file}.rank{rank}")
        if path.is_file():
            found.append((rank, json.loads(path.read_text(encoding="utf-8"))))
    return found


def _explaining(reported: list[tuple[int, dict[str, Any]]]) -> tuple[int, dict[str, Any]] | None:
    """The error that explains a failure: the lowest rank's that is not a consequence of another process's end."""
    causes = [item for item in reported if item[1]["kind"] not in ("PeerLost", "Interrupted")]
    return (causes or reported or [None])[0]


def handoff(run_dir: Path) -> None:
    """Rank 0 of a job `--nproc` launched: tell the launcher the run folder (how training ended, each process says
    through `report_failure`)."""
    path = os.environ.get(HANDOFF)
    if path:
        from striate._io import atomic_write_json

        atomic_write_json(path, {"run_dir": str(run_dir)})


# --- the launcher ----------------------------------------------------------------------------------------------------


def launch(nproc: int, max_restarts: int, train_args: list[str], timeout_s: float) -> dict[str, Any]:
    """Run `striate train TRAIN_ARGS` in `nproc` local processes through torchrun's launcher (rendezvous on a free
    local port) and wait for them; returns rank 0's record (`run_dir`).

    Each process gets `cores // nproc` threads (`OMP_NUM_THREADS`). With `max_restarts` > 0 a failed process makes
    torchrun restart them all, and they continue from the run's last checkpoint.

    Raises:
        LaunchFailed: when the processes did not all finish (their own messages were printed above it).
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    with tempfile.TemporaryDirectory(prefix="striate-launch-") as tmp:
        record_file = Path(tmp) / "handoff.json"
        argv = ["--standalone", f"--nproc-per-node={nproc}", f"--max-restarts={max_restarts}",
                "--monitor-interval=0.2", "-m", "striate", "train", *train_args]
        settings = {HANDOFF: str(record_file), "OMP_NUM_THREADS": str(threads_per_process(nproc)),
                    # A restart must not reuse the rendezvous store: its first attempt's addresses are still in it,
                    # and the new processes connect to the dead ones (pytorch/pytorch#135712).
                    SEPARATE_STORE: "1"}
        saved = {key: os.environ.get(key) for key in settings}
        os.environ.update(settings)
        failure, signal_number = None, None
        elastic = logging.getLogger("torch.distributed.elastic")
        level = elastic.level
        elastic.setLevel(logging.ERROR if os.environ.get("STRIATE_DEBUG") else logging.CRITICAL)  # said below
        try:
            run(get_args_parser().parse_args(argv))
        except ChildFailedError as error:
            failure = error
        except SignalException as error:  # Ctrl-C or SIGTERM: torchrun passed it on and waited for the processes
            signal_number = int(error.sigval)
        finally:
            elastic.setLevel(level)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            sys.stdout.flush()
        record = json.loads(record_file.read_text(encoding="utf-8")) if record_file.is_file() else {}
        explained = _explaining(_reported(record_file, nproc))
    if signal_number is not None:
        raise _interrupted(signal_number, record, explained)
    if failure is not None:
        raise _failed(failure, nproc, max_restarts, record, explained)
    return record


def _failed(failure, nproc: int, max_restarts: int, record: dict[str, Any],
            explained: tuple[int, dict[str, Any]] | None) -> LaunchFailed:
    """One line for processes that did not finish: the error that explains it, as the process said it."""
    retry = f" (after {max_restarts} restarts)" if max_restarts else ""
    if explained is not None:
        rank, said = explained
        prefix = f"rank {rank} of {nproc}: " if said["kind"] not in ("ConfigError", "DataError", "ShapeError") else ""
        return LaunchFailed(f"{prefix}{said['error']}{retry}", said["exit_code"])
    ranks = ", ".join(f"rank {rank} exit code {info.exitcode}" for rank, info in sorted(failure.failures.items()))
    where = f"; run folder {record['run_dir']}" if record.get("run_dir") else ""
    hint = "" if max_restarts else "; --max-restarts K restarts them from the last checkpoint by themselves"
    code = next(iter(failure.failures.values())).exitcode
    return LaunchFailed(f"Training in {nproc} processes failed ({ranks}; their messages are above){where}{retry}"
                        f"{hint}.", code if isinstance(code, int) and 0 < code < 256 else 1)


def _interrupted(number: int, record: dict[str, Any], explained: tuple[int, dict[str, Any]] | None) -> StriateError:
    """The error a launcher stopped by a signal reports: the processes' own message (where the checkpoint is, how to
    resume) when they wrote one."""
    import signal

    from striate.errors import Interrupted

    if explained is not None:
        return Interrupted(explained[1]["error"], number)
    where = f"; resume from its last checkpoint with `striate train --resume {record['run_dir']}`" \
        if record.get("run_dir") else ""
    return Interrupted(f"Interrupted by {signal.Signals(number).name} before training wrote anything{where}.",
                       number)


def scaled_lr(lr: float, rule: str, batch_size: int, base_batch: int) -> float:
    """The learning rate for a global batch of `batch_size` by a scaling rule: `linear` (Goyal et al. 2017:
    proportional to the batch) or `sqrt` (proportional to its square root), from `lr` tuned at `base_batch`."""
    if rule == "linear":
        return lr * batch_size / base_batch
    if rule == "sqrt":
        return lr * math.sqrt(batch_size / base_batch)
    return lr
