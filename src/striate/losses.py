"""The article's three loss layers by name: softmax, sigmoid cross-entropy and Euclidean.

The arithmetic is PyTorch's (`F.cross_entropy`, `F.binary_cross_entropy_with_logits`, `F.mse_loss`); what is written
here is the article's vocabulary, one factory with close-match suggestions, checks that turn shape and dtype slips into
`ShapeError`s naming the argument, and documentation of the normalisations, which differ between frameworks (Caffe's
Euclidean loss carries a 1/2 and divides by the batch only; torch's means over every element).

Example:
    >>> import torch
    >>> loss = get_loss("softmax", label_smoothing=0.1)
    >>> loss(torch.zeros(4, 10), torch.tensor([0, 1, 2, 3])).shape
    torch.Size([])
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from striate.errors import ConfigError, ShapeError, did_you_mean

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ConfigError(
            f"Invalid `reduction`: expected one of {', '.join(REDUCTIONS)}, received {reduction!r}."
            + did_you_mean(reduction, REDUCTIONS)
        )
    return reduction


def _as_weight_vector(values: Sequence[float] | Tensor | None, name: str) -> Tensor | None:
    """Return `values` as a 1-D float tensor of finite, non-negative weights, or None."""
    if values is None:
        return None
    weight = torch.as_tensor(values, dtype=torch.get_default_dtype()).detach().clone()
    if weight.ndim != 1 or weight.numel() == 0:
        raise ConfigError(f"Invalid `{name}`: expected a non-empty 1-D sequence, received shape {tuple(weight.shape)}.")
    if not bool(torch.isfinite(weight).all()) or bool((weight < 0).any()):
        raise ConfigError(f"Invalid `{name}`: expected finite non-negative values, received {weight.tolist()}.")
    return weight


def _check_class_vector(weight: Tensor | None, name: str, num_classes: int) -> None:
    if weight is not None and weight.numel() != num_classes:
        raise ShapeError(
            f"Invalid `{name}`: expected one value per class ({num_classes}), received {weight.numel()} values."
        )


def _check_same_shape(loss: nn.Module, input: Tensor, target: Tensor) -> None:
    if target.shape != input.shape:
        raise ShapeError(f"Invalid `target` for {type(loss).__name__}: expected the input's shape "
                         f"{tuple(input.shape)}, received {tuple(target.shape)}.")


class SoftmaxLoss(nn.Module):
    """Softmax loss: cross-entropy for one of K mutually exclusive classes.

    With hard targets y_i, class weights w and smoothing eps, the smoothed target is q_ik = (1 - eps) [k = y_i] + eps/K
    and the per-sample loss is l_i = -sum_k w_k q_ik log softmax(x_i)_k (w = 1 when no weights are given).

    Normalisation of `reduction="mean"` (torch's, kept for parity): sum_i l_i / sum_i w_{y_i}. Note the denominator
    holds only the weight of each sample's *hard* target, not sum_k w_k q_ik, so with both smoothing and class weights
    the "mean" is not a weighted average of the l_i (the smoothing term is divided by the same hard-target weights).
    Without class weights it is the plain mean over non-ignored samples.

    Args:
        class_weights: Optional rescaling weight per class, length K.
        label_smoothing: eps in [0, 1]; 0 gives the plain softmax loss.
        ignore_index: Target value that contributes neither loss nor weight.
        reduction: "mean", "sum" or "none".
        check_targets: check shapes and index range on every call (the range check synchronises with the device);
            the trainer turns it off because datasets validate their labels once when loaded.

    Shapes:
        input: logits (N, K) or (N, K, *) for dense prediction.
        target: int64 class indices (N,) or (N, *), each in [0, K) or equal to `ignore_index`.
        output: () or, with reduction="none", (N,) / (N, *).
    """

    def __init__(
        self,
        class_weights: Sequence[float] | Tensor | None = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        reduction: str = "mean",
        check_targets: bool = True,
    ) -> None:
        super().__init__()
        self.check_targets = check_targets
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ConfigError(f"Invalid `label_smoothing`: expected a value in [0, 1], received {label_smoothing}.")
        self.label_smoothing = float(label_smoothing)
        self.ignore_index = int(ignore_index)
        self.reduction = _check_reduction(reduction)
        self.register_buffer("class_weights", _as_weight_vector(class_weights, "class_weights"))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if self.check_targets:
            self._check(input, target)
        weight = None if self.class_weights is None else self.class_weights.to(input.dtype)
        return F.cross_entropy(
            input, target, weight=weight, ignore_index=self.ignore_index, reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def _check(self, input: Tensor, target: Tensor) -> None:
        if input.ndim < 2:
            raise ShapeError(f"Invalid `input` for SoftmaxLoss: expected logits (N, K), received {tuple(input.shape)}.")
        expected = (input.shape[0], *input.shape[2:])
        if tuple(target.shape) != expected or target.is_floating_point() or target.is_complex():
            raise ShapeError(
                f"Invalid `target` for SoftmaxLoss: expected integer class indices of shape {expected}, "
                f"received {target.dtype} of shape {tuple(target.shape)}."
            )
        _check_class_vector(self.class_weights, "class_weights", input.shape[1])
        # Checked here because an out-of-range index is a device-side assert on CUDA; this synchronises with the device.
        valid = target[target != self.ignore_index]
        if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= input.shape[1]):
            raise ShapeError(
                f"Invalid `target` for SoftmaxLoss: expected class indices in [0, {input.shape[1]}), "
                f"received values in [{int(valid.min())}, {int(valid.max())}]."
            )


class SigmoidCrossEntropyLoss(nn.Module):
    """Sigmoid cross-entropy: K independent probabilities, for multi-label targets.

    Per element: l_nk = -[p_k t_nk log sigmoid(x_nk) + (1 - t_nk) log(1 - sigmoid(x_nk))], with p = `pos_weight`
    (1 when absent). `reduction="mean"` averages over all N*K elements (torch's convention; Caffe's layer divides by
    N by default, which is K times larger).

    Args:
        pos_weight: Optional weight of the positive term per class, length K (> 1 raises recall).
        reduction: "mean", "sum" or "none".

    Shapes:
        input: logits (N, K) (or any shape, matched by target).
        target: float probabilities in [0, 1] of the same shape, usually {0, 1}.
        output: () or, with reduction="none", the input's shape.
    """

    def __init__(self, pos_weight: Sequence[float] | Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction)
        self.register_buffer("pos_weight", _as_weight_vector(pos_weight, "pos_weight"))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if target.shape != input.shape or not target.is_floating_point():
            raise ShapeError(
                f"Invalid `target` for SigmoidCrossEntropyLoss: expected floats of the input's shape "
                f"{tuple(input.shape)}, received {target.dtype} of shape {tuple(target.shape)}."
            )
        _check_class_vector(self.pos_weight, "pos_weight", input.shape[-1] if input.ndim else 1)
        pos_weight = None if self.pos_weight is None else self.pos_weight.to(input.dtype)
        return F.binary_cross_entropy_with_logits(input, target, pos_weight=pos_weight, reduction=self.reduction)


class EuclideanLoss(nn.Module):
    """Euclidean loss for regressing real-valued targets: the mean squared error.

    Convention: no 1/2 factor and a mean over every element, loss = 1/(N*D) sum_n ||y_hat_n - y_n||^2 with D the number
    of values per sample, which is `F.mse_loss` and makes the alias "mse" honest; the gradient is 2 (y_hat - y)/(N*D).
    Caffe's EuclideanLoss, 1/(2N) sum_n ||y_hat_n - y_n||^2, equals this value times D/2.

    Args:
        reduction: "mean", "sum" (sum of squares, no 1/2) or "none".

    Shapes:
        input: predictions (N, *).
        target: real values of the same shape.
        output: () or, with reduction="none", the input's shape.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        _check_same_shape(self, input, target)
        return F.mse_loss(input, target.to(input.dtype), reduction=self.reduction)


class CaffeEuclideanLoss(nn.Module):
    """Caffe's Euclidean loss: 1/(2N) sum_n ||y_hat_n - y_n||^2, a sum over each sample's values halved, batch mean.

    It equals `EuclideanLoss` (the mean squared error over every element) times D/2 for D values per sample, and its
    gradient is (y_hat - y)/N. Offered by name (`euclidean_caffe`) for parity with Caffe recipes.

    Shapes:
        input: predictions (N, *). target: real values of the same shape. output: ().
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        _check_same_shape(self, input, target)
        return (input - target.to(input.dtype)).square().sum() / (2 * max(input.shape[0], 1))


class AbsoluteLoss(nn.Module):
    """Absolute (L1) loss: the mean of |y_hat - y| over every element (`F.l1_loss`); the median regression loss.

    Shapes:
        input: predictions (N, *). target: real values of the same shape. output: ().
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        _check_same_shape(self, input, target)
        return F.l1_loss(input, target.to(input.dtype))


LOSSES: dict[str, type[nn.Module]] = {
    "softmax": SoftmaxLoss,
    "cross_entropy": SoftmaxLoss,
    "sigmoid_cross_entropy": SigmoidCrossEntropyLoss,
    "sigmoid": SigmoidCrossEntropyLoss,
    "bce": SigmoidCrossEntropyLoss,
    "euclidean": EuclideanLoss,
    "mse": EuclideanLoss,
    "euclidean_caffe": CaffeEuclideanLoss,
    "absolute": AbsoluteLoss,
    "l1": AbsoluteLoss,
}
"""Every accepted loss name (canonical names and aliases) mapped to its class."""


def get_loss(name: str, **kwargs: object) -> nn.Module:
    """Build a loss layer by name.

    Args:
        name: A key of `LOSSES`, case-insensitive, "-" or " " read as "_" (e.g. "softmax", "bce", "mse").
        **kwargs: Constructor arguments of the chosen class.

    Returns:
        The loss module.

    Raises:
        ConfigError: For an unknown name (with the closest match) or an argument the class does not take.
    """
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in LOSSES:
        raise ConfigError(
            f"Invalid loss `name`: expected one of {', '.join(LOSSES)}, received {name!r}." + did_you_mean(key, LOSSES)
        )
    cls = LOSSES[key]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for arg in kwargs:
        if arg not in valid:
            raise ConfigError(
                f"Invalid argument `{arg}` for loss {name!r} ({cls.__name__}): expected one of "
                f"{', '.join(valid) or '(none)'}, received {arg!r}." + did_you_mean(arg, valid)
            )
    return cls(**kwargs)
