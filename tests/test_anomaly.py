"""Anomaly detection: the spectral residual against a slow loop over the paper's formulas, the metrics against hand
counts, detection on synthetic series, the bundled KDD-TSAD_135 series, and every user-facing error's wording."""

from __future__ import annotations

import cmath
import csv
import doctest
import json
import math

import numpy as np
import pytest

from striate import anomaly as A
from striate.data.series import aeon_data_dir
from striate.errors import ConfigError, DataError

# --- The spectral residual against the paper's formulas, written as plain loops in float64 --------------------------


def reference_saliency(x: list[float], q: int, kappa: int, m: int, drop_mean: bool = False) -> list[float]:
    """Ren et al. 2019, eq. 1-7: extend by kappa estimated points, then S = |IDFT(exp(R + iP))|, with DFTs as sums and
    h_q a circular average over the q frequencies centred on f (one more below for an even q). `drop_mean`: the
    zero-frequency term is left out of the IDFT, and its log amplitude counts as the first frequency's in the
    average."""
    n = len(x) - 1
    g = sum((x[n] - x[n - i]) / i for i in range(1, m + 1)) / m
    ext = list(x) + [x[n - m + 1] + g * m] * kappa
    size = len(ext)
    spectrum = [sum(ext[t] * cmath.exp(-2j * math.pi * f * t / size) for t in range(size)) for f in range(size)]
    log_amp = [math.log(abs(c)) for c in spectrum]
    phase = [cmath.phase(c) for c in spectrum]
    neighbours = [log_amp[1], *log_amp[1:]] if drop_mean else log_amp
    offsets = range(-(q // 2), q - q // 2)
    avg = [sum(neighbours[(f + o) % size] for o in offsets) / q for f in range(size)]
    residual = [cmath.exp(log_amp[f] - avg[f] + 1j * phase[f]) for f in range(size)]
    first = 1 if drop_mean else 0
    return [abs(sum(residual[f] * cmath.exp(2j * math.pi * f * t / size) for f in range(first, size)) / size)
            for t in range(len(x))]


def reference_scores(saliency: list[float], z: int) -> list[float]:
    scores = []
    for i, value in enumerate(saliency):
        before = saliency[max(0, i - z):i]
        mean = sum(before) / len(before) if before else value
        scores.append((value - mean) / mean)
    return scores


@pytest.mark.parametrize(("q", "z", "kappa", "m", "drop_mean"),
                         [(3, 21, 5, 5, False), (4, 5, 0, 1, False), (1, 3, 2, 3, True), (7, 40, 5, 2, True)])
def test_spectral_residual_matches_the_papers_formulas(q, z, kappa, m, drop_mean):
    rng = np.random.default_rng(q * 100 + z)
    x = np.sin(np.arange(70) / 3.0) * 2 + rng.standard_normal(70) * 0.3 + 5.0
    x[40] += 4.0
    config = A.DetectConfig(mag_window=q, score_window=z, extend=kappa, look_back=m, drop_mean=drop_mean)
    saliency, scores = A.sr_transform(x, config)
    expected = reference_saliency(x.tolist(), q, kappa, m, drop_mean)
    np.testing.assert_allclose(saliency, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(scores, reference_scores(expected, z), rtol=1e-8, atol=1e-10)
    assert np.argmax(scores) == 40


def test_streaming_mode_scores_each_point_from_the_window_ending_at_it():
    x = np.cos(np.arange(60) / 2.0) + np.random.default_rng(1).standard_normal(60) * 0.2
    omega, z = 32, 6
    _, scores = A.sr_transform(x, A.DetectConfig(window=omega, score_window=z))
    for t in range(omega - 1, len(x)):
        window = reference_saliency(x[t - omega + 1:t + 1].tolist(), 3, 5, 5)
        assert scores[t] == pytest.approx(reference_scores(window, z)[-1], rel=1e-8, abs=1e-10)
    head = reference_scores(reference_saliency(x[:omega].tolist(), 3, 5, 5), z)
    np.testing.assert_allclose(scores[:omega - 1], head[:omega - 1], rtol=1e-8, atol=1e-10)


def test_extension_and_local_score_by_hand():
    # m = 2: g = ((9 - 4) / 1 + (9 - 1) / 2) / 2 = 4.5, x_{n+1} = x_{n-1} + 2 * 4.5 = 4 + 9 = 13
    assert A.extend_series(np.array([0.0, 1.0, 4.0, 9.0]), extend=2, look_back=2).tolist() == [0, 1, 4, 9, 13, 13]
    # z = 2: 0; (2 - 1) / 1; (3 - 1.5) / 1.5; (4 - 2.5) / 2.5
    np.testing.assert_allclose(A.saliency_scores(np.array([1.0, 2.0, 3.0, 4.0]), 2), [0.0, 1.0, 1.0, 0.6])


def test_doctests_run():
    assert doctest.testmod(A, verbose=False).failed == 0


def test_constant_series_gives_finite_zero_scores():
    for drop_mean in (False, True):
        saliency, scores = A.sr_transform(np.full(40, 3.0), A.DetectConfig(drop_mean=drop_mean))
        assert not saliency.any() and not scores.any()


def test_drop_mean_finds_downward_spikes_and_ignores_the_offset():
    x = seasonal(300, 3)
    x[250] -= 3.0
    paper = A.sr_transform(x)[1]
    # as the paper writes it, the series' mean of 10 turns the dip into a dip of the saliency: a low score
    assert paper[250] < 1.0 and np.argmax(paper) != 250
    free = A.sr_transform(x, A.DetectConfig(drop_mean=True))[1]
    assert np.argmax(free) == 250 and free[250] > 3.0
    np.testing.assert_allclose(A.sr_transform(x - 10.0, A.DetectConfig(drop_mean=True))[1], free, atol=1e-9)


# --- Metrics, thresholds and regions by hand --------------------------------------------------------------------------

LABELS = np.array([0, 1, 1, 1, 1, 0, 0, 1, 1, 0])
FLAGS = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 1], dtype=bool)


def test_pointwise_metrics_by_hand():
    scores = A.precision_recall_f1(FLAGS, LABELS)  # tp: index 3; fp: 0 and 9; fn: 1, 2, 4, 7, 8
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 2, 5)
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 6)
    assert scores["f1"] == pytest.approx(2 / 9)


def test_delay_adjusted_metrics_by_hand():
    # delay 2: segment 1-4 is caught at index 3 (2 steps after its start) -> all 4 points; segment 7-8 is missed
    assert A.adjust_decisions(FLAGS, LABELS, delay=2).astype(int).tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 1]
    adjusted = A.evaluate(FLAGS, LABELS, delay=2)["adjusted"]
    assert (adjusted["tp"], adjusted["fp"], adjusted["fn"]) == (4, 2, 2)
    assert adjusted["f1"] == pytest.approx(2 / 3)
    # delay 1: index 3 is 2 steps late, so segment 1-4 is missed as a whole and the flag at 3 counts for nothing
    late = A.evaluate(FLAGS, LABELS, delay=1)["adjusted"]
    assert (late["tp"], late["fp"], late["fn"], late["f1"]) == (0, 2, 6, 0.0)


def test_segments_threshold_and_top_region_by_hand():
    assert A.segments(LABELS) == [(1, 5), (7, 9)]
    assert A.segments(np.zeros(4)) == []
    # F1 is 1 when exactly the two labelled points (0.9, 0.8) are flagged: the cut is halfway to the next score, 0.7
    assert A.best_threshold(np.array([0.1, 0.9, 0.8, 0.3, 0.7]), np.array([0, 1, 1, 0, 0])) == pytest.approx(0.75)
    scores = np.array([5.0, 0, 1, 2, 3, 2, 0, 4])
    flags = scores >= 2
    assert A.top_region(scores, flags) == (0, 1)
    assert A.top_region(scores, flags, start=1) == (7, 8)
    assert A.top_region(np.array([0, 1, 3, 2, 0.0]), np.array([0, 1, 1, 1, 0], dtype=bool)) == (1, 4)


# --- Detection on synthetic series ------------------------------------------------------------------------------------

def seasonal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 10 + np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(2 * np.pi * t / 7) + 0.05 * rng.standard_normal(n)


def test_sr_finds_a_spike_in_a_seasonal_series():
    x = seasonal(600, 1)
    x[450] += 2.0
    labels = np.zeros(600, dtype=int)
    labels[450] = 1
    found = A.detect(A.AnomalySeries.from_arrays(x, labels), method="sr", train_size=150)
    assert found.top_region[0] <= 450 < found.top_region[1]
    assert found.decisions[450] and found.decisions[150:].sum() <= 3
    assert found.metrics["top_region_overlaps"] and found.metrics["adjusted"]["recall"] == 1.0


def paper_injection(x: np.ndarray, positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ren et al.'s x + (xbar + mean)(1 + var) r on the 128 points ending at t scaled to [0, 3], written apart from
    striate's so the test data does not come from the code under test."""
    x = x.copy()
    for t in positions:
        window = x[t - 127:t + 1]
        span = window.max() - window.min()
        scaled = 3 * (window - window.min()) / span
        x[t] += (scaled[-4:-1].mean() + scaled.mean()) * min(1 + scaled.var(), 10) * rng.standard_normal() * span / 3
    return x


def test_sr_cnn_beats_or_matches_sr_on_injected_anomalies():
    rng = np.random.default_rng(0)
    x = seasonal(2000, 0)
    positions = np.sort(rng.choice(np.arange(500, 2000), 20, replace=False))
    labels = np.zeros(2000, dtype=int)
    labels[positions] = 1
    series = A.AnomalySeries.from_arrays(paper_injection(x, positions, rng), labels)
    sr = A.detect(series, method="sr", train_size=500)
    cnn = A.detect(series, method="sr-cnn", train_size=500, steps=150)
    assert cnn.metrics["pointwise"]["f1"] >= sr.metrics["pointwise"]["f1"] > 0.3
    again = A.detect(series, method="sr-cnn", train_size=500, steps=150)
    np.testing.assert_array_equal(again.scores, cnn.scores)  # one seed, one result


def test_a_saved_detector_scores_another_series_without_training(tmp_path):
    rng = np.random.default_rng(3)
    x = seasonal(1200, 0)
    A.detect_command(A.AnomalySeries.from_arrays(x), out=tmp_path / "first", method="sr-cnn", train_size=400,
                     steps=60)
    first = json.loads((tmp_path / "first" / "detection.json").read_text())
    other = x + rng.normal(0, 0.05, len(x))
    other[900] += 3
    reused = A.detect(other, A.load_detector(tmp_path / "first"))
    config, threshold, model = A.load_detector(tmp_path / "first")
    assert reused.threshold == first["threshold"] == threshold and reused.config.steps == 60
    np.testing.assert_allclose(reused.scores, A.cnn_scores(model, other, config))  # the saved network, not a new one
    with pytest.raises(DataError, match=r"expected a folder written by `striate detect` \(with detection\.json\)"):
        A.load_detector(tmp_path / "nothing")
    (tmp_path / "first" / "detector.safetensors").write_bytes(b"broken")
    with pytest.raises(DataError, match=r"Cannot read the detector's weights .*detector\.safetensors"):
        A.load_detector(tmp_path / "first")


def test_injection_changes_the_chosen_points_by_the_papers_amount():
    x = seasonal(300, 2)
    changed, labels = A.inject_anomalies(x, np.random.default_rng(5))
    draws = np.random.default_rng(5)  # the same draws: 1% of 300 = 3 points, then one r ~ N(0, 1) per point
    positions = draws.choice(300, 3, replace=False)
    expected = x.copy()
    for t in positions:
        window = x[max(0, t - 127):t + 1]
        span = window.max() - window.min()
        scaled = 3 * (window - window.min()) / span
        expected[t] += (scaled[-4:-1].mean() + scaled.mean()) * min(1 + scaled.var(), 10) * draws.standard_normal() \
            * span / 3
    np.testing.assert_allclose(changed, expected, rtol=1e-12)
    steps = [np.median(np.abs(np.diff(x[max(0, t - 127):t + 1]))) for t in positions]
    assert sorted(np.flatnonzero(labels)) == sorted(t for t, step in zip(positions, steps, strict=True)
                                                    if abs(changed[t] - x[t]) > 3 * step)


# --- Reading ----------------------------------------------------------------------------------------------------------

def test_reads_csv_layouts_and_npz(tmp_path):
    (tmp_path / "a.csv").write_text("timestamp,value,label\n" + "".join(f"{i},{i * 0.5},{int(i == 7)}\n"
                                                                        for i in range(20)))
    series = A.read_series(tmp_path / "a.csv")
    assert series.values[3] == 1.5 and series.labels.tolist() == [int(i == 7) for i in range(20)]
    (tmp_path / "b.csv").write_text("".join(f"{i}\n" for i in range(20)))
    assert A.read_series(tmp_path / "b.csv").labels is None
    (tmp_path / "c.csv").write_text("".join(f"{i},{i % 2}\n" for i in range(20)))
    assert A.read_series(tmp_path / "c.csv").labels.sum() == 10
    (tmp_path / "d.csv").write_text("t,temperature,flag\n" + "".join(f"{i},{i},0\n" for i in range(20)))
    assert A.read_series(tmp_path / "d.csv", label_column="flag", value_column="temperature").values[-1] == 19
    np.savez(tmp_path / "e.npz", values=np.arange(20.0), labels=np.eye(20, dtype=int)[4])
    series = A.read_series(tmp_path / "e.npz")
    assert series.values.sum() == 190 and series.labels.argmax() == 4


@pytest.mark.skipif(aeon_data_dir() is None or not (aeon_data_dir() / "KDD-TSAD_135").is_dir(),
                    reason="aeon is not installed (pip install aeon), so its KDD-TSAD_135 files are not there")
def test_reads_kdd_tsad_135():
    folder = aeon_data_dir() / "KDD-TSAD_135"
    with open(folder / "135_UCR_Anomaly_InternalBleeding16_TEST.csv") as handle:
        rows = list(csv.DictReader(handle))
    series = A.read_series("KDD-TSAD_135")
    assert len(series.values) == len(rows) == 7501
    np.testing.assert_array_equal(series.values, [float(row["value"]) for row in rows])
    assert series.train_size == 1200  # the _TRAIN file holds the first 1,200 points
    assert A.segments(series.labels) == [(4187, 4199)]
    assert A.read_series("135_UCR_Anomaly_InternalBleeding16").values.shape == (7501,)


def test_detect_command_writes_scores_summary_and_plot(tmp_path, monkeypatch):
    x = seasonal(300, 3)
    x[250] += 3.0
    np.savez(tmp_path / "spike.npz", values=x, labels=np.eye(300, dtype=int)[250])
    lines = A.detect_command(str(tmp_path / "spike.npz"), out=tmp_path / "out", method="sr")
    assert "top-scored region 250" in lines[1] and lines[-1].startswith("wrote ")
    rows = (tmp_path / "out" / "scores.csv").read_text().splitlines()
    assert rows[0] == "index,value,score,decision,label" and len(rows) == 301 and rows[251].endswith(",1,1")
    summary = json.loads((tmp_path / "out" / "detection.json").read_text())
    assert summary["metrics"]["top_region_overlaps"] and summary["train_size"] == 75
    assert (tmp_path / "out" / "detection.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.chdir(tmp_path)
    A.detect_command(str(tmp_path / "spike.npz"), method="sr", threshold=2.5)
    A.detect_command(str(tmp_path / "spike.npz"), method="sr", threshold=2.5)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["detect-spike", "detect-spike-2"]
    assert not list(tmp_path.glob("runs/*/.incomplete")) and not list(tmp_path.glob("out/.*.tmp"))


# --- Errors -----------------------------------------------------------------------------------------------------------

def write(tmp_path, text: str, name: str = "s.csv"):
    (tmp_path / name).write_text(text)
    return tmp_path / name


def lines(values, labels=None) -> str:
    header = "value" + (",label" if labels is not None else "")
    rows = [f"{v}" + (f",{labels[i]}" if labels is not None else "") for i, v in enumerate(values)]
    return "\n".join([header, *rows]) + "\n"


@pytest.mark.parametrize(("text", "message"), [
    (lines(["1"] * 5 + ["abc"] + ["1"] * 20),
     r"s\.csv line 7, column `value`: expected a finite number, found 'abc'; fill in or correct that cell"),
    (lines(["1"] * 5 + [""] + ["1"] * 20),
     r"line 7, column `value`: expected a finite number, found an empty cell"),
    (lines(["1"] * 5 + ["nan"] + ["1"] * 20), r"line 7, column `value`: expected a finite number, found 'nan'"),
    (lines(["1"] * 10), r"expected at least 16 points, found 10; use a longer series"),
    (lines(["1"] * 20, [0] * 3 + [2] + [0] * 16),
     r"line 5, column `label`: expected 0 or 1 \(1 marks an anomalous point\), found '2'; relabel that row"),
    (lines(["1"] * 20, [0] * 3 + ["yes"] + [0] * 16), r"line 5, column `label`: expected 0 or 1 .*found 'yes'"),
    ("a,b,label\n" + "1,2,0\n" * 20, r"expected one column of values besides the label and time columns, found "
                                     r"columns a, b; name the values' column `value` or pass `value_column`"),
    ("1,2,3\n" * 20, r"expected one column of values, or two \(values, labels\), without a header, found 3 columns"),
    ("value\n" + "1\n" * 5 + "1,2\n" + "1\n" * 20, r"line 7: expected 1 cells like the first row, found 2"),
    ("", r"expected a column of values, found an empty file"),
])
def test_csv_errors_are_one_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message) as caught:
        A.read_series(write(tmp_path, text))
    assert "\n" not in str(caught.value)


def test_series_and_npz_errors(tmp_path):
    with pytest.raises(DataError, match=r"Invalid series 'KDD-TSAD_153': expected a \.csv or \.npz file or the name "
                                        r"of a labelled series aeon ships .*found nothing there"):
        A.read_series("KDD-TSAD_153")
    with pytest.raises(DataError, match=r"Invalid CSV file .*s\.csv line 1: expected a column named `lable`, found "
                                        r"columns value, label; check the column name\. Did you mean `label`\?"):
        A.read_series(write(tmp_path, lines(["1"] * 20, [0] * 20)), label_column="lable")
    np.savez(tmp_path / "x.npz", series=np.arange(20.0))
    with pytest.raises(DataError, match=r"expected an array `values` \(and optionally `labels`\), found `series`"):
        A.read_series(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", values=np.arange(20.0), labels=np.full(20, 3))
    with pytest.raises(DataError, match=r"array `labels`: expected 0 or 1 .*found 3 at index 0; relabel that point"):
        A.read_series(tmp_path / "y.npz")
    np.savez(tmp_path / "z.npz", values=np.r_[np.arange(20.0), np.inf])
    with pytest.raises(DataError, match=r"array `values`: expected finite numbers, found inf at index 20; fill in"):
        A.read_series(tmp_path / "z.npz")


def test_option_errors():
    x = seasonal(100, 0)
    with pytest.raises(ConfigError, match=r"Invalid `method`: expected one of sr, sr-cnn, received 'srcnn'\. Did you "
                                          r"mean `sr-cnn`\?"):
        A.detect(x, method="srcnn")
    with pytest.raises(ConfigError, match=r"Unknown detection option `treshold`: .*Did you mean `threshold`\?"):
        A.detect(x, treshold=3)
    with pytest.raises(ConfigError, match=r"Invalid `mag_window`: expected an integer >= 1, received 0\."):
        A.detect(x, mag_window=0)
    with pytest.raises(ConfigError, match=r"Invalid `threshold`: expected a finite number or None, received nan\."):
        A.detect(x, threshold=float("nan"))
    with pytest.raises(ConfigError, match=r"Invalid `train_size`: expected 16 to 99 points \(the rest of the series' "
                                          r"100 is evaluated\), received 100; set another `train_size`\."):
        A.detect(x, train_size=100)
    with pytest.raises(ConfigError, match=r"Invalid training part: expected at least 16 points, found 10 \(0\.1 of "
                                          r"100\); raise `train_fraction` or set `train_size`\."):
        A.detect(x, train_fraction=0.1)
