"""Forecasting: the TCN (point and quantile forecasts) against naive, seasonal naive and exponential smoothing on the
same test windows, on Airline (monthly, the last 24 months as test) and Uschange (five related quarterly series, one
global model, the last 8 quarters of each as test).

    python benchmarks/forecast.py [--seeds 3]

Reported: MASE, sMAPE and (quantile runs) the coverage of the 80% interval, medians over seeds with the range, and
training seconds; MAPE of seasonal naive on Airline for comparison with the figure usually quoted (15.5%).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

import striate
from striate.data.forecast import baseline_forecasts, read_series

RECIPES = {
    "Airline": {"data": "forecast:Airline?horizon=24&test=24&val=0&lookback=36",
                "model_args": {"channels": [64, 64, 64], "kernel_size": 5, "dropout": 0.1},
                "epochs": 300, "batch_size": 8},
    "Uschange": {"data": "forecast:Uschange?horizon=8&test=8&val=0&lookback=24&season=4",
                 "model_args": {"channels": [32, 32, 32], "kernel_size": 3, "dropout": 0.1},
                 "epochs": 100, "batch_size": 32},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=list(RECIPES))
    args = parser.parse_args()
    out = tempfile.mkdtemp()
    print("| data | method | MASE | sMAPE % | 80% coverage | seconds |")
    print("|---|---|---|---|---|---|")
    for name in args.datasets:
        recipe = RECIPES[name]
        baselines = None
        for label, loss in (("TCN, quantiles 0.1/0.5/0.9 (pinball)", "pinball"), ("TCN, point (absolute)", "absolute")):
            found = []
            for seed in range(args.seeds):
                start = time.perf_counter()
                run = striate.train(model="tcn", loss=loss, seed=seed, out=out, quiet=True, **recipe)
                found.append((run.results["test_mase"], run.results["test_smape"],
                              run.results.get("test_coverage", float("nan")), time.perf_counter() - start))
                baselines = run.results["test_baselines"]
            values = np.array(found)
            print(f"| {name} | {label} | {_cell(values, 0, 3)} | {_cell(values, 1, 2)} | {_cell(values, 2, 2)} | "
                  f"{np.median(values[:, 3]):.0f} |", flush=True)
        for method, metrics in baselines.items():
            print(f"| {name} | {method} | {metrics['mase']:.3f} | {metrics['smape']:.2f} | - | - |", flush=True)
    airline = read_series("Airline").values[0]
    history, truth = airline[:-24], airline[-24:]
    seasonal = baseline_forecasts(history, 24, 12)["seasonal naive"]
    mape = 100 * np.mean(np.abs(seasonal - truth) / truth)
    print(f"\nAirline, seasonal naive over the last 24 months: MAPE {mape:.1f}%")


def _cell(values: np.ndarray, column: int, digits: int) -> str:
    """The median of a column with its range over seeds, or "-" where the metric does not apply."""
    median = float(np.median(values[:, column]))
    if np.isnan(median):
        return "-"
    return f"{median:.{digits}f} ({values[:, column].min():.{digits}f}-{values[:, column].max():.{digits}f})"


if __name__ == "__main__":
    main()
