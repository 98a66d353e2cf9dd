"""Throughput side by side: striate against an idiomatic PyTorch script and Keras 3 (JAX, and torch if it runs).

For each model (LeNet-5, the small batch-norm CNN, ResNet-20) and each contender, trains on Fashion-MNIST with the
same architecture, batch size, optimizer (AdamW, warm-up + cosine) and epochs, in fresh processes alternated
A B C A B C so that machine drift hits all of them. Reports training images/s (median over the epochs after the
first, which is warm-up, and over rounds), evaluation images/s, peak resident memory, final test accuracy, the
achieved FLOP/s (counted with torch.utils.flop_counter) as a fraction of the measured peak matmul rate, and the
ratio striate / peer.

    python benchmarks/throughput.py                      # all models, 3 epochs, 2 rounds
    python benchmarks/throughput.py --models lenet5 --epochs 4 --rounds 3
"""

from __future__ import annotations

import argparse
import importlib.util
import time

from _common import machine, markdown_table, median, run_worker, save

CONTENDERS = {
    "striate": ("striate", {}),
    "pytorch (workers=0)": ("pytorch", {"workers": 0}),
    "pytorch (workers=2)": ("pytorch", {"workers": 2}),
    "keras-jax": ("keras", {"env": {"KERAS_BACKEND": "jax"}}),
    "keras-torch": ("keras", {"env": {"KERAS_BACKEND": "torch"}}),
}


def peak_matmul_rate(dtype_name: str, seconds: float = 2.0) -> float:
    """The machine's float32 / bfloat16 matrix-multiply rate through PyTorch, in FLOP/s (best of short bursts).

    The matrix shrinks until one product takes under a second, so a CPU without bfloat16 kernels (where it runs at
    well under 1 GFLOP/s) is measured in seconds rather than minutes.
    """
    import torch

    dtype = getattr(torch, dtype_name)
    best, size = 0.0, 2048
    while True:
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        start = time.perf_counter()
        a @ b
        if time.perf_counter() - start < 1.0 or size <= 256:
            break
        size //= 2
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * size**3 / (time.perf_counter() - start))
    return best


def training_flops_per_image(model_name: str, batch_size: int = 128) -> float:
    """Forward + backward FLOPs of one training step per image, counted by torch.utils.flop_counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from striate.models import create

    model = create(model_name, num_classes=10, in_channels=1, input_size=(28, 28))
    x, y = torch.randn(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / batch_size


def available(contender: str) -> bool:
    kind, options = CONTENDERS[contender]
    if kind != "keras":
        return True
    backend = options["env"]["KERAS_BACKEND"]
    return importlib.util.find_spec("keras") is not None and importlib.util.find_spec(backend) is not None


def measure(models, contenders, epochs, rounds, batch_size, train_size) -> dict:
    results: dict = {model: {c: [] for c in contenders} for model in models}
    for model in models:
        for round_index in range(rounds):
            for contender in contenders:  # alternated within each round
                kind, options = CONTENDERS[contender]
                args = [kind, model, "--epochs", str(epochs), "--batch-size", str(batch_size)]
                if "workers" in options:
                    args += ["--workers", str(options["workers"])]
                if train_size:
                    args += ["--train-size", str(train_size)]
                try:
                    outcome = run_worker(args, env=options.get("env"))
                except RuntimeError as error:
                    print(f"  {contender} on {model} failed: {str(error).splitlines()[1:2]}", flush=True)
                    continue
                outcome["train_images_per_second"] = [outcome["train_images"] / s for s in outcome["epoch_seconds"]]
                results[model][contender].append(outcome)
                steady = median(outcome["train_images_per_second"][1:] or outcome["train_images_per_second"])
                print(f"  round {round_index + 1} {model:9s} {contender:20s} {steady:9,.0f} img/s  "
                      f"acc {outcome['test_accuracy']:.4f}", flush=True)
    return results


def table(results: dict, flops: dict, peak: float) -> str:
    rows = []
    for model, by_contender in results.items():
        speeds = {c: median(v for r in runs for v in (r["train_images_per_second"][1:] or r["train_images_per_second"]))
                  for c, runs in by_contender.items() if runs}
        for contender, runs in by_contender.items():
            if not runs:
                continue
            ratio = speeds["striate"] / speeds[contender] if "striate" in speeds else float("nan")
            achieved = speeds[contender] * flops[model]
            rows.append([model, contender, f"{speeds[contender]:,.0f}",
                         f"{median(r['eval_images_per_second'] for r in runs):,.0f}",
                         f"{median(r['peak_rss_mb'] for r in runs):,.0f}",
                         f"{median(r['test_accuracy'] for r in runs):.4f}",
                         f"{achieved / 1e9:.1f} ({achieved / peak:.1%})",
                         "1.00" if contender == "striate" else f"{ratio:.2f}"])
    headers = ["model", "contender", "train img/s", "eval img/s", "peak RSS MB", "test acc", "GFLOP/s (of fp32 peak)",
               "striate / this"]
    return markdown_table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet5", "convnet", "resnet20"])
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=list(CONTENDERS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-size", type=int, default=None, help="train on the first N images only")
    args = parser.parse_args()
    contenders = [c for c in args.contenders if available(c)]
    skipped = sorted(set(args.contenders) - set(contenders))
    info = machine()
    peak = {name: peak_matmul_rate(name) for name in ("float32", "bfloat16")}
    print(f"machine: {info}\npeak matmul: float32 {peak['float32'] / 1e9:.1f} GFLOP/s, "
          f"bfloat16 {peak['bfloat16'] / 1e9:.1f} GFLOP/s" + (f"\nskipped (not installed): {skipped}" if skipped
                                                                else ""), flush=True)
    flops = {model: training_flops_per_image(model) for model in args.models}
    results = measure(args.models, contenders, args.epochs, args.rounds, args.batch_size, args.train_size)
    text = table(results, flops, peak["float32"])
    print("\n" + text)
    path = save("throughput", {"args": vars(args), "machine": info, "peak_flops": peak, "training_flops": flops,
                               "results": results, "table": text})
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
