"""Where a data-parallel step's time goes on this machine: compute, gradient exchange and DDP's own work.

For each model (LeNet-5 and the speedrun-93/94 networks, channels-last, fused AdamW, random Fashion-MNIST-sized
batches), one training step is timed (median of 5 blocks of 50 steps, after 30 warm-up steps) as:

- `1 process`: one process with every core as torch threads and the global batch;
- `compute only`: 2 processes, one thread each, half the batch, no exchange at all (the upper bound of what a second
  process can add);
- `+ DDP, no exchange`: the same wrapped in `DistributedDataParallel` with a hook that exchanges nothing (DDP's own
  bookkeeping: gradient buckets, hooks);
- `+ DDP, gloo`: DDP as torch ships it on CPUs (all-reduce through TCP on loopback);
- `+ DDP, shared memory`: striate's `SharedMemoryAllReduce` hook (what `striate train --nproc` uses on one machine);

and, alone, one gloo all-reduce of the model's gradient (`all-reduce`), the figure the README's scaling note uses.

    python benchmarks/ddp_step.py                       # the three models, 2 processes
    python benchmarks/ddp_step.py --models lenet5 --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from _common import HERE, machine, markdown_table, save

MODELS = {
    "lenet5": ("lenet5", {}),
    "speedrun-93": ("convnet", {"widths": [32, 64], "depth": 1, "head": "flatten", "hidden": 128, "dropout": 0.0,
                                "pool_first": True}),
    "speedrun-94": ("convnet", {"widths": [16, 32, 64], "depth": 2, "head": "avg", "dropout": 0.1,
                                "pool_first": True}),
}
MODES = ("compute only", "+ DDP, no exchange", "+ DDP, gloo", "+ DDP, shared memory")


def step_time(model, x, y, steps: int) -> float:
    """Median milliseconds of one training step over 5 blocks of `steps` steps."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(30):
        step()
    blocks = []
    for _ in range(5):
        if torch.distributed.is_initialized():
            torch.distributed.barrier()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        blocks.append((time.perf_counter() - start) / steps * 1000)
    return statistics.median(blocks)


def build(name: str, batch: int):
    import torch

    from striate.models._registry import create

    torch.manual_seed(0)
    zoo_name, model_args = MODELS[name]
    model = create(zoo_name, num_classes=10, **model_args).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    return model, x, torch.randint(0, 10, (batch,))


def single(args: argparse.Namespace) -> dict:
    results = {}
    for name in args.models:
        model, x, y = build(name, args.batch_size)
        results[name] = step_time(model, x, y, args.steps)
    return results


def multi(args: argparse.Namespace) -> dict:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from striate.train.distributed import start, wrap_model

    world, device = start(torch.device("cpu"), 120)

    def no_exchange(state, bucket):
        future = torch.futures.Future()
        future.set_result(bucket.buffer())
        return future

    no_exchange.__annotations__ = {"bucket": dist.GradBucket, "return": torch.futures.Future[torch.Tensor]}
    results = {}
    for name in args.models:
        model, x, y = build(name, args.batch_size // world.size)  # a fresh model for each wrapper: DDP hooks stay
        row = {"compute only": step_time(model, x, y, args.steps)}
        quiet = DistributedDataParallel(build(name, 1)[0])
        quiet.register_comm_hook(None, no_exchange)
        row["+ DDP, no exchange"] = step_time(quiet, x, y, args.steps)
        row["+ DDP, gloo"] = step_time(DistributedDataParallel(build(name, 1)[0]), x, y, args.steps)
        row["+ DDP, shared memory"] = step_time(wrap_model(build(name, 1)[0], world, device), x, y, args.steps)
        gradient = torch.randn(sum(p.numel() for p in model.parameters()))
        times = []
        for _ in range(100):
            dist.barrier()
            start_time = time.perf_counter()
            dist.all_reduce(gradient)
            times.append((time.perf_counter() - start_time) * 1000)
        row["all-reduce"], row["gradient MB"] = statistics.median(times[20:]), gradient.numel() * 4 / 1e6
        results[name] = row
    if world.is_main:
        print(json.dumps(results))
    dist.destroy_process_group()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch-size", type=int, default=128, help="the global batch")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--worker", choices=["single", "multi"])
    args = parser.parse_args()
    if args.worker == "single":
        print(json.dumps(single(args)))
        return
    if args.worker == "multi":
        multi(args)
        return
    common = ["--models", *args.models, "--batch-size", str(args.batch_size), "--steps", str(args.steps)]
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    one = json.loads(subprocess.run([sys.executable, str(HERE / "ddp_step.py"), *common, "--worker", "single"],
                                    check=True, capture_output=True, text=True, env=env).stdout.splitlines()[-1])
    launched = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               f"--nproc-per-node={args.nproc}", str(HERE / "ddp_step.py"), *common, "--worker",
                               "multi"], check=True, capture_output=True, text=True,
                              env={**env, "OMP_NUM_THREADS": "1"})
    many = json.loads(launched.stdout.strip().splitlines()[-1])
    rows = []
    for name in args.models:
        row = many[name]
        rows.append([name, f"{row['gradient MB']:.2f}", f"{one[name]:.2f}",
                     *(f"{row[mode]:.2f} ({one[name] / row[mode]:.2f}x)" for mode in MODES),
                     f"{row['all-reduce']:.2f}"])
    table = markdown_table(["model", "gradient MB", f"1 process ms (batch {args.batch_size})",
                            *(f"{args.nproc} processes: {mode} ms" for mode in MODES), "gloo all-reduce ms"], rows)
    print(table)
    print(f"saved {save('ddp_step', {'machine': machine(), 'one': one, 'many': many, 'table': table})}")


if __name__ == "__main__":
    main()
