"""Data parallelism on one machine: 1 process against N processes, the speedrun recipes' time to accuracy.

Each contender is one `striate train --config configs/speedrun-TT.yaml` process, started fresh, with the Fashion-MNIST
test split given as `--val-data` (written once to an NPZ), so every epoch ends with the test accuracy and a wall-clock
stamp (`end_unix_seconds` in metrics.jsonl). "1 process" runs with every core as torch threads (what a user gets by
default); "N processes" is `--nproc N`, one thread each on a 2-core machine (the launcher divides the cores). The clock
starts just before the process is spawned: interpreter start, imports, data loading, the launcher's rendezvous and every
epoch's test evaluation count for both. Contenders alternate A B A B; cells are medians over the rounds.

Also reported, from the same runs: training samples/s (median over epochs after the first), and the checkpoint
written after every epoch: its seconds (the recipe's last checkpoint re-saved 5 times, median) against the median
epoch.

    python benchmarks/distributed.py                        # recipes 93 and 94, 1 against 2 processes, 1 round
    python benchmarks/distributed.py --targets 93 --rounds 3
    python benchmarks/distributed.py --targets 93 --epochs 1 --train-size 4000   # smoke test
    python benchmarks/distributed.py --report benchmarks/results/distributed-....json   # a saved run's table again
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import HERE, machine, markdown_table, median, save

CONFIGS = HERE.parent / "configs"
TARGETS = (93, 94)


def write_test_split(folder: Path) -> Path:
    """The Fashion-MNIST test split as an NPZ that `--val-data npz:PATH` reads."""
    from striate.data import load_data

    test = load_data("fashion-mnist", val_split=0.0, seed=0).test
    path = folder / "fashion-test.npz"
    np.savez(path, X=test.x.numpy(), y=np.array(test.classes)[test.y.numpy()], classes=np.array(test.classes))
    return path


def train(target: int, nproc: int, val: Path, out: Path, args: argparse.Namespace) -> dict:
    """One fresh `striate train` process; returns its epochs as (seconds since spawn, test accuracy, samples/s)."""
    command = [sys.executable, "-m", "striate", "train", "--config", str(CONFIGS / f"speedrun-{target}.yaml"),
               "--val-data", f"npz:{val}", "--nproc", str(nproc), "--out", str(out), "--quiet",
               *(["--epochs", str(args.epochs)] if args.epochs else []),
               *(["--train-size", str(args.train_size)] if args.train_size else [])]
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}  # the default: every core
    spawned = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    run = Path(done.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {"run": str(run), "process_seconds": time.time() - spawned,
            "epochs": [{"seconds": row["end_unix_seconds"] - spawned, "test_accuracy": row["val_accuracy"],
                        "samples_per_second": row["train_samples_per_second"], "epoch_seconds": row["epoch_seconds"]}
                       for row in rows]}


def checkpoint_seconds(run: str, repeats: int = 5) -> float:
    """Seconds to write the run's last checkpoint again (the same state, the same atomic write)."""
    from striate.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

    state, manifest = load_checkpoint(latest_checkpoint(run))
    times = []
    with tempfile.TemporaryDirectory() as folder:
        for step in range(repeats):
            start = time.perf_counter()
            save_checkpoint(folder, state, epoch=manifest["epoch"], step=step + 1)
            times.append(time.perf_counter() - start)
    return median(times)


def time_to(target: float, epochs: list[dict]) -> float:
    return next((row["seconds"] for row in epochs if row["test_accuracy"] * 100 >= target), float("inf"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, nargs="+", default=[93, 94])
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--epochs", type=int, help="override the recipes' epochs (smoke tests)")
    parser.add_argument("--train-size", type=int, help="train on a subset (smoke tests)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--report", type=Path, help="print the table of a saved results JSON again, without running")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(args.report.read_text())
        args.targets, args.nproc = saved["args"]["targets"], saved["args"]["nproc"]
        report(saved["results"], args)
        return

    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="striate-bench-") as tmp:
        val = write_test_split(Path(tmp))
        for round_index in range(args.rounds):
            for target in args.targets:
                for nproc in args.nproc:
                    label = f"speedrun-{target} x {nproc}"
                    outcome = train(target, nproc, val, Path(tmp) / "runs", args)
                    outcome["checkpoint_seconds"] = checkpoint_seconds(outcome["run"])
                    results.setdefault(label, []).append(outcome)
                    best = max(row["test_accuracy"] for row in outcome["epochs"])
                    print(f"  round {round_index + 1} {label}: {outcome['process_seconds']:.1f} s, best test accuracy "
                          f"{best:.4f}, to {target}%: {time_to(target, outcome['epochs']):.1f} s", flush=True)
    report(results, args)


def report(results: dict[str, list[dict]], args: argparse.Namespace) -> None:
    rows = []
    for target in args.targets:
        base: dict[int, float] = {}
        for nproc in args.nproc:
            runs = results[f"speedrun-{target} x {nproc}"]
            cells = []
            for goal in TARGETS:
                seconds = median(time_to(goal, run["epochs"]) for run in runs)
                base.setdefault(goal, seconds)
                cells.append(f"{seconds:.1f} ({base[goal] / seconds:.2f}x)" if seconds < float("inf") else
                             "not reached")
            rate = median(median(row["samples_per_second"] for row in run["epochs"][1:] or run["epochs"])
                          for run in runs)
            epoch = median(median(row["epoch_seconds"] for row in run["epochs"]) for run in runs)
            save_cost = median(run["checkpoint_seconds"] for run in runs)
            best = median(max(row["test_accuracy"] for row in run["epochs"]) for run in runs)
            rows.append([f"speedrun-{target}", nproc, *cells, f"{rate:,.0f}", f"{100 * best:.2f}%", f"{epoch:.2f}",
                         f"{1000 * save_cost:.0f} ms ({100 * save_cost / epoch:.2f}%)"])
    table = markdown_table(["recipe", "processes", *(f"s to {goal}% (speed-up)" for goal in TARGETS),
                            "train samples/s", "best test acc.", "epoch s", "checkpoint per epoch"], rows)
    print(table)
    if not args.report:
        path = save("distributed", {"machine": machine(), "args": vars(args), "results": results, "table": table})
        print(f"saved {path}")


if __name__ == "__main__":
    main()
