"""Transfer from a related, larger data set: fine-tuning against training from scratch on a few labelled examples.

Images: LeNet-5 is trained once on all 60,000 Fashion-MNIST images (`striate train`, the defaults), then trained on
10 and on 50 labelled images per class of scikit-learn's digits resized to 28x28 (`digits?size=28`,
`--train-per-class N`), once from that run (`--init-from`: a new head, the body at a tenth of the head's learning
rate, Fashion-MNIST's normalisation kept; and two variants: one learning rate for all, and the digits' own
statistics) and once from random weights, with the same options and seed; the score is the accuracy on the 359
digits of the test split. Time series (Fawaz et al. 2018 studied transfer between UCR sets):
FCN is trained on OSULeaf (200 leaf outlines, 6 classes), then on ArrowHead (36 arrowhead outlines, 3 classes) from it
and from scratch; the score is ArrowHead's test accuracy (175 series). Every pair runs with 5 seeds (the subset, the
batch order and the new head change with the seed); the table gives mean and standard deviation.

    python benchmarks/finetune.py                          # images and series, 5 seeds (about 15 minutes)
    python benchmarks/finetune.py --parts images --seeds 2 --epochs 5 --source-epochs 1   # smoke test
    python benchmarks/finetune.py --report benchmarks/results/finetune-....json --plot docs/finetune.png
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

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
            row = {"part": "images", "setting": f"{per_class} digits per class", "seed": seed,
                   "scratch": striate.train(**common).results["test_accuracy"]}
            for variant in args.variants:
                row[variant] = tune(source, variant, common).results["test_accuracy"]
            rows.append(row)
            print(f"  {row}", flush=True)
    return rows


def series(args: argparse.Namespace, out: str) -> list[dict]:
    fcn = dict(model="fcn", batch_size=16, val_split=0.0, lr=3e-3, out=out, quiet=True)
    source = striate.train(data="ucr:OSULeaf", epochs=args.series_epochs, **fcn)
    print(f"  source: FCN on OSULeaf, test accuracy {source.results['test_accuracy']:.4f}", flush=True)
    rows = []
    for seed in range(args.seeds):
        common = dict(data="ucr:ArrowHead", epochs=args.series_epochs, seed=seed, **fcn)
        common.pop("model")
        row = {"part": "series", "setting": "ArrowHead from OSULeaf (FCN)", "seed": seed,
               "scratch": striate.train(model="fcn", **common).results["test_accuracy"]}
        for variant in args.variants:
            row[variant] = tune(source, variant, common).results["test_accuracy"]
        rows.append(row)
        print(f"  {row}", flush=True)
    return rows


def tune(source, variant: str, common: dict):
    """A fine-tuned run; `variant` is BODY_LR_FACTOR/PREPROCESSING, e.g. 0.1/keep (the defaults)."""
    factor, preprocessing = variant.split("/")
    return striate.train(init_from=str(source.path), body_lr_factor=float(factor), init_preprocessing=preprocessing,
                         **common)


def summary(rows: list[dict], variants: list[str]) -> str:
    table = []
    for setting in dict.fromkeys(row["setting"] for row in rows):
        chosen = [row for row in rows if row["setting"] == setting]
        for key in ("scratch", *variants):
            values = [row[key] for row in chosen]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cell = f"{100 * statistics.mean(values):.1f}% ± {100 * spread:.1f}"
            if key == "scratch":
                table.append([setting, "from scratch", len(chosen), cell, "", ""])
                continue
            gain = statistics.mean(row[key] - row["scratch"] for row in chosen)
            wins = sum(row[key] > row["scratch"] for row in chosen)
            factor, preprocessing = key.split("/")
            table.append([setting, f"fine-tuned: body lr x{factor}, {preprocessing} statistics", len(chosen), cell,
                          f"{100 * gain:+.1f} points", f"{wins} of {len(chosen)}"])
    return markdown_table(["setting", "start", "seeds", "test accuracy", "gain", "better than scratch"], table)


def plot(rows: list[dict], variants: list[str], path: Path) -> Path:
    """Mean test accuracy with the seeds' standard deviation, per setting and start, as a small bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(dict.fromkeys(row["setting"] for row in rows))
    keys = ["scratch", *variants]
    labels = {"scratch": "from scratch", **{v: f"fine-tuned (body lr x{v.split('/')[0]}, {v.split('/')[1]} "
                                              "statistics)" for v in variants}}
    figure, axes = plt.subplots(1, len(settings), figsize=(3.4 * len(settings), 3.2), squeeze=False)
    for axis, setting in zip(axes[0], settings, strict=True):
        chosen = [row for row in rows if row["setting"] == setting]
        means = [100 * statistics.mean(row[key] for row in chosen) for key in keys]
        spreads = [100 * statistics.stdev(row[key] for row in chosen) if len(chosen) > 1 else 0 for key in keys]
        bars = axis.bar(range(len(keys)), means, yerr=spreads, capsize=3, color=["#999999", "#1f77b4", "#4c9be8",
                                                                                 "#d62728"][: len(keys)])
        axis.set_title(setting, fontsize=9)
        axis.set_xticks([])
        axis.set_ylim(max(0, min(means) - 10), 100)
        axis.set_ylabel("test accuracy (%)", fontsize=8)
        axis.tick_params(labelsize=8)
    figure.legend(bars, [labels[key] for key in keys], loc="lower center", ncol=2, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.14, 1, 1))
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["images", "series"], choices=["images", "series"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30, help="epochs on the digits subsets")
    parser.add_argument("--source-epochs", type=int, default=6, help="epochs on Fashion-MNIST")
    parser.add_argument("--series-epochs", type=int, default=200, help="epochs on OSULeaf and on ArrowHead")
    parser.add_argument("--variants", nargs="+", default=["0.1/keep", "1/keep", "1/recompute"],
                        help="fine-tuning settings BODY_LR_FACTOR/PREPROCESSING (keep | recompute) to compare")
    parser.add_argument("--plot", type=Path, help="also draw the results as a bar chart into this PNG")
    parser.add_argument("--report", type=Path, help="print (and --plot) a saved results JSON again, without running")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(args.report.read_text())
        print(summary(saved["rows"], saved["args"]["variants"]))
        if args.plot:
            print(f"drew {plot(saved['rows'], saved['args']['variants'], args.plot)}")
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="striate-finetune-") as out:
        if "images" in args.parts:
            rows += images(args, out)
        if "series" in args.parts:
            rows += series(args, out)
    table = summary(rows, args.variants)
    print(table)
    arguments = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    print(f"saved {save('finetune', {'machine': machine(), 'args': arguments, 'rows': rows, 'table': table})}")
    if args.plot:
        print(f"drew {plot(rows, args.variants, args.plot)}")


if __name__ == "__main__":
    main()
