"""UCR time-series classification: striate's FCN, ResNet and InceptionTime against the published accuracies.

For each dataset and model, `--seeds` runs of `striate.train` (all training series, no validation split, the test
split aeon ships) give the test accuracy's mean and standard deviation and the training wall time, printed beside
the values published by Wang et al. 2017 (FCN, ResNet) and Ismail Fawaz et al. 2020 (InceptionTime). The published
recipes train 1,500-2,000 epochs with Adam at 1e-3 and a learning-rate decay on plateau; striate's recipe here is
the same networks with its one-cycle AdamW schedule and far fewer epochs (`--epochs`), which is what a laptop user
runs. Each run is a fresh process so timings start cold.

With `--aeon-python PYTHON` (an environment with aeon and TensorFlow, see `aeon_peer.py`) aeon's own deep
classifiers (FCNClassifier, ResNetClassifier, IndividualInceptionClassifier; Keras) train the same splits for the
same epochs and batch size, alternating with striate's runs, and the table puts them side by side.

    .venv/bin/python benchmarks/timeseries.py                       # GunPoint, ItalyPowerDemand x 3 models x 5 seeds
    .venv/bin/python benchmarks/timeseries.py --aeon-python /tmp/tfvenv/bin/python --seeds 2
    .venv/bin/python benchmarks/timeseries.py --datasets GunPoint --models fcn --seeds 2 --epochs 50   # smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from _common import HERE, machine, markdown_table, run_worker, save

PUBLISHED = {("GunPoint", "fcn"): 1.000, ("GunPoint", "resnet_ts"): 0.991, ("GunPoint", "inception_time"): 1.000,
             ("ItalyPowerDemand", "fcn"): 0.963, ("ItalyPowerDemand", "resnet_ts"): 0.962,
             ("ItalyPowerDemand", "inception_time"): 0.965}
EPOCHS = {"fcn": 300, "resnet_ts": 200, "inception_time": 150}


def worker(dataset: str, model: str, seed: int, epochs: int, batch_size: int, lr: float) -> dict:
    import torch

    import striate

    torch.set_num_threads(int(__import__("os").environ.get("STRIATE_THREADS", "2")))
    start = time.perf_counter()
    run = striate.train(data=f"ucr:{dataset}", model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                        val_split=0.0, seed=seed, out="/tmp/striate-bench-runs", quiet=True)
    return {"dataset": dataset, "model": model, "seed": seed, "test_accuracy": run.results["test_accuracy"],
            "train_seconds": time.perf_counter() - start, "epochs": epochs}


def summary(runs: list[dict]) -> tuple[str, str]:
    accuracies = [r["test_accuracy"] for r in runs]
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    return (f"{statistics.mean(accuracies):.3f} ± {spread:.3f}",
            f"{statistics.median(r['train_seconds'] for r in runs):.1f}")


def aeon_run(python: str, dataset: str, model: str, seed: int, epochs: int, batch_size: int) -> dict:
    start = time.perf_counter()
    process = subprocess.run([python, str(HERE / "aeon_peer.py"), dataset, model, str(seed), str(epochs),
                              str(batch_size)], capture_output=True, text=True, timeout=7200)
    if process.returncode != 0:
        raise RuntimeError(f"aeon peer failed:\n{process.stderr[-3000:]}")
    result = json.loads(process.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["GunPoint", "ItalyPowerDemand"])
    parser.add_argument("--models", nargs="+", default=list(EPOCHS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="epochs for every model (default: per model)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--aeon-python", default=None, help="a Python with aeon + TensorFlow: train aeon's peers too")
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        dataset, model, seed, epochs, batch, lr = args.worker
        print(json.dumps(worker(dataset, model, int(seed), int(epochs), int(batch), float(lr))))
        return
    rows, raw = [], []
    for dataset in args.datasets:
        for model in args.models:
            epochs = args.epochs or EPOCHS.get(model, 200)
            runs, peers = [], []
            for seed in range(args.seeds):  # alternate the contenders, so drift of the machine hits both
                runs.append(run_worker(["--worker", dataset, model, str(seed), str(epochs), str(args.batch_size),
                                        str(args.lr)], script="timeseries.py"))
                if args.aeon_python:
                    peers.append(aeon_run(args.aeon_python, dataset, model, seed, epochs, args.batch_size))
            raw += runs + peers
            rows.append([dataset, model, epochs, *summary(runs), *(summary(peers) if peers else ()),
                         f"{PUBLISHED.get((dataset, model), float('nan')):.3f}"])
            print(rows[-1], file=sys.stderr, flush=True)
    headers = ["dataset", "model", "epochs", f"striate accuracy (mean ± sd, {args.seeds} seeds)", "striate s"]
    if args.aeon_python:
        headers += ["aeon (Keras) accuracy", "aeon s"]
    table = markdown_table([*headers, "published"], rows)
    print(table)
    print(save("timeseries", {"args": vars(args), "machine": machine(), "runs": raw, "table": table}))


if __name__ == "__main__":
    main()
