"""Survival: the Cox loss against lifelines, statsmodels and a float64 loop, the concordance index and Kaplan-Meier
against lifelines, the seeded activity-stream generator, a short training, the file reader and its one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from striate.data.survival import BETA, TRAITS, activity_streams, check_targets
from striate.errors import ConfigError, DataError
from striate.tasks import task_from_description
from striate.tasks.survival import Survival, concordance_index, cox_loss, kaplan_meier
from tasks.test_tasks import run_batches

lifelines = pytest.importorskip("lifelines")


def tied_cohort(n: int = 120, seed: int = 0):
    """Whole-number times 1..12 (many ties, events tied with censorings too) and rounded risks (tied scores)."""
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 13, n).astype(np.float64)
    event = (rng.random(n) < 0.6).astype(np.float64)
    risk = np.round(rng.standard_normal(n), 1)
    return time, event, risk


def slow_cox(eta, time, event) -> float:
    """-1/D sum over events i of (eta_i - log sum_{j: t_j >= t_i} exp(eta_j)), one pair at a time."""
    total, events = 0.0, 0
    for i in range(len(time)):
        if event[i]:
            denominator = sum(math.exp(eta[j]) for j in range(len(time)) if time[j] >= time[i])
            total += eta[i] - math.log(denominator)
            events += 1
    return -total / events


def as_tensors(*arrays):
    return (torch.tensor(a, dtype=torch.float64) for a in arrays)


# --- the loss ------------------------------------------------------------------------------------------------------

def test_cox_loss_matches_a_float64_loop_with_breslow_ties_in_any_row_order():
    time, event, eta = tied_cohort()
    expected = slow_cox(eta.tolist(), time.tolist(), event.tolist())
    assert float(cox_loss(*as_tensors(eta, time, event))) == pytest.approx(expected, rel=1e-12)
    order = np.random.default_rng(1).permutation(len(time))
    assert float(cox_loss(*as_tensors(eta[order], time[order], event[order]))) == pytest.approx(expected, rel=1e-12)
    assert float(cox_loss(*as_tensors(eta + 3.0, time, event))) == pytest.approx(expected, rel=1e-12)  # shift-free


def test_cox_loss_times_the_events_is_lifelines_partial_likelihood_at_its_fit():
    """Without tied times Breslow and Efron (lifelines' only tie method) coincide: lifelines' own fit, its
    coefficients and its partial log-likelihood, are the numbers."""
    import pandas as pd

    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 2))
    time = rng.exponential(np.exp(-(x @ [0.8, -0.4])))
    event = (rng.random(300) < 0.7).astype(np.float64)
    fitted = lifelines.CoxPHFitter().fit(pd.DataFrame(x, columns=["a", "b"]).assign(T=time, E=event), "T", "E")
    eta = x @ fitted.params_.to_numpy()
    loss = float(cox_loss(*as_tensors(eta, time, event)))
    assert -loss * event.sum() == pytest.approx(fitted.log_likelihood_, rel=1e-9)


def test_cox_loss_with_ties_is_breslows_not_efrons():
    hazard_regression = pytest.importorskip("statsmodels.duration.hazard_regression")
    time, event, _ = tied_cohort(200, seed=3)
    x = np.random.default_rng(3).standard_normal((200, 2))
    beta = np.array([0.3, -0.5])
    loss = float(cox_loss(*as_tensors(x @ beta, time, event)))
    breslow = hazard_regression.PHReg(time, x, status=event, ties="breslow").loglike(beta)
    efron = hazard_regression.PHReg(time, x, status=event, ties="efron").loglike(beta)
    assert -loss * event.sum() == pytest.approx(breslow, rel=1e-12)
    assert abs(-loss * event.sum() - efron) > 1.0  # the two methods part on this many ties


def test_cox_loss_gradcheck_and_no_event():
    time, event, eta = tied_cohort(30, seed=4)
    eta = torch.tensor(eta, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda e: cox_loss(e, *as_tensors(time, event)), (eta,))
    censored = cox_loss(eta, torch.tensor(time), torch.zeros(30, dtype=torch.float64))
    censored.backward()
    assert float(censored.detach()) == 0.0 and torch.equal(eta.grad, torch.zeros(30, dtype=torch.float64))


# --- concordance and Kaplan-Meier ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n, seed", [(9, 5), (120, 6), (3000, 7)])  # 3,000 rows take the chunked path
def test_concordance_index_matches_lifelines_with_tied_times_and_scores(n, seed):
    time, event, risk = tied_cohort(n, seed)
    expected = lifelines.utils.concordance_index(time, -risk, event)
    assert concordance_index(*as_tensors(time, risk, event)) == pytest.approx(expected, abs=1e-12)


def test_concordance_index_extremes():
    time, event = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 1.0, 1.0, 0.0])
    assert concordance_index(time, -time, event) == 1.0
    assert concordance_index(time, time, event) == 0.0
    assert concordance_index(time, torch.zeros(4), event) == 0.5
    assert math.isnan(concordance_index(time, time, torch.zeros(4)))


def test_kaplan_meier_matches_lifelines():
    time, event, _ = tied_cohort(150, seed=8)
    times, survival = kaplan_meier(time, event)
    fitted = lifelines.KaplanMeierFitter().fit(time, event)
    np.testing.assert_allclose(survival, fitted.survival_function_at_times(times).to_numpy(), rtol=1e-12)


# --- the task ------------------------------------------------------------------------------------------------------

def test_task_metrics_cover_the_whole_split_whatever_the_batches(tmp_path):
    time, event, _ = tied_cohort(100, seed=9)
    risk = np.random.default_rng(9).standard_normal(100)  # untied scores: thirds of 33 or 34
    outputs = torch.tensor(risk, dtype=torch.float32)[:, None]
    targets = torch.tensor(np.stack([time, event], 1), dtype=torch.float32)
    task = Survival(["time", "event"])
    metrics, state = run_batches(task, outputs, targets)
    assert metrics == run_batches(task, outputs, targets, batch=37)[0]
    assert metrics["c_index"] == pytest.approx(lifelines.utils.concordance_index(time, -risk, event), abs=1e-7)
    assert metrics["loss"] == pytest.approx(slow_cox(outputs[:, 0].double().tolist(), time, event), rel=1e-9)
    details = task.details(state)
    sizes = [row["examples"] for row in details["groups"].values()]
    assert sum(sizes) == 100 and set(sizes) <= {33, 34}
    assert sum(row["events"] for row in details["groups"].values()) == details["events"] == int(event.sum())
    low, high = details["groups"]["low"], details["groups"]["high"]
    assert low["mean_risk"] < high["mean_risk"]
    assert [path.name for path in task.plots(state, tmp_path, "test")] == ["survival.png"]
    assert (tmp_path / "survival.png").stat().st_size > 10_000


def test_prediction_is_the_score_and_the_hazard_ratio_against_the_training_mean():
    task = Survival(["time", "event"])
    assert task.num_outputs == 1 and task.monitor == "c_index" and task.mode("val_c_index") == "max"
    assert task.format_prediction(torch.tensor([0.5]))["hazard_ratio"] is None
    state = task.new_state(torch.device("cpu"))
    task.update(state, torch.tensor([[0.2], [0.6], [1.0]]), torch.tensor([[1.0, 1.0]] * 3), torch.tensor(0.0))
    task.fit_outputs(state)
    rebuilt = task_from_description(json.loads(json.dumps(task.describe())))
    prediction = rebuilt.format_prediction(rebuilt.predict(torch.tensor([[1.3]]))[0])
    assert prediction["risk_score"] == pytest.approx(1.3)
    assert prediction["hazard_ratio"] == pytest.approx(math.exp(1.3 - 0.6), rel=1e-6)
    assert rebuilt.describe_prediction(prediction) == "risk score 1.3, hazard ratio 2.01 against the training mean"


# --- the generator -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cohort():
    return activity_streams(2000, seed=0)


def test_generator_is_seeded_and_shaped(cohort):
    again, other = activity_streams(2000, seed=0), activity_streams(50, seed=1)
    assert np.array_equal(cohort.x, again.x) and np.array_equal(cohort.time, again.time)
    assert not np.array_equal(cohort.x[:50], other.x)
    assert cohort.x.shape == (2000, 1, 7 * 96) and activity_streams(3, resolution=5).x.shape == (3, 1, 7 * 288)
    assert 1 - cohort.event.mean() == pytest.approx(0.3, abs=0.01)
    days = cohort.time * 365.25
    assert days.min() >= 1 and np.allclose(days, np.round(days))
    assert len(np.unique(cohort.time)) < 2000  # whole days give tied times


def test_generator_hazard_follows_its_traits_and_the_streams_show_them(cohort):
    import pandas as pd

    frame = pd.DataFrame(cohort.traits, columns=list(TRAITS)).assign(T=cohort.time, E=cohort.event)
    fitted = lifelines.CoxPHFitter().fit(frame, "T", "E")
    for name in TRAITS:
        assert np.sign(fitted.params_[name]) == np.sign(BETA[name])
        assert fitted.params_[name] == pytest.approx(BETA[name], abs=0.15)
    truth = lifelines.utils.concordance_index(cohort.time, -cohort.log_hazard, cohort.event)
    assert 0.68 < truth < 0.78
    x = cohort.x[:, 0].astype(np.float64)
    centred = x - x.mean(1, keepdims=True)
    autocorrelation = (centred[:, 1:] * centred[:, :-1]).sum(1) / (centred ** 2).sum(1)
    assert np.corrcoef(x.mean(1), cohort.traits[:, 0])[0, 1] > 0.7  # activity level
    assert np.corrcoef(autocorrelation, cohort.traits[:, 2])[0, 1] < -0.4  # fragmentation: shorter bouts


def test_short_training_ranks_the_test_people_well_above_chance():
    from striate.data import BatchLoader, Preprocess, load_data
    from striate.models.resolve import model_for_data
    from striate.train.trainer import Trainer

    torch.manual_seed(0)
    splits = load_data("activity-survival?size=800&seed=3", seed=0)
    task = Survival(splits.train.classes).fit(splits.train)
    description = splits.train.describe()
    model, _ = model_for_data("fcn", description, task.num_outputs, {"channels": [16, 32, 16]})
    preprocess = Preprocess.from_description(description)
    trainer = Trainer(model, task, torch.optim.AdamW(model.parameters(), lr=3e-3), epochs=2,
                      generator=torch.Generator().manual_seed(0))
    trainer.fit(BatchLoader(splits.train, 64, shuffle=True, preprocess=preprocess))
    metrics = trainer.evaluate(BatchLoader(splits.test, 256, preprocess=preprocess))
    assert metrics["c_index"] > 0.6  # chance is 0.5; the true hazard reaches about 0.72


def _run_folders_size_outputs_by_task() -> bool:
    """Whether a run folder's model is checked against its task's output count (one risk score), not the data's
    two target columns; without that `Run` refuses a survival run folder."""
    from striate.runs import _expected_outputs

    return _expected_outputs({"classes": ["time", "event"], "task": Survival().describe()}) == 1


@pytest.mark.slow
@pytest.mark.skipif(not _run_folders_size_outputs_by_task(), reason="run folders size outputs by the data's classes")
def test_command_line_train_evaluate_predict(tmp_path):
    from typer.testing import CliRunner

    from striate.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["train", "--data", "activity-survival?size=300", "--task", "survival", "--model",
                                 "fcn", "--model-args", "channels=[8,16,8]", "--epochs", "1", "--out", str(tmp_path),
                                 "--name", "run"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    results = json.loads((run / "results.json").read_text())
    assert {"test_c_index", "test_loss"} <= set(results) and (run / "survival.png").is_file()
    evaluated = runner.invoke(app, ["evaluate", str(run), "--json", "--engine", "torch"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["c_index"] == pytest.approx(results["test_c_index"], abs=1e-9)
    np.save(tmp_path / "week.npy", activity_streams(1, seed=9).x[0])
    predicted = runner.invoke(app, ["predict", str(run), str(tmp_path / "week.npy"), "--json"])
    assert predicted.exit_code == 0, predicted.output
    assert set(json.loads(predicted.stdout)[0]) >= {"risk_score", "hazard_ratio"}


# --- reading files and their errors --------------------------------------------------------------------------------

def load(path: Path):
    from striate.data._registry import load_source

    return load_source(f"survival:{path}")


def test_reader_takes_npz_and_csv(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.savez(tmp_path / "a.npz", x=x, time=[1.5, 2.0, 3.0], event=[1, 0, 1])
    lines = ["event,time,s0,s1,s2,s3", *(f"{e},{t},{','.join(map(str, row))}" for e, t, row in
                                         zip([1, 0, 1], [1.5, 2.0, 3.0], x.tolist(), strict=True))]
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    for name in ("a.npz", "a.csv"):
        data = load(tmp_path / name)
        assert data.input_kind == "signal" and data.target_kind == "real" and data.classes == ["time", "event"]
        assert torch.equal(data.x, torch.tensor(x, dtype=torch.float32)[:, None])
        assert torch.equal(data.y, torch.tensor([[1.5, 1.0], [2.0, 0.0], [3.0, 1.0]]))


@pytest.mark.parametrize("arrays, message", [
    ({"time": [1.0, 2.0], "event": [1, 2]}, r"^Invalid event label 2 in row 2 of a\.npz: expected 0 \(censored\) or 1"),
    ({"time": [1.0, -2.0], "event": [1, 0]}, r"^Invalid follow-up time -2 in row 2 of a\.npz: expected a finite time"),
    ({"time": [1.0, np.nan], "event": [1, 0]}, r"^Invalid follow-up time nan in row 2 of a\.npz"),
    ({"time": np.array(["1", "2"]), "event": [1, 0]}, r"^Invalid array `time` in a\.npz: expected numbers, found"),
    ({"time": [1.0, 2.0]}, r"^Invalid survival file a\.npz: expected arrays x, time and event, found x, time\.$"),
    ({"time": [1.0], "event": [1]}, r"^Invalid survival file a\.npz: expected x \(N, L\) or \(N, C, L\) with time"),
])
def test_npz_errors_are_one_line(tmp_path, arrays, message):
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 5)), **arrays)
    with pytest.raises(DataError, match=message) as error:
        load(tmp_path / "a.npz")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("text, message", [
    ("time,event,s0\n1.5,1,0.2\n2,abc,0.1\n", r"^Invalid value 'abc' in line 3, column `event` of a\.csv: expected a "
                                              r"number\.$"),
    ("time,event,s0\n1.5,1,0.2\n2,1\n", r"^Invalid line 3 of a\.csv: expected 3 values like the header, found 2\.$"),
    ("t,event,s0\n1.5,1,0.2\n", r"^Invalid survival file a\.csv: expected columns `time` and `event` in the header"),
    ("time,event,s0\n1.5,0.5,0.2\n", r"^Invalid event label 0\.5 in row 1 of a\.csv"),
    ("time,event,s0\n1.5,1,inf\n", r"^Invalid streams in a\.csv: expected finite values"),
])
def test_csv_errors_are_one_line(tmp_path, text, message):
    (tmp_path / "a.csv").write_text(text)
    with pytest.raises(DataError, match=message) as error:
        load(tmp_path / "a.csv")
    assert "\n" not in str(error.value)


def test_task_refuses_training_targets_it_cannot_use():
    from striate.data import Dataset

    def data(y):
        return Dataset(torch.zeros(len(y), 1, 4), torch.tensor(y), name="d", input_kind="signal", target_kind="real")

    with pytest.raises(DataError, match=r"^Invalid targets of `d` for the survival task: expected \(N, 2\) columns"):
        Survival().fit(data([1.0, 2.0]))
    with pytest.raises(DataError, match=r"^The training part of `d` holds no event: expected at least one row"):
        Survival().fit(data([[1.0, 0.0], [2.0, 0.0]]))
    with pytest.raises(DataError, match=r"^Invalid event label 3 in row 2 of `d`"):
        Survival().fit(data([[1.0, 1.0], [2.0, 3.0]]))
    check_targets([0.0, 1.0], [0, 1], "ok")  # a time of 0 is allowed


def test_generator_options_are_checked():
    from striate.data._registry import load_source

    with pytest.raises(ConfigError, match=r"^Invalid activity-survival option `size`: expected an integer, received "
                                          r"'many'\.$"):
        load_source("activity-survival?size=many")
    with pytest.raises(ConfigError, match=r"^Invalid activity-survival options .*resolution=7"):
        activity_streams(10, resolution=7)
