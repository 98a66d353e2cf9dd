"""Forecasting: windows cut against a hand-computed case, the TCN's causality and its instance normalisation, the
pinball loss and interval ordering, metrics and baselines against direct computations, the readers and their
errors, and a run end to end (train, evaluate, `striate forecast`)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import striate
from striate.cli import app
from striate.data import BatchLoader, load_data
from striate.data.forecast import (
    SeriesSet,
    Windows,
    baseline_forecasts,
    detect_season,
    forecast_splits,
    point_metrics,
    read_series,
    seasonal_scale,
)
from striate.errors import ConfigError, DataError
from striate.models import create
from striate.tasks import create_task
from striate.tasks.forecast import pinball

pytest.importorskip("aeon")


def test_windows_of_several_series_match_a_hand_computed_plan():
    a, b = np.arange(20, dtype=float), 100 + np.arange(14, dtype=float)
    splits = forecast_splits(SeriesSet(["a", "b"], [a, b], "hand"), lookback=4, horizon=2, test=2, val=2, season=1,
                             baselines=False)
    # series a (n=20): test origin 18, validation origin 16, training origins 4..14 (targets end before 16)
    # series b (n=14): test origin 12, validation origin 10, training origins 4..8
    expected_train = [("a", t) for t in range(4, 15)] + [("b", t) for t in range(4, 9)]
    rows = {"a": a, "b": b}
    for part, origins in ((splits.train, expected_train), (splits.val, [("a", 16), ("b", 10)]),
                          (splits.test, [("a", 18), ("b", 12)])):
        assert len(part) == len(origins)
        x, y = part.x[torch.arange(len(part))], part.y
        for row, (name, t) in enumerate(origins):
            series = rows[name]
            assert x[row, 0].tolist() == series[t - 4: t].tolist()
            assert y[row, :2].tolist() == series[t: t + 2].tolist()
            assert y[row, 2] == 1.0  # the naive error of a series rising by 1 a step
    assert isinstance(splits.train.x, Windows) and splits.train.input_shape == (1, 4)
    assert splits.test.classes == ["t+1", "t+2"] and splits.test.target_kind == "forecast"


def test_windows_stay_lazy_through_subsets_and_batch_like_a_tensor():
    splits = forecast_splits(read_series("Airline"), lookback=24, horizon=6, baselines=False)
    train = splits.train
    whole = train.x[torch.arange(len(train))]  # (N, 1, 24), materialised here only
    subset = train.subset(torch.tensor([5, 1, 3]))
    assert isinstance(subset.x, Windows) and torch.equal(subset.x[torch.arange(3)], whole[[5, 1, 3]])
    batches = list(BatchLoader(train, 16))  # the "none" normalisation passes the values through
    assert torch.equal(torch.cat([x for x, _ in batches]), whole)
    assert train.x.buffer.numel() == 144  # one copy of the series, whatever the number of windows


def test_the_tcn_is_causal_and_its_instance_normalisation_follows_the_series_units():
    torch.manual_seed(0)
    model = create("tcn", num_classes=2, in_channels=1, channels=[8, 8, 8], kernel_size=3, output="sequence",
                   dropout=0.0).double().eval()
    x = torch.randn(1, 1, 40, dtype=torch.float64, requires_grad=True)
    output = model(x)  # (1, 2, 40)
    for t in (0, 7, 25, 38):
        (grad,) = torch.autograd.grad(output[0, :, t].sum(), x, retain_graph=True)
        assert grad[0, 0, t + 1:].abs().max() == 0  # nothing after step t reaches output t
        assert grad[0, 0, max(0, t - 5): t + 1].abs().max() > 0  # the recent past does
    forecaster = create("tcn", num_classes=6, in_channels=1, channels=[8, 8], kernel_size=3, instance_norm=True,
                        dropout=0.0).double().eval()
    window = torch.randn(3, 1, 24, dtype=torch.float64)
    with torch.no_grad():
        plain, moved = forecaster(window), forecaster(window * 50 + 1000)
    assert torch.allclose(moved, plain * 50 + 1000, atol=1e-6)  # forecasts in the series' own units


def test_pinball_loss_and_the_task_loss_against_a_direct_computation():
    generator = torch.Generator().manual_seed(0)
    task = create_task("forecast", ["t+1", "t+2", "t+3"], quantiles=[0.9, 0.1, 0.5])
    assert task.quantiles == [0.1, 0.5, 0.9] and task.num_outputs == 9
    output = torch.randn(4, 9, generator=generator, dtype=torch.float64)
    target = torch.cat([torch.randn(4, 3, generator=generator, dtype=torch.float64),
                        torch.rand(4, 1, generator=generator, dtype=torch.float64) + 0.5], dim=1)
    expected = 0.0
    for n in range(4):
        for h in range(3):
            forecasts = sorted(float(v) for v in output[n, 3 * h: 3 * h + 3])
            for q, f in zip([0.1, 0.5, 0.9], forecasts, strict=True):
                e = float(target[n, h]) - f
                expected += (q * e if e >= 0 else (q - 1) * e) / float(target[n, 3])
    assert float(task.loss(output, target)) == pytest.approx(expected / 36, rel=1e-6)
    assert float(pinball(torch.tensor([[1.0, 2.0]]), torch.tensor([1.5]), torch.tensor([0.25, 0.75]))[0, 0]) == \
        pytest.approx(0.125)
    torch.autograd.gradcheck(lambda o: task.loss(o, target), output.clone().requires_grad_())


def test_quantile_forecasts_never_cross_and_point_losses_take_no_quantiles():
    task = create_task("forecast", 5)
    crossing = torch.randn(32, 15) * 10
    forecast = task.predict(crossing).reshape(32, 5, 3)
    assert bool((forecast[..., 0] <= forecast[..., 1]).all() and (forecast[..., 1] <= forecast[..., 2]).all())
    formatted = task.format_prediction(task.predict(crossing)[0])
    assert all(low <= formatted["values"][step] <= high for step, (low, high) in formatted["intervals"].items())
    assert formatted["level"] == 0.8
    assert create_task("forecast", 5, loss="absolute").num_outputs == 5
    with pytest.raises(ConfigError, match="a point forecast has none; use --loss pinball"):
        create_task("forecast", 5, loss="absolute", quantiles=[0.1, 0.9])
    with pytest.raises(ConfigError, match=r"expected distinct levels strictly between 0 and 1"):
        create_task("forecast", 5, quantiles=[0.5, 1.0])


def test_metrics_of_the_task_and_the_baselines_equal_numpy_formulas():
    rng = np.random.default_rng(0)
    truth, forecast, scale = rng.normal(10, 2, (6, 4)), rng.normal(10, 2, (6, 4)), rng.uniform(0.5, 2, 6)
    task = create_task("forecast", 4, loss="absolute")
    state = task.new_state(torch.device("cpu"))
    target = torch.from_numpy(np.concatenate([truth, scale[:, None]], axis=1))
    output = torch.from_numpy(forecast)
    task.update(state, output, target, task.loss(output, target))
    found = task.compute(state)
    error = forecast - truth
    assert found["mae"] == pytest.approx(np.abs(error).mean())
    assert found["rmse"] == pytest.approx(np.sqrt((error**2).mean()))
    assert found["smape"] == pytest.approx(100 * np.mean(2 * np.abs(error) / (np.abs(forecast) + np.abs(truth))))
    assert found["mase"] == pytest.approx(np.mean(np.abs(error) / scale[:, None]))
    rows = [(forecast[i], truth[i], scale[i]) for i in range(6)]
    assert point_metrics(rows) == pytest.approx({k: found[k] for k in ("mae", "rmse", "smape", "mase")})
    from rich.console import Console

    console = Console(width=200, record=True)
    baselines = {"naive": point_metrics(rows[:3]), "seasonal naive": point_metrics(rows)}
    console.print(task.baselines_table(found, baselines))
    text = console.export_text()
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.strip("┃│ ").split("┃")] == ["method", "MAE", "RMSE", "sMAPE %", "MASE"]
    assert f"{found['mase']:.4g}" in next(line for line in text.splitlines() if "this model" in line)
    assert task.baselines_table(found, None) is None


def test_seasons_scales_and_baselines_on_hand_made_series():
    airline = read_series("Airline").values[0]
    assert detect_season(airline[:-24]) == 12
    weekly = np.tile([1.0, 5, 2, 8, 3, 9, 4], 10) + np.linspace(0, 3, 70)
    assert detect_season(weekly) == 7
    assert detect_season(np.random.default_rng(1).normal(size=200)) == 1
    assert seasonal_scale(np.array([1.0, 4, 2, 7]), 2) == pytest.approx((1 + 3) / 2)
    assert seasonal_scale(np.ones(10), 3) == 1.0  # a constant series: no scale to divide by
    history = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    found = baseline_forecasts(history, 5, season=3)
    assert found["naive"].tolist() == [8] * 5
    assert found["seasonal naive"].tolist() == [6, 7, 8, 6, 7]
    trend = baseline_forecasts(np.arange(30, dtype=float), 3, season=1)["exponential smoothing"]
    assert np.allclose(trend, [30, 31, 32], atol=0.05)  # Holt's linear trend continues a straight line


def test_readers_take_wide_long_and_npz_series(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text(",month,a,b\n0,2020-01,1,10\n1,2020-02,2,11\n2,2020-03,3,\n")
    found = read_series(wide)
    assert found.names == ["a", "b"] and [v.tolist() for v in found.values] == [[1, 2, 3], [10, 11]]
    long = tmp_path / "long.csv"
    long.write_text("id,time,value\nx,3,30\nx,1,10\ny,1,5\nx,2,20\ny,2,6\n")
    found = read_series(long)
    assert found.names == ["x", "y"] and [v.tolist() for v in found.values] == [[10, 20, 30], [5, 6]]
    np.savez(tmp_path / "s.npz", values=np.array([[1.0, 2, 3], [4, 5, np.nan]]))
    assert [v.tolist() for v in read_series(tmp_path / "s.npz").values] == [[1, 2, 3], [4, 5]]
    uschange = read_series("Uschange")
    assert uschange.names == ["Consumption", "Income", "Production", "Savings", "Unemployment"]
    assert all(len(v) == 187 for v in uschange.values)


@pytest.mark.parametrize(("content", "name", "message"), [
    ("t,v\n1,3\n2,abc\n", "bad.csv", r"Invalid value 'abc' in .*bad\.csv, line 3, column `v`: expected a number"),
    ("t,v\n1,3\n2,\n3,4\n", "gap.csv", r"expected a value at every step, found a missing value at step 1"),
    ("id,time,value\na,1,1\na,2,2\na,4,3\n", "long.csv", r"Missing timestamps in series `a` .*expected evenly spaced "
                                                         r"times \(every 1\), found a gap of 2 after time 2"),
    ("id,time,value\na,1,1\na,,2\n", "empty.csv", r"Missing timestamp in .*line 3"),
    ("id,time,value\na,1,1\na,1,2\n", "twice.csv", r"expected each time once, found 1 repeated"),
    ("t,v\n", "short.csv", r"expected a header and at least one row of values, found 1 lines"),
])
def test_malformed_series_are_one_line_errors(tmp_path, content, name, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message):
        read_series(tmp_path / name)


def test_too_few_points_and_unknown_names_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match=r"Series `Passengers` of .* has 144 points: expected at least 154 for a "
                                        r"look-back of 130, a horizon of 12, 0 validation and 12 test steps"):
        load_data("forecast:Airline?lookback=130&horizon=12")
    with pytest.raises(DataError, match=r"Series file not found: expected a \.csv or \.npz file"):
        read_series(tmp_path / "nothing.csv")
    with pytest.raises(ConfigError, match=r"Invalid `test` 3: expected at least the horizon \(12\) steps"):
        load_data("forecast:Airline?test=3")


@pytest.fixture(scope="module")
def airline_run(tmp_path_factory):
    return striate.train(data="forecast:Airline?horizon=12", model="tcn", model_args={"channels": [16, 16, 16]},
                         epochs=30, batch_size=16, out=str(tmp_path_factory.mktemp("runs")), name="air", quiet=True)


@pytest.mark.slow
def test_a_forecasting_run_end_to_end_with_its_baselines(airline_run, tmp_path):
    results = airline_run.results
    assert results["task"] == "forecast" and results["test_examples"] == 1
    assert set(results["test_baselines"]) == {"naive", "seasonal naive", "exponential smoothing"}
    assert results["test_mase"] < results["test_baselines"]["naive"]["mase"]  # better than repeating the last value
    assert 0 <= results["test_coverage"] <= 1
    again = striate.load(airline_run.path).evaluate()
    assert again["mase"] == pytest.approx(results["test_mase"], rel=1e-5)
    runner = CliRunner()
    done = runner.invoke(app, ["forecast", str(airline_run.path), "Airline", "--horizon", "6", "--out",
                               str(tmp_path / "f.csv"), "--engine", "torch"])
    assert done.exit_code == 0, done.output
    with open(tmp_path / "f.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == [1, 2, 3, 4, 5, 6]
    assert all(float(r["q0.1"]) <= float(r["q0.5"]) == float(r["forecast"]) <= float(r["q0.9"]) for r in rows)
    assert (tmp_path / "f.png").stat().st_size > 5000
    run = striate.load(airline_run.path)
    series = read_series("Airline").values[0]
    direct = run.predict_proba(torch.tensor(series[-run.input_shape[-1]:], dtype=torch.float32)[None, None])
    assert float(rows[0]["q0.5"]) == pytest.approx(float(direct[0, 1]), rel=1e-5)
    backtest = runner.invoke(app, ["forecast", str(airline_run.path), "Airline", "--backtest", "--out",
                                   str(tmp_path / "b.csv"), "--engine", "torch"])
    with open(tmp_path / "b.csv", newline="") as handle:
        held = list(csv.DictReader(handle))
    assert backtest.exit_code == 0 and [float(r["truth"]) for r in held] == series[-12:].tolist()
    mae = np.mean([abs(float(r["forecast"]) - float(r["truth"])) for r in held])
    assert mae == pytest.approx(results["test_mae"], rel=1e-4)  # the backtest is the run's own test window
    longer = runner.invoke(app, ["forecast", str(airline_run.path), "Airline", "--horizon", "13"])
    assert longer.exit_code == 2 and "this run forecasts 1 to 12 steps ahead" in longer.output
    wrong = runner.invoke(app, ["train", "--data", "forecast:Airline", "--model", "fcn", "--epochs", "1", "--out",
                                str(tmp_path)])
    assert wrong.exit_code == 2 and "it needs a model taking instance_norm" in wrong.output


@pytest.mark.slow
def test_related_series_train_one_global_model(tmp_path):
    splits = load_data("forecast:Uschange?horizon=4&season=4")
    series = {s for s, _ in splits.train.meta["windows"]}
    assert series == {0, 1, 2, 3, 4} and len(splits.test) == 5
    run = striate.train(data="forecast:Uschange?horizon=4&season=4", model="tcn", model_args={"channels": [8, 8]},
                        epochs=2, batch_size=32, out=str(tmp_path), quiet=True)
    assert run.results["test_examples"] == 5 and np.isfinite(run.results["test_mase"])
