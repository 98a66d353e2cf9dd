"""Anomaly detection on KDD-TSAD_135 (aeon's bundled UCR anomaly series "InternalBleeding16"): SR against SR-CNN.

The series has 7,501 points; its _TRAIN file holds the first 1,200, which are normal, and one anomaly is labelled at
points 4187-4198. Every contender scores the whole series, takes its threshold from the first 1,200 points (the
F1-best one on anomalies injected into them; labels are never used) and is evaluated on points 1200-7500:
point-wise F1, the paper's delay-adjusted F1 (delay 7), whether the top-scored region (the flagged run around the
highest score) overlaps the labelled anomaly, and, to separate the scores' ranking from the threshold, the
point-wise F1 of the best threshold in hindsight. SR alone is also run with the paper's fixed threshold 3. The seed
changes the injected anomalies (and, for SR-CNN, the network's initialisation), so each contender runs `--seeds`
times; the table gives medians (lowest-highest), the overlap count, and the median wall time of `detect` (CNN
training included).
`drop_mean` leaves the zero-frequency term out of the saliency map (see striate.anomaly.spectral_residual).

    .venv/bin/python benchmarks/anomaly.py               # 5 seeds, about a minute on two CPU cores
    .venv/bin/python benchmarks/anomaly.py --seeds 1     # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from _common import machine, markdown_table, save
from striate import anomaly

CONTENDERS = {
    "SR, paper's threshold 3": {"method": "sr", "threshold": 3.0},
    "SR": {"method": "sr"},
    "SR-CNN": {"method": "sr-cnn"},
    "SR, drop_mean": {"method": "sr", "drop_mean": True},
    "SR-CNN, drop_mean": {"method": "sr-cnn", "drop_mean": True},
}


def hindsight_f1(detection: anomaly.Detection) -> float:
    """Point-wise F1 on the evaluated part at the threshold that is best there (uses the labels: a bound, not a
    result)."""
    start = detection.train_size
    scores, labels = detection.scores[start:], detection.series.labels[start:]
    return anomaly.precision_recall_f1(scores >= anomaly.best_threshold(scores, labels), labels)["f1"]


def run(name: str, options: dict, seed: int, steps: int) -> dict:
    found = anomaly.detect("KDD-TSAD_135", seed=seed, steps=steps, **options)
    start, stop = found.top_region
    return {"contender": name, "seed": seed, "threshold": found.threshold, "flagged": int(found.decisions[1200:].sum()),
            "pointwise_f1": found.metrics["pointwise"]["f1"], "adjusted_f1": found.metrics["adjusted"]["f1"],
            "top_region": [start, stop - 1], "overlaps": found.metrics["top_region_overlaps"],
            "hindsight_f1": hindsight_f1(found), "seconds": found.seconds}


def summary(name: str, runs: list[dict]) -> list:
    def median(key: str) -> str:
        values = [r[key] for r in runs]
        spread = f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""
        return f"{statistics.median(values):.3f}{spread}"

    overlaps = sum(r["overlaps"] for r in runs)
    return [name, len(runs), median("pointwise_f1"), median("adjusted_f1"), f"{overlaps}/{len(runs)}",
            median("hindsight_f1"), f"{statistics.median(r['flagged'] for r in runs):g}",
            f"{statistics.median(r['seconds'] for r in runs):.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="runs per contender (seeds 0..N-1)")
    parser.add_argument("--steps", type=int, default=300, help="SR-CNN training steps")
    args = parser.parse_args()
    series = anomaly.read_series("KDD-TSAD_135")
    segments = [[a, b - 1] for a, b in anomaly.segments(series.labels)]
    print(f"KDD-TSAD_135: {len(series.values):,} points, training part 0-{series.train_size - 1}, labelled "
          f"{segments}")
    began, runs = time.perf_counter(), []
    for name, options in CONTENDERS.items():
        seeds = [0] if "threshold" in options else range(args.seeds)  # a given threshold leaves nothing to chance
        for seed in seeds:
            runs.append(run(name, options, seed, args.steps))
            r = runs[-1]
            print(f"  {name}, seed {seed}: threshold {r['threshold']:.4g}, flagged {r['flagged']}, top region "
                  f"{r['top_region']}, F1 {r['pointwise_f1']:.3f}, adjusted {r['adjusted_f1']:.3f}, "
                  f"{r['seconds']:.2f} s", flush=True)
    headers = ["contender", "runs", "F1 (point-wise)", "F1 (adjusted, delay 7)", "top region overlaps",
               "F1 at the best threshold in hindsight", "points flagged", "seconds"]
    rows = [summary(name, [r for r in runs if r["contender"] == name]) for name in CONTENDERS]
    table = markdown_table(headers, rows)
    print(f"\n{table}\n\nmedians over seeds (lowest-highest); {time.perf_counter() - began:.0f} s in all")
    path = save("anomaly", {"args": vars(args), "machine": machine(), "labelled": segments, "runs": runs,
                            "table": table, "numpy": np.__version__})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
