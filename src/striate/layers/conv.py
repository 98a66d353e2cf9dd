"""Convolution arithmetic and thin convolution layers.

`conv_output_size` is the article's neuron-count formula, (W - K + 2P)/S + 1, with its warning made an error: when the
result is not an integer "the neurons cannot be tiled to fit across the input volume in a symmetric way". torch only
floors it silently. `Conv1d/2d/3d` are torch's layers (same arguments, same weights, `isinstance` still holds) that
also accept padding='same' with a stride above 1, which torch refuses, and raise striate's errors for bad arguments.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from striate.errors import ConfigError, ShapeError, did_you_mean
from striate.layers._utils import _ntuple

IntOrTuple = int | Sequence[int]

_PADDING_STRINGS = ("valid", "same")


def conv_output_size(
    size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    strict: bool = True,
) -> int | tuple[int, ...]:
    """Return how many neurons fit along each spatial dimension: (W - K_eff + 2P)/S + 1, K_eff = d*(K - 1) + 1.

    Ints give an int; any tuple gives a tuple of that length (ints are repeated to match).

    Args:
        size: Input spatial size W (per dimension).
        kernel_size: Kernel size K.
        stride: Stride S.
        padding: Zero padding P added to both sides.
        dilation: Spacing d between kernel taps; the kernel then spans K_eff = d*(K - 1) + 1 inputs.
        strict: If True, raise when (W - K_eff + 2P) is not a multiple of S; if False, floor like torch does.

    Returns:
        The output size, an int or a tuple.

    Raises:
        ShapeError: When the dilated kernel is larger than the padded input, or (strict) the neurons cannot tile the
            input symmetrically.
        ConfigError: When an argument is not an int or a tuple of the right length, or is out of range.

    Example:
        >>> conv_output_size(32, kernel_size=5, stride=1, padding=2)
        32
        >>> conv_output_size((227, 227), kernel_size=11, stride=4)
        (55, 55)
    """
    rank = _rank_of(size, kernel_size, stride, padding, dilation)
    n = rank or 1
    w = _ntuple(size, n, "size", minimum=1)
    k = _ntuple(kernel_size, n, "kernel_size", minimum=1)
    s = _ntuple(stride, n, "stride", minimum=1)
    p = _ntuple(padding, n, "padding", minimum=0)
    d = _ntuple(dilation, n, "dilation", minimum=1)
    k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d, strict=True))
    span = tuple(wi + 2 * pi - ki for wi, pi, ki in zip(w, p, k_eff, strict=True))  # W - K_eff + 2P, per dimension
    if min(span) < 0:
        padded = _fmt(wi + 2 * pi for wi, pi in zip(w, p, strict=True))
        extent = "" if max(d) == 1 else f" (spanning {_fmt(k_eff)} with dilation {_fmt(d)})"
        raise ShapeError(
            f"Invalid `kernel_size`: expected at most the padded input size {padded}, received {_fmt(k)}{extent}."
        )
    if strict and any(span_i % si for span_i, si in zip(span, s, strict=True)):
        raise ShapeError(
            f"Invalid `stride`: expected a divisor of (W - K + 2P) = {_fmt(span)} so the neurons tile the input "
            f"symmetrically, received {_fmt(s)} (pass strict=False to floor instead)."
        )
    out = tuple(span_i // si + 1 for span_i, si in zip(span, s, strict=True))
    return out if rank is not None else out[0]


def same_padding(kernel_size: IntOrTuple, dilation: IntOrTuple = 1) -> int | tuple[int, ...]:
    """Return the symmetric zero padding (K_eff - 1)/2 that keeps a stride-1 convolution's output size.

    Symmetric 'same' padding needs an odd effective kernel K_eff = d*(K - 1) + 1. For an even one, the layers here
    (like torch and TensorFlow) pad K_eff - 1 in total with the extra row and column on the bottom and right; pass
    padding='same' to a layer for that.

    Args:
        kernel_size: Kernel size K, an int or a tuple.
        dilation: Dilation d.

    Returns:
        The padding per side: an int for int arguments, else a tuple.

    Raises:
        ConfigError: When an effective kernel size is even.

    Example:
        >>> same_padding(5), same_padding((3, 3), dilation=2)
        (2, (2, 2))
    """
    rank = _rank_of(kernel_size, dilation)
    n = rank or 1
    k = _ntuple(kernel_size, n, "kernel_size", minimum=1)
    d = _ntuple(dilation, n, "dilation", minimum=1)
    k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d, strict=True))
    if any(ke % 2 == 0 for ke in k_eff):
        raise ConfigError(
            f"Invalid `kernel_size`: expected an odd effective size d*(K - 1) + 1 for symmetric 'same' padding, "
            f"received {_fmt(k)} with dilation {_fmt(d)} (effective {_fmt(k_eff)}; use padding='same' on the layer "
            f"for asymmetric padding)."
        )
    pad = tuple((ke - 1) // 2 for ke in k_eff)
    return pad if rank is not None else pad[0]


def _rank_of(*values: object) -> int | None:
    """The length of the first tuple (or list) among `values`, or None when there is none."""
    return next((len(v) for v in values if isinstance(v, Sequence) and not isinstance(v, str)), None)


def _fmt(values: Iterable[int]) -> str:
    return "x".join(str(v) for v in values)


def _check_padding(padding: str | IntOrTuple, n: int) -> str | tuple[int, ...]:
    if isinstance(padding, str):
        if padding not in _PADDING_STRINGS:
            raise ConfigError(
                f"Invalid `padding`: expected 'valid', 'same', an int or a tuple of {n} ints, received {padding!r}."
                + did_you_mean(padding, _PADDING_STRINGS)
            )
        return padding
    return _ntuple(padding, n, "padding", minimum=0)


class _ConvNd:
    """The logic shared by `Conv1d/2d/3d`, mixed in before torch's class; subclasses only fix `_rank`.

    Args:
        in_channels: Channels C_in of the input.
        out_channels: Channels C_out of the output (the number of filters).
        kernel_size: Kernel size K, an int or a tuple with one entry per spatial dimension.
        stride: Stride S.
        padding: 'valid' (no padding), 'same' (output size ceil(W / S); for an even K_eff - 1 or a stride above 1 the
            extra padding goes on the bottom/right, TensorFlow's SAME rule), an int or a tuple.
        dilation: Spacing d between kernel taps.
        groups: Blocked connections from input to output channels, as in torch.
        bias: Whether to add a learnable bias.
        padding_mode: 'zeros', 'reflect', 'replicate' or 'circular'.
        device: Device of the parameters.
        dtype: Dtype of the parameters.
    """

    _rank: int

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: str | IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        n = self._rank
        kernel_size = _ntuple(kernel_size, n, "kernel_size", minimum=1)
        stride = _ntuple(stride, n, "stride", minimum=1)
        dilation = _ntuple(dilation, n, "dilation", minimum=1)
        padding = _check_padding(padding, n)
        # torch refuses padding='same' with a stride above 1; such layers pad each input in `_conv_forward` instead.
        same_strided = padding == "same" and max(stride) > 1
        super().__init__(  # type: ignore[call-arg]
            in_channels, out_channels, kernel_size, stride, 0 if same_strided else padding,
            dilation, groups, bias, padding_mode, device, dtype,
        )  # fmt: skip
        self._same_strided = same_strided

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self._same_strided:
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            input = F.pad(input, self._same_pad(input.shape[2:]), mode=mode)
        return super()._conv_forward(input, weight, bias)  # type: ignore[misc]

    def _same_pad(self, spatial: Sequence[int]) -> list[int]:
        """F.pad amounts (last dimension first) that make the output ceil(W / S), extra on the bottom/right."""
        pad: list[int] = []
        for w, k, s, d in reversed(list(zip(spatial, self.kernel_size, self.stride, self.dilation, strict=True))):
            total = max((math.ceil(w / s) - 1) * s + d * (k - 1) + 1 - w, 0)
            pad += [total // 2, total - total // 2]
        return pad

    def extra_repr(self) -> str:
        text = super().extra_repr()  # type: ignore[misc]
        return text + ", padding=same" if self._same_strided else text


class Conv1d(_ConvNd, nn.Conv1d):
    """1-D convolution over sequences; torch's `nn.Conv1d` that also takes padding='same' with a stride.

    Shapes:
        Input: (N, C_in, L)
        Output: (N, C_out, L_out), L_out = floor((L + 2P - d*(K - 1) - 1) / S) + 1, or ceil(L / S) for 'same'.

    Example:
        >>> import torch
        >>> from striate.layers import Conv1d
        >>> Conv1d(4, 8, kernel_size=3, stride=2, padding="same")(torch.randn(2, 4, 15)).shape
        torch.Size([2, 8, 8])
    """

    _rank = 1


class Conv2d(_ConvNd, nn.Conv2d):
    """2-D convolution over images; torch's `nn.Conv2d` that also takes padding='same' with a stride.

    Shapes:
        Input: (N, C_in, H, W)
        Output: (N, C_out, H_out, W_out), H_out = floor((H + 2P - d*(K - 1) - 1) / S) + 1, or ceil(H / S) for
        'same'; likewise W_out.

    Example:
        >>> import torch
        >>> from striate.layers import Conv2d
        >>> Conv2d(3, 16, kernel_size=3, stride=2, padding="same")(torch.randn(1, 3, 32, 32)).shape
        torch.Size([1, 16, 16, 16])
    """

    _rank = 2


class Conv3d(_ConvNd, nn.Conv3d):
    """3-D convolution over volumes and clips; torch's `nn.Conv3d` that also takes padding='same' with a stride.

    Shapes:
        Input: (N, C_in, D, H, W)
        Output: (N, C_out, D_out, H_out, W_out), D_out = floor((D + 2P - d*(K - 1) - 1) / S) + 1, or ceil(D / S)
        for 'same'; likewise H_out, W_out.

    Example:
        >>> import torch
        >>> from striate.layers import Conv3d
        >>> Conv3d(1, 4, kernel_size=3, padding="same")(torch.randn(1, 1, 5, 8, 8)).shape
        torch.Size([1, 4, 5, 8, 8])
    """

    _rank = 3
