"""Locally connected layers: convolution's local receptive fields without its parameter sharing.

The article notes that sharing one filter across positions "may not make sense" for centred inputs such as aligned
faces, where each region needs its own features; it then relaxes sharing to a "locally connected layer". torch.nn has
no such layer (only the bare `F.unfold`), so it is written here: every output position has its own filter bank.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from striate.errors import ShapeError
from striate.layers._utils import _ntuple, _positive_int
from striate.layers.conv import IntOrTuple, conv_output_size


class _LocallyConnectedNd(nn.Module):
    """A convolution with unshared weights: each of the L output positions has its own C_out filters.

    Subclasses only fix `_rank`, the number of spatial dimensions. The output size follows torch's convolution
    arithmetic (floored, so trailing inputs that no receptive field reaches are ignored).

    Shapes (for rank 2; rank 1 drops H):
        Input: (N, C_in, H, W) with (H, W) == input_size.
        Output: (N, C_out, H_out, W_out), H_out = floor((H + 2P - d*(K - 1) - 1) / S) + 1, likewise W_out.

    Attributes:
        weight: (L, C_out, C_in * prod(K)), L = H_out * W_out positions in row-major order; the last dimension is
            one neuron's incoming weights ordered like a flattened conv weight (C_in slowest, then the kernel).
            In all, L * C_out * C_in * prod(K) + L * C_out parameters (the second term only with bias).
        bias: (L, C_out), or None.
        output_size: (H_out, W_out).
        fan_in_dims: (-1,), the weight dimensions that hold one neuron's incoming weights.

    Args:
        in_channels: Channels C_in of the input.
        out_channels: Filters C_out per position.
        input_size: Spatial size of the input, (H, W) or L; needed because the weights depend on the position.
        kernel_size: Receptive field K, an int or a tuple.
        stride: Stride S.
        padding: Zero padding P on both sides.
        dilation: Spacing d between kernel taps.
        bias: Whether each position and filter has a learnable bias.
        device: Device of the parameters.
        dtype: Dtype of the parameters.

    Raises:
        ConfigError: When an argument is malformed.
        ShapeError: When the dilated kernel is larger than the padded input (at construction), or the input's
            channels or spatial size differ from `in_channels` and `input_size` (in `forward`).
    """

    _rank: int
    # The weight dimensions that hold one neuron's incoming weight vector (what a max-norm constraint renormalises).
    fan_in_dims: tuple[int, ...] = (-1,)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: IntOrTuple,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        n = self._rank
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.out_channels = _positive_int(out_channels, "out_channels")
        self.input_size = _ntuple(input_size, n, "input_size", minimum=1)
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", minimum=1)
        self.stride = _ntuple(stride, n, "stride", minimum=1)
        self.padding = _ntuple(padding, n, "padding", minimum=0)
        self.dilation = _ntuple(dilation, n, "dilation", minimum=1)
        self.output_size: tuple[int, ...] = conv_output_size(  # type: ignore[assignment]
            self.input_size, self.kernel_size, self.stride, self.padding, self.dilation, strict=False
        )
        positions = math.prod(self.output_size)
        fan_in = self.in_channels * math.prod(self.kernel_size)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(positions, self.out_channels, fan_in, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(positions, self.out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise like torch's convolutions: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in * prod(K).

        That bound is what `kaiming_uniform_(a=sqrt(5))` gives a conv weight; calling it on the 3-D weight here would
        take fan_in from the wrong dimensions, so the bound is applied directly.
        """
        bound = 1.0 / math.sqrt(self.weight.shape[-1])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Apply each position's filters to its receptive field: (N, C_in, *input_size) -> (N, C_out, *output_size)."""
        self._check_input(input)
        cols = self._unfold(input)  # (N, L, C_in * prod(K))
        out = torch.einsum("nlf,lof->nol", cols, self.weight)  # (N, C_out, L); one batched matmul over positions
        if self.bias is not None:
            out = out + self.bias.t()  # bias (L, C_out) -> (C_out, L), broadcast over N
        return out.reshape(out.shape[0], self.out_channels, *self.output_size)  # (N, C_out, *output_size)

    def _unfold(self, x: torch.Tensor) -> torch.Tensor:
        """Every receptive field as a row: (N, C_in, *input_size) -> (N, L, C_in * prod(K))."""
        n = self._rank
        x = F.pad(x, [p for p in reversed(self.padding) for _ in range(2)])  # (N, C_in, *padded), last dim first
        for dim, (k, s, d) in enumerate(zip(self.kernel_size, self.stride, self.dilation, strict=True), start=2):
            # Windows of the dilated extent, then every d-th tap; each call appends one kernel axis (a strided view).
            x = x.unfold(dim, d * (k - 1) + 1, s)[..., ::d]
        # x: (N, C_in, *output_size, *kernel_size)
        x = x.permute(0, *range(2, 2 + n), 1, *range(2 + n, 2 + 2 * n))  # (N, *output_size, C_in, *kernel_size)
        return x.reshape(x.shape[0], math.prod(self.output_size), -1)  # (N, L, C_in * prod(K)); copies once

    def _check_input(self, x: torch.Tensor) -> None:
        expected = (self.in_channels, *self.input_size)
        if x.dim() != self._rank + 2 or tuple(x.shape[1:]) != expected:
            dims = ", ".join(str(v) for v in expected)
            raise ShapeError(
                f"Invalid `input` shape for {type(self).__name__}: expected (N, {dims}) because the weights are "
                f"per position for input_size={self.input_size}, received {tuple(x.shape)}."
            )

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}"
        )
        if any(self.padding):
            text += f", padding={self.padding}"
        if max(self.dilation) > 1:
            text += f", dilation={self.dilation}"
        text += f", output_size={self.output_size}"
        return text if self.bias is not None else text + ", bias=False"


class LocallyConnected1d(_LocallyConnectedNd):
    """Locally connected layer over sequences: a 1-D convolution whose filters differ at every output position.

    Shapes:
        Input: (N, C_in, L_in) with L_in == input_size.
        Output: (N, C_out, L_out), L_out = floor((L_in + 2P - d*(K - 1) - 1) / S) + 1.
        weight: (L_out, C_out, C_in * K); bias: (L_out, C_out).

    See `_LocallyConnectedNd` for the arguments.

    Example:
        >>> import torch
        >>> from striate.layers import LocallyConnected1d
        >>> layer = LocallyConnected1d(2, 4, input_size=10, kernel_size=3, stride=2)
        >>> layer(torch.randn(5, 2, 10)).shape, tuple(layer.weight.shape)
        (torch.Size([5, 4, 4]), (4, 4, 6))
    """

    _rank = 1


class LocallyConnected2d(_LocallyConnectedNd):
    """Locally connected layer over images: a 2-D convolution whose filters differ at every output position.

    Shapes:
        Input: (N, C_in, H, W) with (H, W) == input_size.
        Output: (N, C_out, H_out, W_out), H_out = floor((H + 2P - d*(K - 1) - 1) / S) + 1, likewise W_out.
        weight: (H_out * W_out, C_out, C_in * K_h * K_w); bias: (H_out * W_out, C_out).

    See `_LocallyConnectedNd` for the arguments.

    Example:
        >>> import torch
        >>> from striate.layers import LocallyConnected2d
        >>> layer = LocallyConnected2d(3, 8, input_size=(12, 12), kernel_size=3, stride=1)
        >>> layer(torch.randn(2, 3, 12, 12)).shape, tuple(layer.weight.shape)
        (torch.Size([2, 8, 10, 10]), (100, 8, 27))
    """

    _rank = 2
