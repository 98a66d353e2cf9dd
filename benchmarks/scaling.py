"""Scaling: striate's epoch time and memory against training-set size and batch size.

For every training-set size (10k, 30k, 60k Fashion-MNIST images) and batch size (64, 128, 256, 512) a fresh worker
process (`peers.py striate`, the throughput settings: AdamW, warm-up + cosine) trains the model, LeNet-5 by default,
for a few epochs. It records the epoch seconds, the process's peak resident memory (ru_maxrss) and its resident memory
(VmRSS, and its high-water mark VmHWM) at every epoch end, read by a striate Callback; on a GPU also the peak CUDA
memory. "Training" peak is VmHWM at the last epoch end; "process" peak also covers what striate.train does after
training (final evaluation, plots) and the worker's own evaluation. Resident memory that grows by more than 5% from
the first epoch end to the last is flagged: a loop that keeps tensors alive shows up there. Cells run in the same
order every round, so machine drift spreads over all of them; figures are medians over the epochs after the first
(warm-up) and over the rounds.

    python benchmarks/scaling.py                  # LeNet-5, 3 sizes x 4 batch sizes, 3 epochs, 2 rounds
    python benchmarks/scaling.py --model convnet --sizes 10000 --batch-sizes 128 256
    python benchmarks/scaling.py --sizes 2000 --batch-sizes 128 --epochs 2 --rounds 1   # smoke test
"""

from __future__ import annotations

import argparse

from _common import machine, markdown_table, median, run_worker, save

GROWTH_LIMIT = 0.05


def measure(args: argparse.Namespace) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {key(s, b): [] for s in args.sizes for b in args.batch_sizes}
    for round_index in range(args.rounds):
        for size in args.sizes:
            for batch_size in args.batch_sizes:
                worker = ["striate", args.model, "--epochs", str(args.epochs), "--batch-size", str(batch_size),
                          "--train-size", str(size)] + (["--device", args.device] if args.device else [])
                try:
                    outcome = run_worker(worker, timeout=args.timeout)
                except RuntimeError as error:
                    print(f"  {size} x {batch_size} failed: {str(error).splitlines()[1:2]}", flush=True)
                    continue
                results[key(size, batch_size)].append(outcome)
                rss = [row["rss_mb"] for row in outcome["epoch_stats"]]
                print(f"  round {round_index + 1} size {size:6d} batch {batch_size:4d}: "
                      f"{steady(outcome['epoch_seconds']):6.2f} s/epoch, peak {outcome['peak_rss_mb']:,.0f} MB, "
                      f"RSS per epoch {' '.join(f'{r:,.0f}' for r in rss)} MB", flush=True)
    return results


def key(size: int, batch_size: int) -> str:
    return f"{size}x{batch_size}"


def steady(epoch_seconds: list[float]) -> float:
    """Median epoch time without the first epoch (warm-up), unless it is the only one."""
    return median(epoch_seconds[1:] or epoch_seconds)


def growth(outcome: dict) -> float:
    """Relative change of resident memory from the first epoch end to the last."""
    rss = [row["rss_mb"] for row in outcome["epoch_stats"]]
    return (rss[-1] - rss[0]) / rss[0] if len(rss) > 1 else 0.0


def table(results: dict[str, list[dict]], sizes: list[int], batch_sizes: list[int]) -> tuple[str, list[str]]:
    reference = 128 if 128 in batch_sizes else batch_sizes[0]
    speed = {k: median(o["train_images"] / steady(o["epoch_seconds"]) for o in runs)
             for k, runs in results.items() if runs}
    rows, flagged = [], []
    for size in sizes:
        for batch_size in batch_sizes:
            runs = results[key(size, batch_size)]
            if not runs:
                rows.append([size, batch_size, "failed", *("-" for _ in range(6))])
                continue
            seconds = median(steady(o["epoch_seconds"]) for o in runs)
            rss = [median(values) for values in zip(*([r["rss_mb"] for r in o["epoch_stats"]] for o in runs),
                                                    strict=False)]
            worst = max(growth(o) for o in runs)
            flag = "GROWS" if worst > GROWTH_LIMIT else "flat"
            if worst > GROWTH_LIMIT:
                flagged.append(f"{size} images x batch {batch_size}: +{worst:.1%}")
            base = speed.get(key(size, reference))
            cuda = median(o["cuda_peak_mb"] for o in runs) if "cuda_peak_mb" in runs[0] else None
            rows.append([f"{runs[0]['train_images']:,}", batch_size, f"{seconds:.2f}",
                         f"{speed[key(size, batch_size)]:,.0f}",
                         f"{seconds * 10_000 / runs[0]['train_images']:.2f}",
                         f"{speed[key(size, batch_size)] / base:.2f}" if base else "-",
                         f"{median(o['epoch_stats'][-1]['hwm_mb'] for o in runs):,.0f} / "
                         f"{median(o['peak_rss_mb'] for o in runs):,.0f}" + (f" (CUDA {cuda:,.0f})" if cuda else ""),
                         " -> ".join(f"{r:,.0f}" for r in rss), f"{worst:+.1%} {flag}"])
    headers = ["train images", "batch", "epoch s", "img/s", "s per 10k img", f"img/s vs batch {reference}",
               "peak RSS MB: training / process", "RSS at each epoch end MB", "RSS growth (worst run)"]
    return markdown_table(headers, rows), flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet5", choices=["lenet5", "convnet", "resnet20"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 60_000], help="training images")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--epochs", type=int, default=3, help="at least 2 to see memory across epochs")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default=None, help="striate's `device` (default: auto)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per worker process")
    args = parser.parse_args()
    info = machine()
    print(f"machine: {info}", flush=True)
    results = measure(args)
    text, flagged = table(results, args.sizes, args.batch_sizes)
    verdict = ("memory growth over 5% across epochs: " + "; ".join(flagged) if flagged
               else f"resident memory flat across epochs (within {GROWTH_LIMIT:.0%}) in every cell")
    print(f"\n{text}\n\n{verdict}")
    path = save("scaling", {"args": vars(args), "machine": info, "results": results, "flagged": flagged,
                            "table": text})
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
