"""Weight penalties (L1, L2, elastic net) and the max-norm constraint from the article's "Regularization methods".

Hand-written because torch has neither: its optimizers' `weight_decay` is an L2 penalty on *every* parameter
(biases and normalisation scales included) and knows no L1, and `torch.renorm` bounds slices along one dim only, so
it cannot express "one neuron's incoming vector" for layers whose weight is not laid out (out, ...), such as the
locally connected layers (weight (L, C_out, C_in*K)).

Conventions:
    - Penalty: `l1 * sum|w| + l2 * sum w^2`, with no 1/2 on the L2 term, so its gradient is `l1 * sign(w) + 2 * l2 * w`
      (sign(0) = 0). Plain SGD with `weight_decay=wd` adds `wd * w` to the gradient, i.e. corresponds to `l2 = wd / 2`.
    - Which parameters: by default the weights of every module except normalisation layers; biases (any parameter
      whose name ends in "bias") and the parameters of normalisation layers are left out, since penalising a scale or
      a shift only restricts what the layer can represent.
    - Max-norm: after each optimizer step, every neuron's incoming weight vector w is projected onto ||w||_2 <= c.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd

from striate.errors import ConfigError, ShapeError

NORM_LAYERS: tuple[type[nn.Module], ...] = (
    _NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.RMSNorm,
)
"""torch's normalisation classes (_NormBase covers BatchNorm*, SyncBatchNorm and InstanceNorm*)."""

_NORM_NAME = re.compile(r"Norm(\d+d)?$")


def is_norm_layer(module: nn.Module) -> bool:
    """True for torch's normalisation layers and any class whose name ends in "Norm", "Norm1d", "Norm2d", ..."""
    return isinstance(module, NORM_LAYERS) or bool(_NORM_NAME.search(type(module).__name__))


def penalized_parameters(
    model: nn.Module, include_bias: bool = False, include_norm: bool = False
) -> list[nn.Parameter]:
    """The parameters a weight penalty or decoupled weight decay should act on, each once, in module order.

    Args:
        model: Any module.
        include_bias: Also take parameters whose name ends in "bias".
        include_norm: Also take the parameters of normalisation layers (see `is_norm_layer`).

    Returns:
        The selected parameters; shared parameters appear once.
    """
    selected, seen = [], set()
    for module in model.modules():
        if is_norm_layer(module) and not include_norm:
            continue
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen or (name.endswith("bias") and not include_bias):
                continue
            seen.add(id(param))
            selected.append(param)
    return selected


def param_groups_for_weight_decay(
    model: nn.Module, weight_decay: float, *, include_bias: bool = False, include_norm: bool = False
) -> list[dict]:
    """Optimizer parameter groups that apply `weight_decay` only to the penalised weights.

    Example: `torch.optim.AdamW(param_groups_for_weight_decay(model, 0.05), lr=1e-3)`.

    Args:
        model: Any module.
        weight_decay: Decay for the selected weights; the other parameters get 0.
        include_bias: As in `penalized_parameters`.
        include_norm: As in `penalized_parameters`.

    Returns:
        Up to two groups, `{"params": [...], "weight_decay": weight_decay}` and `{"params": [...],
        "weight_decay": 0.0}`; an empty group is left out.
    """
    _check_non_negative(weight_decay, "weight_decay")
    decay = penalized_parameters(model, include_bias, include_norm)
    decay_ids = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in decay_ids]
    groups = [{"params": decay, "weight_decay": float(weight_decay)}, {"params": rest, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def _check_non_negative(value: float, name: str) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"Invalid `{name}`: expected a finite number >= 0, received {value!r}.")


@dataclass(frozen=True)
class WeightPenalty:
    """L1, L2 or elastic-net (both) penalty to add to the loss: `l1 * sum|w| + l2 * sum w^2`.

    The L2 term has no 1/2 factor: the gradient is `l1 * sign(w) + 2 * l2 * w`.

    Args:
        l1: Coefficient of the L1 norm (sparse weights).
        l2: Coefficient of the squared L2 norm (diffuse weights).
        include_bias: Also penalise biases.
        include_norm: Also penalise the parameters of normalisation layers.

    Example:
        >>> penalty = WeightPenalty(l2=1e-4)
        >>> loss = criterion(model(x), y) + penalty(model)  # doctest: +SKIP
    """

    l1: float = 0.0
    l2: float = 0.0
    include_bias: bool = False
    include_norm: bool = False

    def __post_init__(self) -> None:
        _check_non_negative(self.l1, "l1")
        _check_non_negative(self.l2, "l2")

    def __call__(self, model: nn.Module) -> Tensor:
        """Return the penalty of `model`'s selected parameters as a scalar tensor on their device (0 if none)."""
        params = penalized_parameters(model, self.include_bias, self.include_norm)
        total = torch.zeros((), device=params[0].device if params else None)
        for param in params:
            if self.l1:
                total = total + self.l1 * param.abs().sum()
            if self.l2:
                total = total + self.l2 * param.square().sum()
        return total


def fan_in_dims(module: nn.Module) -> tuple[int, ...] | None:
    """The weight dims that hold one neuron's incoming vector, or None if `module` has no max-norm rule.

    A class attribute `fan_in_dims` wins (e.g. `(-1,)` for a weight (L, C_out, C_in*K)); then nn.Linear (weight
    (out, in): dim 1) and torch's convolutions (weight (out, in/groups, *k): every dim but 0). Transposed convolutions
    are handled in `max_norm_` and get None here because their output channels are not one weight dim.
    """
    declared = getattr(type(module), "fan_in_dims", None)
    if declared is not None:
        return tuple(declared)
    if isinstance(module, nn.Linear):
        return (1,)
    if isinstance(module, _ConvNd) and not isinstance(module, _ConvTransposeNd):
        return tuple(range(1, module.weight.ndim))
    return None


def _clamp_rows_(weight: Tensor, dims: tuple[int, ...], max_value: float, eps: float) -> int:
    """Scale, in place, each slice of `weight` over `dims` whose L2 norm exceeds `max_value`; return how many."""
    # Norms in at least float32 so that half-precision weights do not overflow.
    dtype = torch.promote_types(weight.dtype, torch.float32)
    norms = torch.linalg.vector_norm(weight, dim=dims, keepdim=True, dtype=dtype)
    over = norms > max_value
    scale = (max_value / (norms + eps)).to(weight.dtype)
    # `where` rather than a multiply by 1: vectors under the bound are left bit-for-bit as they were.
    weight.copy_(torch.where(over, weight * scale, weight))
    return int(over.sum())


def _transposed_view(module: _ConvTransposeNd) -> Tensor:
    """The weight (C_in, C_out/g, *k) of a transposed convolution as (g, C_in/g, C_out/g, *k), sharing storage."""
    weight, groups = module.weight, module.groups
    return weight.view(groups, weight.shape[0] // groups, *weight.shape[1:])  # (g, C_in/g, C_out/g, *k)


def max_norm_(model: nn.Module, max_value: float, eps: float = 1e-12) -> int:
    """Project every neuron's incoming weight vector onto the L2 ball of radius `max_value`, in place.

    Covered: nn.Linear (one row of the (out, in) weight per neuron), torch's convolutions (one filter (in/groups, *k)
    per output channel), transposed convolutions (output channel o's filter: weight[group's inputs, o, ...]; with
    stride > 1 each output pixel sees only some of those taps, so the bound is on the whole filter, an upper bound on
    every pixel's incoming vector) and any module whose class declares `fan_in_dims`. Biases are never constrained.
    Weights computed by `torch.nn.utils.parametrize` (not an nn.Parameter) and uninitialised lazy weights are skipped.

    Args:
        model: Any module; its weights change in place, under `torch.no_grad()`.
        max_value: The bound c > 0 (the article quotes 3 to 4).
        eps: Added to the norm before dividing, so a clamped vector ends with norm c * n / (n + eps) <= c.

    Returns:
        The number of vectors that were over the bound and got rescaled.
    """
    _check_max_norm_args(max_value, eps)
    clamped = 0
    with torch.no_grad():
        for name, module in model.named_modules():
            weight = getattr(module, "weight", None)
            if not isinstance(weight, nn.Parameter) or isinstance(weight, nn.parameter.UninitializedParameter):
                continue
            if isinstance(module, _ConvTransposeNd) and getattr(type(module), "fan_in_dims", None) is None:
                view = _transposed_view(module)  # (g, C_in/g, C_out/g, *k)
                clamped += _clamp_rows_(view, (1, *range(3, view.ndim)), max_value, eps)
            elif (dims := fan_in_dims(module)) is not None:
                clamped += _clamp_rows_(weight, _checked_dims(dims, weight, name, module), max_value, eps)
    return clamped


def _check_max_norm_args(max_value: float, eps: float) -> None:
    if not (isinstance(max_value, int | float) and math.isfinite(max_value) and max_value > 0):
        raise ConfigError(f"Invalid `max_value` for max-norm: expected a finite number > 0, received {max_value!r}.")
    _check_non_negative(eps, "eps")


def _checked_dims(dims: tuple[int, ...], weight: Tensor, name: str, module: nn.Module) -> tuple[int, ...]:
    if not dims or any(not -weight.ndim <= d < weight.ndim for d in dims):
        raise ShapeError(
            f"Invalid `fan_in_dims` of module `{name}` ({type(module).__name__}): expected dims of its "
            f"{weight.ndim}-D weight {tuple(weight.shape)}, received {dims}."
        )
    return tuple(d % weight.ndim for d in dims)


@dataclass(frozen=True)
class MaxNorm:
    """Max-norm constraint as a callable, to run after every optimizer step: `MaxNorm(3.0)(model)`.

    Args:
        max_value: The bound c on each neuron's incoming weight vector.
        eps: See `max_norm_`.
    """

    max_value: float
    eps: float = 1e-12

    def __post_init__(self) -> None:
        _check_max_norm_args(self.max_value, self.eps)

    def __call__(self, model: nn.Module) -> int:
        """Apply `max_norm_` to `model`; return the number of clamped vectors."""
        return max_norm_(model, self.max_value, self.eps)
