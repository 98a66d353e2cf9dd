"""Transfer from a related, larger data set: fine-tuning against training from scratch on a few labelled examples.

Images: LeNet-5 is trained once on all 60,000 Fashion-MNIST images (`striate train`, the defaults), then trained on
10 and on 50 labelled images per class of scikit-learn's digits resized to 28x28 (`digits?size=28`,
`--train-per-class N`), once from that run (`--init-from`: a new head, the body at a tenth of the head's learning
rate, Fashion-MNIST's normalisation kept) and once from random weights, with the same options and seed; the score is
the accuracy on the 360 digits of the test split. Time series (Fawaz et al. 2018 studied transfer between UCR sets):
FCN is trained on OSULeaf (200 leaf outlines, 6 classes), then on ArrowHead (36 arrowhead outlines, 3 classes) from it
and from scratch; the score is ArrowHead's test accuracy (175 series). Every pair runs with 5 seeds (the subset, the
batch order and the new head change with the seed); the table gives mean and standard deviation.

    python benchmarks/finetune.py                          # images and series, 5 seeds (about 15 minutes)
    python benchmarks/finetune.py --parts images --seeds 2 --epochs 5 --source-epochs 1   # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import striate
from _common import machine, markdown_table, save


def images(args: argparse.Namespace, out: str) -> list[dict]:
    started = time.perf_counter()
    source = striate.train(epochs=args.source_epochs, out=out, name="fashion", quiet=True)
    print(f"  source: LeNet-5 on Fashion-MNIST, test accuracy {source.results['test_accuracy']:.4f} "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
    rows = []
    for per_class in (10, 50):
        for seed in range(args.seeds):
            common = dict(data="digits?size=28", train_per_class=per_class, val_split=0.0, epochs=args.epochs,
                          batch_size=32, seed=seed, out=out, quiet=True)
            scratch = striate.train(**common)
            tuned = striate.train(init_from=str(source.path), **common)
            rows.append({"part": "images", "setting": f"{per_class} digits per class", "seed": seed,
                         "scratch": scratch.results["test_accuracy"], "fine-tuned": tuned.results["test_accuracy"]})
            print(f"  {rows[-1]}", flush=True)
    return rows


def series(args: argparse.Namespace, out: str) -> list[dict]:
    fcn = dict(model="fcn", batch_size=16, val_split=0.0, lr=3e-3, out=out, quiet=True)
    source = striate.train(data="ucr:OSULeaf", epochs=args.series_epochs, **fcn)
    print(f"  source: FCN on OSULeaf, test accuracy {source.results['test_accuracy']:.4f}", flush=True)
    rows = []
    for seed in range(args.seeds):
        common = dict(data="ucr:ArrowHead", epochs=args.series_epochs, seed=seed, **fcn)
        common.pop("model")
        scratch = striate.train(model="fcn", **common)
        tuned = striate.train(init_from=str(source.path), **common)
        rows.append({"part": "series", "setting": "ArrowHead from OSULeaf (FCN)", "seed": seed,
                     "scratch": scratch.results["test_accuracy"], "fine-tuned": tuned.results["test_accuracy"]})
        print(f"  {rows[-1]}", flush=True)
    return rows


def summary(rows: list[dict]) -> str:
    table = []
    for setting in dict.fromkeys(row["setting"] for row in rows):
        chosen = [row for row in rows if row["setting"] == setting]
        cells = []
        for key in ("scratch", "fine-tuned"):
            values = [row[key] for row in chosen]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{100 * statistics.mean(values):.1f}% ± {100 * spread:.1f}")
        gain = statistics.mean(row["fine-tuned"] - row["scratch"] for row in chosen)
        wins = sum(row["fine-tuned"] > row["scratch"] for row in chosen)
        table.append([setting, len(chosen), *cells, f"{100 * gain:+.1f} points", f"{wins} of {len(chosen)}"])
    return markdown_table(["setting", "seeds", "from scratch", "fine-tuned", "gain", "fine-tuned better"], table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["images", "series"], choices=["images", "series"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30, help="epochs on the digits subsets")
    parser.add_argument("--source-epochs", type=int, default=6, help="epochs on Fashion-MNIST")
    parser.add_argument("--series-epochs", type=int, default=200, help="epochs on OSULeaf and on ArrowHead")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="striate-finetune-") as out:
        if "images" in args.parts:
            rows += images(args, out)
        if "series" in args.parts:
            rows += series(args, out)
    table = summary(rows)
    print(table)
    print(f"saved {save('finetune', {'machine': machine(), 'args': vars(args), 'rows': rows, 'table': table})}")


if __name__ == "__main__":
    main()
