"""Each loss against a slow reference written with explicit loops, math.log and math.exp in float64."""

from __future__ import annotations

import math

import pytest
import torch

from striate.errors import ConfigError, ShapeError
from striate.losses import LOSSES, EuclideanLoss, SigmoidCrossEntropyLoss, SoftmaxLoss, get_loss

TOL = dict(rtol=1e-12, atol=1e-12)


def _log_softmax_row(row: list[float]) -> list[float]:
    top = max(row)
    log_total = top + math.log(sum(math.exp(v - top) for v in row))
    return [v - log_total for v in row]


def reference_softmax(logits, target, weights=None, eps=0.0, reduction="mean"):
    """Smoothed, weighted cross-entropy; 'mean' divides by the hard-target weights, as torch does."""
    n, k = logits.shape
    weights = [1.0] * k if weights is None else [float(w) for w in weights]
    losses, denominator = [], 0.0
    for i in range(n):
        log_p = _log_softmax_row([float(v) for v in logits[i]])
        y = int(target[i])
        loss = 0.0
        for c in range(k):
            q = (1.0 - eps) * (c == y) + eps / k
            loss -= weights[c] * q * log_p[c]
        losses.append(loss)
        denominator += weights[y]
    if reduction == "none":
        return torch.tensor(losses, dtype=torch.float64)
    total = sum(losses)
    return torch.tensor(total / denominator if reduction == "mean" else total, dtype=torch.float64)


def reference_sigmoid_ce(logits, target, pos_weight=None):
    n, k = logits.shape
    pos_weight = [1.0] * k if pos_weight is None else [float(p) for p in pos_weight]
    total = 0.0
    for i in range(n):
        for c in range(k):
            x, t = float(logits[i, c]), float(target[i, c])
            sigmoid = 1.0 / (1.0 + math.exp(-x))
            total -= pos_weight[c] * t * math.log(sigmoid) + (1.0 - t) * math.log(1.0 - sigmoid)
    return torch.tensor(total / (n * k), dtype=torch.float64)


def reference_euclidean(pred, target):
    n, d = pred.shape
    total = sum((float(pred[i, j]) - float(target[i, j])) ** 2 for i in range(n) for j in range(d))
    return torch.tensor(total / (n * d), dtype=torch.float64)


@pytest.fixture
def logits():
    return torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3


TARGET = torch.tensor([0, 4, 2, 2, 1, 3])
WEIGHTS = [1.0, 2.0, 0.5, 3.0, 0.25]


@pytest.mark.parametrize(
    ("weights", "eps"), [(None, 0.0), (None, 0.1), (WEIGHTS, 0.0), (WEIGHTS, 0.2), (WEIGHTS, 1.0)]
)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_softmax_loss_matches_reference(logits, weights, eps, reduction):
    loss = SoftmaxLoss(class_weights=weights, label_smoothing=eps, reduction=reduction)
    expected = reference_softmax(logits, TARGET, weights, eps, reduction)
    torch.testing.assert_close(loss(logits, TARGET), expected, **TOL)


def test_softmax_mean_with_smoothing_and_weights_divides_by_hard_target_weights(logits):
    # The subtle normalisation: torch divides by sum_i w[y_i], not by the smoothed weights sum_i sum_k w_k q_ik.
    eps = 0.3
    per_sample = SoftmaxLoss(WEIGHTS, eps, reduction="none")(logits, TARGET)
    hard_weights = torch.tensor(WEIGHTS, dtype=torch.float64)[TARGET]
    mean = SoftmaxLoss(WEIGHTS, eps)(logits, TARGET)
    torch.testing.assert_close(mean, per_sample.sum() / hard_weights.sum(), **TOL)
    q = torch.full((6, 5), eps / 5, dtype=torch.float64)
    q[torch.arange(6), TARGET] += 1 - eps
    smoothed_weights = (q * torch.tensor(WEIGHTS, dtype=torch.float64)).sum()
    assert not torch.isclose(mean, per_sample.sum() / smoothed_weights)


def test_softmax_ignore_index_drops_samples(logits):
    target = TARGET.clone()
    target[1] = -100
    keep = target != -100
    expected = reference_softmax(logits[keep], target[keep], WEIGHTS, 0.1)
    torch.testing.assert_close(SoftmaxLoss(WEIGHTS, 0.1)(logits, target), expected, **TOL)


def test_softmax_dense_prediction_shapes():
    loss = SoftmaxLoss(reduction="none")
    out = loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    assert out.shape == (2, 4, 4)
    torch.testing.assert_close(out, torch.full((2, 4, 4), math.log(3.0)))


@pytest.mark.parametrize("pos_weight", [None, [1.0, 3.0, 0.5, 2.0]])
def test_sigmoid_cross_entropy_matches_reference(pos_weight):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 4, generator=g, dtype=torch.float64) * 2
    target = (torch.rand(5, 4, generator=g) > 0.5).to(torch.float64)
    loss = SigmoidCrossEntropyLoss(pos_weight=pos_weight)
    torch.testing.assert_close(loss(logits, target), reference_sigmoid_ce(logits, target, pos_weight), **TOL)


def test_euclidean_is_mean_squared_error_without_half():
    g = torch.Generator().manual_seed(2)
    pred = torch.randn(4, 3, generator=g, dtype=torch.float64)
    target = torch.randn(4, 3, generator=g, dtype=torch.float64)
    value = EuclideanLoss()(pred, target)
    torch.testing.assert_close(value, reference_euclidean(pred, target), **TOL)
    caffe = sum(((pred[i] - target[i]) ** 2).sum() for i in range(4)) / (2 * 4)
    torch.testing.assert_close(value * 3 / 2, caffe, **TOL)  # Caffe's value = ours * D/2


def test_euclidean_gradient_is_two_residual_over_count():
    pred = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64, requires_grad=True)
    target = torch.zeros(2, 2, dtype=torch.float64)
    EuclideanLoss()(pred, target).backward()
    torch.testing.assert_close(pred.grad, 2 * pred.detach() / 4, **TOL)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("softmax", SoftmaxLoss), ("cross_entropy", SoftmaxLoss), ("Cross-Entropy", SoftmaxLoss),
        ("sigmoid", SigmoidCrossEntropyLoss), ("bce", SigmoidCrossEntropyLoss),
        ("sigmoid_cross_entropy", SigmoidCrossEntropyLoss), ("euclidean", EuclideanLoss), ("mse", EuclideanLoss),
    ],
)
def test_get_loss_names_and_aliases(name, cls):
    assert type(get_loss(name)) is cls


def test_get_loss_passes_kwargs():
    loss = get_loss("softmax", label_smoothing=0.1, class_weights=[1.0, 2.0])
    assert loss.label_smoothing == 0.1
    assert loss.class_weights.tolist() == [1.0, 2.0]
    assert set(LOSSES) >= {"softmax", "cross_entropy", "sigmoid", "bce", "euclidean", "mse"}


def test_get_loss_unknown_name_suggests():
    pattern = r"Invalid loss `name`: expected one of .*received 'softmx'\. Did you mean `softmax`\?"
    with pytest.raises(ConfigError, match=pattern):
        get_loss("softmx")


def test_get_loss_invalid_kwarg_lists_valid_ones():
    pattern = r"Invalid argument `label_smothing` for loss 'softmax' \(SoftmaxLoss\): expected one of class_weights, "
    pattern += r"label_smoothing, ignore_index, reduction, check_targets, received 'label_smothing'\. "
    pattern += r"Did you mean `label_smoothing`\?"
    with pytest.raises(ConfigError, match=pattern):
        get_loss("softmax", label_smothing=0.1)
    with pytest.raises(ConfigError, match=r"for loss 'mse' \(EuclideanLoss\): expected one of reduction"):
        get_loss("mse", pos_weight=[1.0])


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: SoftmaxLoss(label_smoothing=1.5), r"`label_smoothing`: expected a value in \[0, 1\], received 1.5"),
        (lambda: SoftmaxLoss(class_weights=[1.0, -1.0]), r"Invalid `class_weights`: expected finite non-negative"),
        (lambda: SoftmaxLoss(class_weights=[[1.0]]), r"Invalid `class_weights`: expected a non-empty 1-D sequence"),
        (lambda: EuclideanLoss(reduction="avg"), r"`reduction`: expected one of mean, sum, none, received 'avg'"),
    ],
)
def test_invalid_construction_raises_config_error(build, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build()


def test_shape_errors_name_the_argument():
    with pytest.raises(ShapeError, match=r"`target` for SoftmaxLoss: expected integer class indices of shape \(2,\)"):
        SoftmaxLoss()(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ShapeError, match=r"expected class indices in \[0, 3\), received values in \[0, 3\]"):
        SoftmaxLoss()(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ShapeError, match=r"Invalid `class_weights`: expected one value per class \(3\), received 2"):
        SoftmaxLoss(class_weights=[1.0, 2.0])(torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ShapeError, match=r"SigmoidCrossEntropyLoss: expected floats of the input's shape \(2, 3\)"):
        SigmoidCrossEntropyLoss()(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match=r"EuclideanLoss: expected the input's shape \(2, 3\), received \(2,\)"):
        EuclideanLoss()(torch.zeros(2, 3), torch.zeros(2))


def test_weights_move_with_the_module():
    loss = SoftmaxLoss(class_weights=[1.0, 2.0]).to(torch.float64)
    assert "class_weights" in dict(loss.named_buffers())
    assert loss.class_weights.dtype == torch.float64


def test_caffe_euclidean_and_absolute_losses_by_name():
    output = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([[0.0, 0.0, 0.5], [1.0, 1.0, 1.0]], dtype=torch.float64)
    pairs = [(o, t) for n in range(2) for o, t in zip(output[n].tolist(), target[n].tolist(), strict=True)]
    squares = sum((o - t) ** 2 for o, t in pairs)
    assert get_loss("euclidean_caffe")(output, target).item() == pytest.approx(squares / (2 * 2))  # 1/(2N) sum ||.||^2
    assert get_loss("euclidean")(output, target).item() == pytest.approx(squares / 6)  # mean over all 6 values
    absolute = sum(abs(o - t) for o, t in pairs)
    assert get_loss("absolute")(output, target).item() == pytest.approx(absolute / 6)
    with pytest.raises(ShapeError, match=r"Invalid `target` for CaffeEuclideanLoss: expected the input's shape \(2, 3"):
        get_loss("euclidean_caffe")(output, target[:, :2])
