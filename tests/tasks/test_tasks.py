"""Tasks: metrics against scikit-learn, prediction formats, descriptions that rebuild a task, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from striate.data import Dataset
from striate.errors import ConfigError, ShapeError
from striate.tasks import Classification, MultiLabel, Regression, average_precision, create_task, task_from_description


def run_batches(task, outputs, targets, batch=7):
    """Accumulate the task's state batch by batch, as the evaluation loop does."""
    state = task.new_state(torch.device("cpu"))
    for start in range(0, len(targets), batch):
        out, tgt = outputs[start: start + batch], targets[start: start + batch]
        task.update(state, out, tgt, task.loss(out, tgt))
    return task.compute(state), state


def test_classification_accuracy_and_confusion_match_sklearn():
    generator = torch.Generator().manual_seed(0)
    logits, target = torch.randn(50, 4, generator=generator), torch.randint(0, 4, (50,), generator=generator)
    task = Classification(["a", "b", "c", "d"])
    result, state = run_batches(task, logits, target)
    predicted = logits.argmax(1).numpy()
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(target.numpy(), predicted), abs=1e-12)
    assert result["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, target)), rel=1e-6)
    details = task.details(state)
    expected = skm.confusion_matrix(target.numpy(), predicted, labels=range(4))
    np.testing.assert_array_equal(details["confusion"], expected)
    recall = skm.recall_score(target.numpy(), predicted, average=None, labels=range(4), zero_division=0)
    np.testing.assert_allclose(list(details["per_class"].values()), recall, atol=1e-12)


def test_capsule_lengths_are_reported_as_they_are_not_through_a_softmax():
    lengths = torch.tensor([[0.99] + [0.05] * 9])  # ten class capsules, one clearly present
    task = Classification(10)
    assert task.predict(lengths, "capsule_lengths")[0, 0].item() == pytest.approx(0.99)
    assert task.predict(lengths, "logits")[0, 0].item() == pytest.approx(float(lengths.softmax(1)[0, 0]))
    assert task.predict(lengths, "logits")[0, 0].item() == pytest.approx(0.23, abs=0.01)  # what a softmax made of it


def test_classification_scores_follow_the_loss():
    output = torch.tensor([[2.0, -1.0, 0.5]])
    assert torch.allclose(Classification(3, loss="sigmoid_cross_entropy").predict(output), output.sigmoid())
    assert torch.equal(Classification(3, loss="euclidean").predict(output), torch.tensor([[1.0, 0.0, 0.5]]))


def test_multilabel_metrics_match_sklearn_with_ties():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(60, 5, generator=generator).round(decimals=1)  # rounding makes tied scores
    target = (torch.rand(60, 5, generator=generator) < 0.4).float()
    target[:, 4] = 0  # a label without positives: precision/recall 0, AP undefined (left out of the mean)
    task = MultiLabel([f"l{i}" for i in range(5)], threshold=0.4)
    result, state = run_batches(task, logits, target)
    scores, truth = logits.sigmoid().numpy(), target.numpy().astype(int)
    predicted = (scores > 0.4).astype(int)
    assert result["micro_f1"] == pytest.approx(skm.f1_score(truth, predicted, average="micro"), abs=1e-12)
    assert result["macro_f1"] == pytest.approx(skm.f1_score(truth, predicted, average="macro", zero_division=0),
                                               abs=1e-12)
    assert result["subset_accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted), abs=1e-12)
    ap = [skm.average_precision_score(truth[:, k], scores[:, k]) for k in range(4)]
    assert result["mean_ap"] == pytest.approx(np.mean(ap), abs=1e-9)
    per_label = task.details(state)["per_label"]
    precision, recall, f1, support = skm.precision_recall_fscore_support(truth, predicted, zero_division=0)
    for k, name in enumerate(per_label):
        row = per_label[name]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (precision[k], recall[k], f1[k], support[k]), abs=1e-12)
    assert per_label["l4"]["average_precision"] is None
    assert result["loss"] == pytest.approx(float(torch.nn.functional.binary_cross_entropy_with_logits(logits, target)),
                                           rel=1e-6)


def test_average_precision_against_sklearn_many_random_cases():
    generator = torch.Generator().manual_seed(2)
    for _ in range(20):
        scores = torch.randint(0, 6, (30, 3), generator=generator).float()  # heavy ties
        target = (torch.rand(30, 3, generator=generator) < 0.5)
        target[0] = True
        expected = [skm.average_precision_score(target[:, k].numpy(), scores[:, k].numpy()) for k in range(3)]
        np.testing.assert_allclose(average_precision(scores, target).numpy(), expected, atol=1e-12)


def test_multilabel_prediction_format():
    task = MultiLabel(["cat", "dog", "car"], threshold=0.5)
    row = task.predict(torch.tensor([[2.0, -3.0, 0.1]]))[0]
    formatted = task.format_prediction(row)
    assert formatted["labels"] == ["cat", "car"] and formatted["scores"]["dog"] == pytest.approx(float(torch.tensor(
        -3.0).sigmoid()))
    assert task.describe_prediction(formatted).startswith("cat 88.1%")


def regression_data(n=40, targets=2, seed=3):
    generator = torch.Generator().manual_seed(seed)
    y = torch.randn(n, targets, generator=generator) * torch.tensor([3.0, 0.5]) + torch.tensor([10.0, -2.0])
    return Dataset(torch.randn(n, 1, 8, generator=generator), y, ["height", "weight"], input_kind="signal",
                   target_kind="real")


def test_regression_standardises_with_training_statistics_and_reports_in_target_units():
    train = regression_data()
    task = Regression(train.classes).fit(train)
    assert torch.allclose(task.target_mean, train.y.mean(0))
    assert torch.allclose(task.target_std, train.y.std(0, correction=0))
    scaled = (train.y - task.target_mean) / task.target_std
    assert task.loss(scaled, train.y).item() == pytest.approx(0.0, abs=1e-10)  # outputs live on the standard scale
    assert torch.allclose(task.predict(scaled), train.y, atol=1e-5)  # and predictions come back in target units
    test = regression_data(seed=4)
    output = torch.randn(40, 2, generator=torch.Generator().manual_seed(5))
    result, state = run_batches(task, output, test.y)
    predicted, truth = task.predict(output).double().numpy(), test.y.double().numpy()
    assert result["mae"] == pytest.approx(skm.mean_absolute_error(truth, predicted), rel=1e-6)
    assert result["r2"] == pytest.approx(skm.r2_score(truth, predicted), rel=1e-6)
    assert result["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(truth, predicted)), rel=1e-6)
    per = task.details(state)["per_target"]
    assert per["weight"]["r2"] == pytest.approx(skm.r2_score(truth[:, 1], predicted[:, 1]), rel=1e-6)
    assert task.format_prediction(task.predict(output)[0])["values"]["height"] == pytest.approx(float(predicted[0, 0]),
                                                                                                 rel=1e-6)


def test_caffe_euclidean_loss_is_half_the_sum_over_values_per_example():
    task = Regression(2, loss="euclidean_caffe", standardize=False)
    output, target = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [3.0, 1.0]])
    assert task.loss(output, target).item() == pytest.approx((1 + 4 + 9 + 1) / (2 * 2))
    assert Regression(2, standardize=False).loss(output, target).item() == pytest.approx((1 + 4 + 9 + 1) / 4)


@pytest.mark.parametrize("task", [Classification(["x", "y"], loss="euclidean"), MultiLabel(3, threshold=0.3),
                                  Regression(["t"], loss="absolute", target_mean=[2.0], target_std=[4.0])])
def test_a_description_rebuilds_the_same_task(task):
    rebuilt = task_from_description(task.describe())
    assert type(rebuilt) is type(task) and rebuilt.describe() == task.describe()
    output = torch.randn(6, task.num_outputs, generator=torch.Generator().manual_seed(6))
    assert torch.equal(rebuilt.predict(output), task.predict(output))


def test_task_errors_name_what_was_expected():
    with pytest.raises(ConfigError, match=r"Unknown task `clasification`.*Did you mean `classification`\?"):
        create_task("clasification", 3)
    with pytest.raises(ConfigError, match=r"Unknown argument `treshold` for the multilabel task.*`threshold`"):
        create_task("multilabel", 3, treshold=0.2)
    with pytest.raises(ConfigError, match=r"Invalid `loss` 'softmax' for the regression task: expected one of eucl"):
        Regression(1, loss="softmax")
    with pytest.raises(ShapeError, match=r"Model `m` returned shape \(2, 5\): expected \(N, 3\) for the 3 labels"):
        MultiLabel(3).check_output((2, 5), "m")
    with pytest.raises(ConfigError, match=r"Invalid multi-label `threshold`: expected a value in \(0, 1\), received 1"):
        MultiLabel(2, threshold=1.5)
    assert Classification(2).mode("val_accuracy") == "max" and Regression(1).mode("train_mae") == "min"
    with pytest.raises(ConfigError, match=r"Unknown metric `val_f1` for the classification task"):
        Classification(2).mode("val_f1")


def test_multilabel_running_metrics_skip_average_precision_but_keep_the_scores():
    task = MultiLabel(2)
    state = task.new_state(torch.device("cpu"))
    output, target = torch.tensor([[1.0, -1.0], [-2.0, 3.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    task.update(state, output, target, task.loss(output, target))
    running = task.running_metrics(state)
    assert "mean_ap" not in running and running["micro_f1"] == 1.0
    assert len(state["scores"]) == 1 and task.compute(state)["mean_ap"] == 1.0
