"""Data-parallel training on torch.distributed (gloo on these CPUs): the hand-written synchronised batch norm against
plain batch norm over the global batch, the shards every process reads, and real multi-process runs through the
command line: 2 processes against 1, two `torchrun` "machines" on loopback, a lost or hung process, a worker killed
under `--max-restarts`, and SIGTERM then `--resume`, each ending with weights compared to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from striate.data import BatchLoader, Dataset
from striate.train.distributed import SyncBatchNorm, convert_sync_batchnorm, scaled_lr

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
STRIATE = [sys.executable, "-m", "striate"]
DIGITS = ["--data", "digits", "--batch-size", "32", "--eval-batch-size", "256"]
"""scikit-learn's digits: 1,149 training examples after the test and validation splits, 36 steps an epoch."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


def only_run(out: Path) -> Path:
    runs = [path for path in out.iterdir() if path.is_dir()]
    assert len(runs) == 1, f"expected one run folder in {out}, found {runs}"
    return runs[0]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# --- synchronised batch norm ------------------------------------------------------------------------------------------


def test_sync_batchnorm_in_one_process_is_batch_norm_with_exact_gradients():
    torch.manual_seed(0)
    reference = torch.nn.BatchNorm2d(3, momentum=0.3).double()
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        reference.bias.uniform_(-1, 1)
    sync = convert_sync_batchnorm(torch.nn.Sequential(reference))[0]
    assert isinstance(sync, SyncBatchNorm) and sync.weight is reference.weight  # shares parameters and buffers
    plain = torch.nn.BatchNorm2d(3, momentum=0.3).double()
    plain.load_state_dict(reference.state_dict())
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64) * 3 + 1
    assert torch.allclose(sync(x), plain(x), atol=1e-12)
    assert torch.allclose(sync.running_mean, plain.running_mean, atol=1e-12)
    assert torch.allclose(sync.running_var, plain.running_var, atol=1e-12)
    sync.eval(), plain.eval()
    assert torch.allclose(sync(x), plain(x), atol=1e-12)
    sync.train()
    assert torch.autograd.gradcheck(lambda t: sync(t), (x[:3, :, :2, :2].clone().requires_grad_(),))


SYNC_BN_WORKER = """
    import os, torch, torch.distributed as dist
    from safetensors.torch import save_file
    from striate.train.distributed import SyncBatchNorm
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    x = (torch.randn(6, 3, 4, 5, dtype=torch.float64) * 2 + 0.5)[rank * 3: rank * 3 + 3].clone().requires_grad_()
    weight = torch.randn(6, 3, 4, 5, dtype=torch.float64)[rank * 3: rank * 3 + 3]  # fixes the loss's gradient
    layer = SyncBatchNorm(3, momentum=0.2).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
        layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    out = layer(x)
    (out * weight).sum().backward()
    save_file({"out": out.detach(), "grad_x": x.grad, "grad_weight": layer.weight.grad, "grad_bias": layer.bias.grad,
               "running_mean": layer.running_mean, "running_var": layer.running_var},
              os.environ["RESULT"] + f"{rank}.safetensors")
    dist.destroy_process_group()
"""


def test_sync_batchnorm_over_two_processes_equals_batch_norm_over_the_global_batch(tmp_path):
    port = str(free_port())
    workers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(SYNC_BN_WORKER)], stderr=subprocess.PIPE,
                                env={**ENV, "WORLD_SIZE": "2", "RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
                                     "MASTER_PORT": port, "RESULT": str(tmp_path / "rank")}) for rank in (0, 1)]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read().decode()
    parts = [load_file(tmp_path / f"rank{rank}.safetensors") for rank in (0, 1)]

    torch.manual_seed(0)  # the same global batch in one process, through torch's own batch norm
    x = (torch.randn(6, 3, 4, 5, dtype=torch.float64) * 2 + 0.5).requires_grad_()
    weight = torch.randn(6, 3, 4, 5, dtype=torch.float64)
    layer = torch.nn.BatchNorm2d(3, momentum=0.2).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
        layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    out = layer(x)
    (out * weight).sum().backward()
    assert torch.allclose(torch.cat([p["out"] for p in parts]), out, atol=1e-12)
    assert torch.allclose(torch.cat([p["grad_x"] for p in parts]), x.grad, atol=1e-12)
    # each process's parameter gradient is its examples' part of the global one (DDP then sums them)
    assert torch.allclose(parts[0]["grad_weight"] + parts[1]["grad_weight"], layer.weight.grad, atol=1e-12)
    assert torch.allclose(parts[0]["grad_bias"] + parts[1]["grad_bias"], layer.bias.grad, atol=1e-12)
    for part in parts:  # the running statistics are the global batch's on every process
        assert torch.allclose(part["running_mean"], layer.running_mean, atol=1e-12)
        assert torch.allclose(part["running_var"], layer.running_var, atol=1e-12)


SHARED_MEMORY_WORKER = """
    import os, torch, torch.distributed as dist
    from safetensors.torch import save_file
    from striate.train.distributed import start, wrap_model
    world, device = start(torch.device("cpu"), 60)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.Flatten(), torch.nn.Linear(64, 3)).double()
    x, y = torch.randn(4, 8, 2, 6, 6, dtype=torch.float64), torch.randint(0, 3, (4, 8))
    ddp = wrap_model(model, world, device, bucket_cap_mb=1e-4)  # after the first step, one bucket per parameter
    grads = {}
    for step in range(4):  # buckets used again and again: both alternating buffers are used and reused
        model.zero_grad()
        part = slice(world.rank * 4, world.rank * 4 + 4)
        torch.nn.functional.cross_entropy(ddp(x[step, part]), y[step, part]).backward()
        grads.update({f"{step}.{name}": p.grad.clone() for name, p in model.named_parameters()})
    save_file(grads, os.environ["RESULT"] + f"{world.rank}.safetensors")
    dist.destroy_process_group()
"""


def test_gradients_averaged_through_shared_memory_equal_the_global_batch_gradient(tmp_path):
    port = str(free_port())
    env = {**ENV, "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
           "RESULT": str(tmp_path / "rank")}
    workers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(SHARED_MEMORY_WORKER)], stderr=subprocess.PIPE,
                                env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)}) for rank in (0, 1)]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read().decode()
    parts = [load_file(tmp_path / f"rank{rank}.safetensors") for rank in (0, 1)]
    torch.manual_seed(0)  # the whole batch of 8 in one process
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.Flatten(), torch.nn.Linear(64, 3)).double()
    x, y = torch.randn(4, 8, 2, 6, 6, dtype=torch.float64), torch.randint(0, 3, (4, 8))
    for step in range(4):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[step]), y[step]).backward()
        for name, parameter in model.named_parameters():
            for part in parts:  # the gradient is the same on both processes and is the global batch's
                assert torch.allclose(part[f"{step}.{name}"], parameter.grad, atol=1e-12)
    assert not list(Path("/dev/shm").glob("striate-grad-*"))  # the shared buffers leave nothing behind


# --- shards -----------------------------------------------------------------------------------------------------------


def dataset(n: int) -> Dataset:
    return Dataset(torch.arange(n, dtype=torch.float32).view(n, 1, 1), torch.arange(n) % 3, ["a", "b", "c"],
                   input_kind="signal")


def test_each_process_takes_its_part_of_every_global_batch_in_the_same_order():
    data = dataset(103)
    whole = BatchLoader(data, 8, shuffle=True, generator=torch.Generator().manual_seed(5))
    parts = [BatchLoader(data, 8, shuffle=True, generator=torch.Generator().manual_seed(5), shard=(rank, 2))
             for rank in (0, 1)]
    expected = [x for x, _ in whole]
    got = [[x for x, _ in part] for part in parts]
    assert len(parts[0]) == len(parts[1]) == len(whole) == 13
    for batch, first, second in zip(expected[:-1], *got, strict=False):
        assert torch.equal(torch.cat([first, second]), batch)  # the two halves of the same global batch
    assert torch.equal(torch.cat([got[0][-1], got[1][-1]]), expected[-1][:6])  # 7 rows left: 6 shared, 1 sits out
    assert len({float(v) for batch in expected for v in batch.flatten()}) == 103  # every example, once
    with pytest.raises(ValueError, match="batch_size 9 is not a multiple of 2 processes"):
        BatchLoader(data, 9, shuffle=True, shard=(0, 2))


def test_evaluation_shards_are_contiguous_and_cover_every_example_once():
    data = dataset(11)
    whole = torch.cat([x for x, _ in BatchLoader(data, 2)])
    parts = [torch.cat([x for x, _ in BatchLoader(data, 2, shard=(rank, 3))]) for rank in range(3)]
    assert [len(part) for part in parts] == [4, 4, 3]
    assert torch.equal(torch.cat(parts), whole)


def test_learning_rate_scaling_rules():
    assert scaled_lr(0.1, "linear", 512, 128) == pytest.approx(0.4)
    assert scaled_lr(0.1, "sqrt", 512, 128) == pytest.approx(0.2)
    assert scaled_lr(0.1, "none", 512, 128) == 0.1


# --- whole runs -------------------------------------------------------------------------------------------------------


def striate_train(*args: str, out: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*STRIATE, "train", *args, "--out", str(out)], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


@pytest.mark.slow
def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    # 1,120 training examples: 35 full batches, so no example sits out the 2-process epochs (an odd last batch would
    # leave one out, a different one each epoch)
    options = [*DIGITS, "--epochs", "2", "--train-size", "1120"]
    one = striate_train(*options, "--quiet", out=tmp_path / "one")
    two = striate_train(*options, "--nproc", "2", "--lr-scaling", "linear", "--lr-base-batch", "32",
                        out=tmp_path / "two")
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    run_one, run_two = only_run(tmp_path / "one"), only_run(tmp_path / "two")
    assert two.stdout.strip() == str(run_two)  # the launcher prints the one run folder, the processes do not
    assert "2 processes x 16 examples per step" in two.stderr
    # Tolerance: the same gradient summed in another order (two half-batch means, averaged) moves float32 weights
    # by a few ulps per step; after 70 steps they agree to 1e-5.
    a, b = weights(run_one), weights(run_two)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    results = json.loads((run_two / "results.json").read_text())
    assert results["processes"] == 2 and results["per_process_batch"] == 16 and results["effective_lr"] == 3e-3
    one_results = json.loads((run_one / "results.json").read_text())
    assert results["test_accuracy"] == pytest.approx(one_results["test_accuracy"], abs=1 / 359)  # one example at most
    # the test split is read half by each process and its counts summed: the confusion matrix holds every example
    assert sum(map(sum, results["test_details"]["confusion"])) == results["test_examples"] == 359
    config = (run_two / "config.yaml").read_text()
    assert config.startswith("# batch_size 32 is the global batch per step (2 processes x 16);")
    assert "nproc: 2" in config


@pytest.mark.slow
def test_two_torchrun_machines_rendezvous_on_loopback(tmp_path):
    port = str(free_port())
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(n),
                               "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", port,
                               "-m", "striate", "train", *DIGITS, "--epochs", "1", "--quiet", "--out",
                               str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV) for n in (0, 1)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    run = only_run(tmp_path / "runs")
    assert outputs[0][0].strip() == str(run) and outputs[1][0].strip() == ""  # rank 0 reports, rank 1 is silent
    assert json.loads((run / "results.json").read_text())["processes"] == 2
    assert not (run / ".incomplete").exists()


def start_by_hand(tmp_path: Path, *args: str) -> list[subprocess.Popen]:
    """Two training processes started the way torchrun starts them (its environment variables), without its agent, so
    nothing but striate itself notices when one of them goes."""
    port = str(free_port())
    return [subprocess.Popen([*STRIATE, "train", *DIGITS, *args, "--out", str(tmp_path / "runs")],
                             stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env={**ENV, "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank),
                                  "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port})
            for rank in (0, 1)]


def wait_for(predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def first_checkpoint(out: Path) -> bool:
    return any(out.glob("*/checkpoints/step-*"))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["killed", "hung"])
def test_a_lost_process_makes_the_other_stop_with_one_line_not_hang(tmp_path, how):
    rank0, rank1 = start_by_hand(tmp_path, "--epochs", "200", "--checkpoint-every", "5", "--dist-timeout", "4")
    wait_for(lambda: first_checkpoint(tmp_path / "runs"))
    os.kill(rank1.pid, signal.SIGKILL if how == "killed" else signal.SIGSTOP)
    lost = time.monotonic()
    try:
        _, stderr = rank0.communicate(timeout=60)
        waited = time.monotonic() - lost
    finally:
        os.kill(rank1.pid, signal.SIGKILL)
        rank1.wait()
    assert rank0.returncode == 2
    [line] = error_lines(stderr)
    assert line.startswith("error: Lost contact with another training process while training (rank 0 of 2: ")
    assert "expected all 2 processes to keep running" in line and "--resume" in line and "Traceback" not in stderr
    assert waited < (4 if how == "killed" else 4 + 10)  # a closed connection at once; a silent one after the timeout


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.fixture(scope="module")
def uninterrupted_two(tmp_path_factory) -> dict[str, torch.Tensor]:
    """Weights of an uninterrupted 2-process run with the options the kill tests interrupt."""
    out = tmp_path_factory.mktemp("uninterrupted")
    done = striate_train(*KILL_OPTIONS, "--quiet", out=out)
    assert done.returncode == 0, done.stderr
    return weights(only_run(out))


KILL_OPTIONS = [*DIGITS, "--nproc", "2", "--epochs", "12", "--checkpoint-every", "10", "--augment", "pad_crop"]
"""432 steps; random crops draw from each process's own random stream, which resuming must restore per process."""


@pytest.mark.slow
def test_a_worker_killed_under_max_restarts_restarts_from_the_checkpoint_to_the_same_weights(tmp_path,
                                                                                              uninterrupted_two):
    out = tmp_path / "runs"
    launcher = subprocess.Popen([*STRIATE, "train", *KILL_OPTIONS, "--max-restarts", "1", "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for(lambda: first_checkpoint(out) and len(children(launcher.pid)) == 2)
    os.kill(children(launcher.pid)[1], signal.SIGKILL)
    stdout, stderr = launcher.communicate(timeout=300)
    assert launcher.returncode == 0, stderr
    run = only_run(out)
    assert stdout.strip() == str(run)
    assert f"resuming {run.name} from step-" in stderr  # the restarted processes found the folder and its checkpoint
    got = weights(run)
    assert all(torch.equal(got[key], value) for key, value in uninterrupted_two.items())


@pytest.mark.slow
def test_sigterm_to_the_launcher_checkpoints_once_and_resume_finishes_with_the_same_weights(tmp_path,
                                                                                          uninterrupted_two):
    out = tmp_path / "runs"
    launcher = subprocess.Popen([*STRIATE, "train", *KILL_OPTIONS, "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for(lambda: first_checkpoint(out))
    launcher.send_signal(signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 143
    [line] = error_lines(stderr)  # said once, by the launcher, for every process
    run = only_run(out)
    assert line.startswith("error: Interrupted by SIGTERM at step ") and f"striate train --resume {run}" in line
    assert (run / ".incomplete").exists()
    resumed = subprocess.run([*STRIATE, "train", "--resume", str(run), "--quiet"], capture_output=True, text=True,
                             timeout=300, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    got = weights(run)
    assert all(torch.equal(got[key], value) for key, value in uninterrupted_two.items())
