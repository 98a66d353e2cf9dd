"""Sentence classification: Kim's Text CNN (CNN-rand) on TREC and SST-2 against the published accuracies.

Kim 2014, CNN-rand (randomly initialised 300-d embeddings, filter widths 3/4/5 x 100 maps, dropout 0.5, max-norm 3,
batch 50): TREC 91.2%, SST-2 82.7% test accuracy. striate trains the same network with its own recipe (AdamW,
one-cycle, no weight decay, at most 12 epochs with early stopping on validation accuracy, keeping the best epoch's
weights, as Kim selected by the dev set) on the files in
`../shared/data/text/` (TREC: 10% of the training file held out for validation; SST-2: its dev file). Each run is a
fresh process; `--seeds` runs give mean and standard deviation.

    .venv/bin/python benchmarks/text.py                     # TREC and SST-2, 3 seeds
    .venv/bin/python benchmarks/text.py --datasets TREC --seeds 1 --epochs 2   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from _common import machine, markdown_table, run_worker, save

TEXT = Path(os.environ.get("STRIATE_TEXT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "text"))
DATA = {"TREC": {"data": "TREC.train.all?lowercase=false", "test_data": "TREC.test.all?lowercase=false"},
        "SST-2": {"data": "stsa.binary.train", "test_data": "stsa.binary.test", "val_data": "stsa.binary.dev"}}
PUBLISHED = {"TREC": 0.912, "SST-2": 0.827}


def worker(name: str, seed: int, epochs: int, lr: float, weight_decay: float, patience: int) -> dict:
    import striate

    files = {key: f"text:{TEXT / value}" for key, value in DATA[name].items()}
    start = time.perf_counter()
    stopping = {"patience": patience, "monitor": "val_accuracy"} if patience else {}
    run = striate.train(**files, model="textcnn", epochs=epochs, batch_size=50, lr=lr, weight_decay=weight_decay,
                        seed=seed, out="/tmp/striate-bench-runs", quiet=True, **stopping)
    return {"dataset": name, "seed": seed, "test_accuracy": run.results["test_accuracy"],
            "train_seconds": time.perf_counter() - start, "epochs": epochs,
            "vocabulary": len(run.vocabulary), "parameters": run.results["parameters"],
            "weights_from_epoch": run.results["weights_from_epoch"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATA))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12, help="most epochs")
    parser.add_argument("--patience", type=int, default=3,
                        help="early stopping on validation accuracy, best epoch's weights kept (0: off)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, seed, epochs, lr, decay, patience = args.worker
        print(json.dumps(worker(name, int(seed), int(epochs), float(lr), float(decay), int(patience))))
        return
    rows, raw = [], []
    for name in args.datasets:
        runs = [run_worker(["--worker", name, str(seed), str(args.epochs), str(args.lr), str(args.weight_decay),
                            str(args.patience)], script="text.py") for seed in range(args.seeds)]
        raw += runs
        accuracies = [r["test_accuracy"] for r in runs]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        rows.append([name, args.epochs, f"{statistics.mean(accuracies):.3f} ± {spread:.3f}", f"{PUBLISHED[name]:.3f}",
                     f"{statistics.median(r['train_seconds'] for r in runs):.1f}", f"{runs[0]['vocabulary']:,}"])
        print(rows[-1], file=sys.stderr, flush=True)
    table = markdown_table(["dataset", "epochs", f"test accuracy (mean ± sd, {args.seeds} seeds)",
                            "Kim 2014 CNN-rand", "train s (median)", "vocabulary"], rows)
    print(table)
    print(save("text", {"args": vars(args), "machine": machine(), "runs": raw, "table": table}))


if __name__ == "__main__":
    main()
