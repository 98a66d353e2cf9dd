"""Pooling: torch's max/average pooling re-exported, and the article's pooling variants that torch.nn lacks.

Hand-written here, because torch.nn has no equivalent:

- `LpPool1d/2d`: Lp-norm pooling over |x| (2-norm pooling is p=2). torch's `LPPool` raises x rather than |x| to the
  p-th power, so for odd p negative inputs cancel or give NaN, and its all-zero windows give NaN gradients.
- `GlobalAvgPool` / `GlobalMaxPool`: one value per channel, for inputs of any rank.
- `StochasticPool2d`: stochastic pooling (Zeiler & Fergus, 2013).
- `RoIPool` / `RoIAlign`: region-of-interest pooling for Fast R-CNN style detectors; torchvision has them, but
  torchvision does not install beside the CPU build of torch this project uses.

Overlapping pooling (AlexNet: windows of 3 with stride 2) is plain `MaxPool2d(3, stride=2)`;
`overlapping_max_pool2d` builds it and checks that the windows really overlap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import AvgPool1d, AvgPool2d, AvgPool3d, FractionalMaxPool2d, MaxPool1d, MaxPool2d, MaxPool3d

from striate.errors import ConfigError, ShapeError
from striate.layers._utils import _is_int, _ntuple
from striate.layers.conv import IntOrTuple, conv_output_size

__all__ = [
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "FractionalMaxPool2d",
    "GlobalAvgPool",
    "GlobalMaxPool",
    "LpPool1d",
    "LpPool2d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "RoIAlign",
    "RoIPool",
    "StochasticPool2d",
    "overlapping_max_pool2d",
]

Boxes = torch.Tensor | Sequence[torch.Tensor]


def _check_input(x: torch.Tensor, spatial_dims: int, layer: str, layout: str) -> None:
    if x.dim() != spatial_dims + 2:
        raise ShapeError(f"Invalid `input` shape for {layer}: expected {layout}, received {tuple(x.shape)}.")


def overlapping_max_pool2d(kernel_size: IntOrTuple = 3, stride: IntOrTuple = 2, padding: IntOrTuple = 0) -> MaxPool2d:
    """Return `MaxPool2d(kernel_size, stride, padding)` after checking that stride < kernel_size, so windows overlap.

    Krizhevsky et al. (2012) pooled 3x3 windows with stride 2 and found it lowered error slightly and made the
    network a little harder to overfit than non-overlapping 2x2 windows with stride 2.

    Shapes:
        Input: (N, C, H, W) -> Output: (N, C, H_out, W_out), H_out = floor((H + 2P - K) / S) + 1.

    Raises:
        ConfigError: When a stride is not smaller than the kernel size.

    Example:
        >>> import torch
        >>> from striate.layers import overlapping_max_pool2d
        >>> overlapping_max_pool2d()(torch.randn(1, 96, 55, 55)).shape
        torch.Size([1, 96, 27, 27])
    """
    k, s = _ntuple(kernel_size, 2, "kernel_size", minimum=1), _ntuple(stride, 2, "stride", minimum=1)
    if any(si >= ki for si, ki in zip(s, k, strict=True)):
        raise ConfigError(
            f"Invalid `stride`: expected less than kernel_size {k} so the pooling windows overlap, received {s}."
        )
    return MaxPool2d(k, stride=s, padding=padding)


# --------------------------------------------------------------------------------------------------- Lp pooling


class _LpPoolNd(nn.Module):
    """Lp-norm pooling, (sum over the window of |x|^p)^(1/p); subclasses only fix `_rank`.

    p = 1 sums magnitudes, p = 2 is the 2-norm pooling the article mentions, p = inf is max pooling of |x|. The sum
    is exact also for the partial windows `ceil_mode` adds (torch's LPPool rescales an average there). Windows whose
    values are all zero output 0 with a zero gradient instead of NaN.

    Sign: the pooled values are |x|, so negative inputs count by magnitude and the output is never negative. torch's
    `nn.LPPool` raises x itself to the p-th power: it agrees with this layer for even p or non-negative inputs, and
    differs (cancellation or NaN) for odd p with negative inputs.

    Args:
        norm_type: The exponent p, at least 1 (float('inf') allowed).
        kernel_size: Window size K.
        stride: Stride S; defaults to kernel_size.
        ceil_mode: Use ceil instead of floor for the output size, adding partial windows at the end.
    """

    _rank: int
    _layout: str

    def __init__(
        self, norm_type: float, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, ceil_mode: bool = False
    ) -> None:
        super().__init__()
        if isinstance(norm_type, bool) or not isinstance(norm_type, int | float) or not norm_type >= 1:
            raise ConfigError(f"Invalid `norm_type`: expected a number of at least 1 (or inf), received {norm_type!r}.")
        self.norm_type = float(norm_type)
        self.kernel_size = _ntuple(kernel_size, self._rank, "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else _ntuple(stride, self._rank, "stride", minimum=1)
        self.ceil_mode = ceil_mode

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        _check_input(input, self._rank, type(self).__name__, self._layout)
        p = self.norm_type
        if math.isinf(p):
            return self._pool3d(F.max_pool3d, input.abs())
        sums = self._pool3d(F.avg_pool3d, input.abs().pow(p), divisor_override=1)  # sum of |x|^p per window
        # The p-th root has infinite slope at 0; route zero sums around it so their gradient is 0, not NaN.
        positive = sums > 0
        root = torch.where(positive, sums, torch.ones_like(sums)).pow(1.0 / p)
        return torch.where(positive, root, torch.zeros_like(sums))

    def _pool3d(self, pool: Callable[..., torch.Tensor], x: torch.Tensor, **kwargs: int) -> torch.Tensor:
        """Run a 3-D pooling function on a rank-1 or rank-2 input by adding unit spatial dimensions in front."""
        lift = (1,) * (3 - self._rank)
        x5 = x.reshape(*x.shape[:2], *lift, *x.shape[2:])  # (N, C, 1.., *spatial)
        out = pool(x5, lift + self.kernel_size, lift + self.stride, ceil_mode=self.ceil_mode, **kwargs)
        return out.reshape(*x.shape[:2], *out.shape[2 + len(lift) :])  # (N, C, *spatial_out)

    def extra_repr(self) -> str:
        return f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}" + (
            ", ceil_mode=True" if self.ceil_mode else ""
        )


class LpPool1d(_LpPoolNd):
    """Lp-norm pooling over sequences, (sum |x|^p)^(1/p) per window; see `_LpPoolNd` for arguments and signs.

    Shapes:
        Input: (N, C, L) -> Output: (N, C, L_out), L_out = floor((L - K) / S) + 1 (ceil with ceil_mode).

    Example:
        >>> import torch
        >>> from striate.layers import LpPool1d
        >>> LpPool1d(2, kernel_size=4)(torch.randn(2, 3, 16)).shape
        torch.Size([2, 3, 4])
    """

    _rank = 1
    _layout = "(N, C, L)"


class LpPool2d(_LpPoolNd):
    """Lp-norm pooling over images, (sum |x|^p)^(1/p) per window; see `_LpPoolNd` for arguments and signs.

    Shapes:
        Input: (N, C, H, W) -> Output: (N, C, H_out, W_out), H_out = floor((H - K) / S) + 1 (ceil with ceil_mode).

    Example:
        >>> import torch
        >>> from striate.layers import LpPool2d
        >>> LpPool2d(2, kernel_size=2)(torch.randn(1, 8, 6, 6)).shape
        torch.Size([1, 8, 3, 3])
    """

    _rank = 2
    _layout = "(N, C, H, W)"


# --------------------------------------------------------------------------------------------------- global pooling


class _GlobalPool(nn.Module):
    """Pool every channel over all its spatial positions, for inputs of any rank.

    Shapes:
        Input: (N, C, *spatial), at least one spatial dimension.
        Output: (N, C), or (N, C, 1, ..., 1) with as many ones as spatial dimensions when keepdim=True.

    Args:
        keepdim: Keep the spatial dimensions with size 1 instead of flattening to (N, C).
    """

    def __init__(self, keepdim: bool = False) -> None:
        super().__init__()
        self.keepdim = keepdim

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dim() < 3:
            raise ShapeError(
                f"Invalid `input` shape for {type(self).__name__}: expected (N, C, *spatial) with at least one "
                f"spatial dimension, received {tuple(input.shape)}."
            )
        out = self._reduce(input.flatten(2))  # (N, C, prod(spatial)) -> (N, C)
        return out.reshape(*out.shape, *[1] * (input.dim() - 2)) if self.keepdim else out

    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return "keepdim=True" if self.keepdim else ""


class GlobalAvgPool(_GlobalPool):
    """Average of each channel over all positions (Network in Network; the usual head of a modern CNN).

    Example:
        >>> import torch
        >>> from striate.layers import GlobalAvgPool
        >>> GlobalAvgPool()(torch.randn(2, 64, 7, 7)).shape, GlobalAvgPool(keepdim=True)(torch.randn(2, 8, 5)).shape
        (torch.Size([2, 64]), torch.Size([2, 8, 1]))
    """

    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(-1)


class GlobalMaxPool(_GlobalPool):
    """Maximum of each channel over all positions; ties share the gradient equally.

    Example:
        >>> import torch
        >>> from striate.layers import GlobalMaxPool
        >>> GlobalMaxPool()(torch.randn(2, 16, 4, 4, 4)).shape
        torch.Size([2, 16])
    """

    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(-1)


# --------------------------------------------------------------------------------------------------- stochastic pooling


class StochasticPool2d(nn.Module):
    """Stochastic pooling (Zeiler & Fergus, 2013): sample one activation per region in proportion to its size.

    In training mode each region R picks activation a_i with probability p_i = a_i / sum_{j in R} a_j and outputs
    it; the gradient flows to the picked activation only. In eval mode each region outputs the probability-weighted
    average sum_i p_i a_i = sum a_i^2 / sum a_i, the paper's test-time rule. Regions whose activations are all zero
    output 0 in both modes, with zero gradient.

    The rule needs non-negative activations (it is meant to follow a ReLU). Negative inputs are clamped to zero,
    which is a ReLU folded in, rather than checked: a check would read the tensor back to the host on every call.

    Sampling is vectorised by inverse CDF: one uniform draw per region, compared with the region's cumulative sums.

    Shapes:
        Input: (N, C, H, W)
        Output: (N, C, H_out, W_out), H_out = floor((H + 2P - K) / S) + 1, likewise W_out.

    Args:
        kernel_size: Region size K.
        stride: Stride S; defaults to kernel_size (non-overlapping regions).
        padding: Zero padding P; padded zeros are never picked unless the whole region is zero.

    Example:
        >>> import torch
        >>> from striate.layers import StochasticPool2d
        >>> StochasticPool2d(2)(torch.rand(4, 3, 8, 8)).shape
        torch.Size([4, 3, 4, 4])
    """

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, 2, "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else _ntuple(stride, 2, "stride", minimum=1)
        self.padding = _ntuple(padding, 2, "padding", minimum=0)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        _check_input(input, 2, "StochasticPool2d", "(N, C, H, W)")
        n, c, h, w = input.shape
        out_size = conv_output_size((h, w), self.kernel_size, self.stride, self.padding, strict=False)
        cols = F.unfold(input.clamp_min(0), self.kernel_size, padding=self.padding, stride=self.stride)  # (N, C*K, L)
        regions = cols.view(n, c, -1, cols.shape[-1]).transpose(2, 3)  # (N, C, L, K): one region per row
        out = self._sample(regions) if self.training else self._expectation(regions)  # (N, C, L)
        return out.reshape(n, c, *out_size)  # (N, C, H_out, W_out)

    @staticmethod
    def _sample(regions: torch.Tensor) -> torch.Tensor:
        """One activation per region, index i drawn with probability a_i / sum(a): (..., K) -> (...)."""
        cdf = regions.cumsum(-1)  # (..., K), non-decreasing because activations are >= 0
        total = cdf[..., -1:]  # (..., 1)
        threshold = torch.rand_like(total) * total  # uniform in [0, total)
        # Picked index = the first whose cdf exceeds the threshold, so zero activations are never picked. The second
        # count caps it at the last non-zero activation in case rounding puts the threshold at `total` itself.
        index = torch.minimum((cdf <= threshold).sum(-1, keepdim=True), (cdf < total).sum(-1, keepdim=True))
        picked = regions.gather(-1, index)  # (..., 1)
        # An all-zero region picks index 0, a zero; `where` keeps its output 0 and stops its gradient.
        return torch.where(total > 0, picked, torch.zeros_like(picked)).squeeze(-1)

    @staticmethod
    def _expectation(regions: torch.Tensor) -> torch.Tensor:
        """Probability-weighted average sum(a^2) / sum(a), 0 for all-zero regions: (..., K) -> (...)."""
        total = regions.sum(-1)
        return (regions * regions).sum(-1) / torch.where(total > 0, total, torch.ones_like(total))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


# --------------------------------------------------------------------------------------------------- RoI pooling


def _as_rois(boxes: Boxes, input: torch.Tensor) -> torch.Tensor:
    """Boxes as one (K, 5) tensor [batch_index, x1, y1, x2, y2] in the input's dtype and device."""
    if isinstance(boxes, torch.Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ShapeError(
                f"Invalid `boxes` shape: expected (K, 5) rows [batch_index, x1, y1, x2, y2], "
                f"received {tuple(boxes.shape)}."
            )
        return boxes.to(device=input.device, dtype=input.dtype)
    boxes = list(boxes)
    shapes = [tuple(b.shape) for b in boxes]
    if len(boxes) != input.shape[0] or any(len(s) != 2 or s[1] != 4 for s in shapes):
        raise ShapeError(
            f"Invalid `boxes`: expected one (K_i, 4) tensor of [x1, y1, x2, y2] per image, {input.shape[0]} in all, "
            f"received shapes {shapes}."
        )
    index = torch.cat([torch.full((len(b), 1), i, dtype=input.dtype, device=input.device) for i, b in enumerate(boxes)])
    coords = torch.cat([b.to(device=input.device, dtype=input.dtype) for b in boxes])
    return torch.cat([index, coords], dim=1)  # (K, 5)


def _check_rois(rois: torch.Tensor, images: int) -> None:
    """Raise for batch indices outside [0, images) or non-finite coordinates; reads two flags back to the host."""
    index = rois[:, 0]
    bad_index = (index < 0) | (index >= images) | (index != index.trunc())
    bad_index_any, non_finite = torch.stack([bad_index.any(), ~torch.isfinite(rois[:, 1:]).all()]).tolist()
    if bad_index_any:
        received = index[bad_index].unique().tolist()[:5]
        raise ShapeError(
            f"Invalid `boxes`: expected batch indices that are integers in [0, {images - 1}], received {received}."
        )
    if non_finite:
        raise ShapeError("Invalid `boxes`: expected finite coordinates, received NaN or infinite values.")


def _prepare_rois(boxes: Boxes, input: torch.Tensor, layer: str) -> torch.Tensor:
    _check_input(input, 2, layer, "(N, C, H, W)")
    rois = _as_rois(boxes, input)
    _check_rois(rois, input.shape[0])
    return rois


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's round(): halves go away from zero (torch.round goes to even, which would move some RoI edges)."""
    trunc = x.trunc()
    return torch.where((x - trunc).abs() == 0.5, trunc + x.sign(), x.round())


def _pool_bin_edges(start: torch.Tensor, end: torch.Tensor, bins: int, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantised bin edges of one axis: integer box edges (K,) -> starts and ends (K, bins), clipped to [0, limit].

    The box spans max(end - start + 1, 1) cells; bin i covers [floor(i * size / bins), ceil((i + 1) * size / bins)),
    computed in the boxes' dtype like the Caffe/torchvision kernels, so neighbouring bins can share a cell.
    """
    size = (end - start + 1).clamp_min(1)  # (K,) a malformed box counts as one cell
    step = size / bins  # (K,)
    i = torch.arange(bins, dtype=step.dtype, device=step.device)  # (bins,)
    lo = torch.floor(i * step[:, None]).long() + start[:, None].long()  # (K, bins)
    hi = torch.ceil((i + 1) * step[:, None]).long() + start[:, None].long()  # (K, bins)
    return lo.clamp(0, limit), hi.clamp(0, limit)


def _bin_max(
    crop: torch.Tensor, h_lo: torch.Tensor, h_hi: torch.Tensor, w_lo: torch.Tensor, w_hi: torch.Tensor
) -> torch.Tensor:
    """Max of each bin of one box, separably (columns, then rows): crop (C, h, w) -> (C, out_h, out_w); empty bins 0."""
    cols = torch.arange(crop.shape[-1], device=crop.device)
    in_w = (cols >= w_lo[:, None]) & (cols < w_hi[:, None])  # (out_w, w)
    t = crop.unsqueeze(-2).masked_fill(~in_w, -math.inf).amax(-1)  # (C, h, 1, w) -> (C, h, out_w)
    rows = torch.arange(crop.shape[-2], device=crop.device)
    in_h = (rows >= h_lo[:, None]) & (rows < h_hi[:, None])  # (out_h, h)
    t = t.unsqueeze(-3).masked_fill(~in_h[:, :, None], -math.inf).amax(-2)  # (C, 1, h, out_w) -> (C, out_h, out_w)
    empty = (h_hi <= h_lo)[:, None] | (w_hi <= w_lo)[None, :]  # (out_h, out_w)
    return t.masked_fill(empty, 0.0)


class RoIPool(nn.Module):
    """Region-of-interest max pooling (Girshick, Fast R-CNN, 2015): each box is max-pooled to a fixed grid.

    Quantisation follows Caffe and torchvision.ops.roi_pool: box corners are scaled by `spatial_scale` and rounded
    (halves away from zero), the box spans max(x2 - x1 + 1, 1) cells, bin i covers cells
    [floor(i * size / out), ceil((i + 1) * size / out)) from the box start, clipped to the feature map, and a bin
    with no cell outputs 0. The gradient goes to each bin's maximum (shared equally between exact ties, where
    torchvision picks the first).

    Shapes:
        input: (N, C, H, W) feature maps.
        boxes: (K, 5) rows [batch_index, x1, y1, x2, y2], or a list of N tensors (K_i, 4) of [x1, y1, x2, y2];
            coordinates are in input-image pixels, mapped to the feature map by `spatial_scale`.
        Output: (K, C, out_h, out_w), in the order of the boxes.

    Args:
        output_size: Grid (out_h, out_w), or an int for a square grid.
        spatial_scale: Feature-map size over input-image size, e.g. 1/16 after four stride-2 stages.

    Loops over boxes (not pixels) in Python; each box costs about out_w + out_h passes over its crop.

    Example:
        >>> import torch
        >>> from striate.layers import RoIPool
        >>> boxes = torch.tensor([[0, 0.0, 0.0, 63.0, 31.0], [1, 16.0, 8.0, 40.0, 60.0]])
        >>> RoIPool((7, 7), spatial_scale=1 / 8)(torch.randn(2, 256, 8, 8), boxes).shape
        torch.Size([2, 256, 7, 7])
    """

    def __init__(self, output_size: IntOrTuple, spatial_scale: float = 1.0) -> None:
        super().__init__()
        self.output_size = _ntuple(output_size, 2, "output_size", minimum=1)
        self.spatial_scale = _positive_scale(spatial_scale)

    def forward(self, input: torch.Tensor, boxes: Boxes) -> torch.Tensor:
        rois = _prepare_rois(boxes, input, "RoIPool")
        (out_h, out_w), (_, c, height, width) = self.output_size, input.shape
        corners = _round_half_away(rois[:, 1:] * self.spatial_scale)  # (K, 4) x1, y1, x2, y2 on the feature map
        h_lo, h_hi = _pool_bin_edges(corners[:, 1], corners[:, 3], out_h, height)  # (K, out_h) each
        w_lo, w_hi = _pool_bin_edges(corners[:, 0], corners[:, 2], out_w, width)  # (K, out_w) each
        # Bins are ordered, so a box's crop is [first start, last end) per axis; one read-back for all boxes.
        crops = torch.stack([rois[:, 0].long(), h_lo[:, 0], h_hi[:, -1], w_lo[:, 0], w_hi[:, -1]], 1).tolist()
        pooled = [input.new_zeros(c, out_h, out_w)] * len(crops)
        for k, (b, h0, h1, w0, w1) in enumerate(crops):
            if h1 > h0 and w1 > w0:  # otherwise the box lies off the map and every bin is empty
                crop = input[b, :, h0:h1, w0:w1]  # (C, h, w)
                pooled[k] = _bin_max(crop, h_lo[k] - h0, h_hi[k] - h0, w_lo[k] - w0, w_hi[k] - w0)
        return torch.stack(pooled) if pooled else input.new_zeros(0, c, out_h, out_w)  # (K, C, out_h, out_w)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"


def _positive_scale(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ConfigError(f"Invalid `spatial_scale`: expected a positive finite number, received {value!r}.")
    return float(value)


def _align_axis_weights(
    start: torch.Tensor, extent: torch.Tensor, bins: int, size: int, sampling_ratio: int
) -> torch.Tensor:
    """Bilinear weights of one axis's sample points, summed per bin and divided by the samples per bin.

    RoIAlign's sample weights factor into a y part and an x part, so out[k] = A_y[k] @ feature @ A_x[k]^T with
    A (K, bins, size) from this function. Edge rules follow torchvision: a sample outside [-1, size] is dropped,
    one in [-1, 0] reads cell 0, one beyond size - 1 reads the last cell.

    Args:
        start: (K,) box start on the feature map (after the aligned offset).
        extent: (K,) box length on the feature map.
        bins: Output cells along this axis.
        size: Feature-map length along this axis.
        sampling_ratio: Samples per bin along this axis; <= 0 picks ceil(extent / bins) per box.

    Returns:
        (K, bins, size) weights.
    """
    bin_size = extent / bins  # (K,)
    if sampling_ratio > 0:
        grid, most = torch.full_like(extent, sampling_ratio), sampling_ratio
    else:
        grid = torch.ceil(extent / bins).clamp_min(0)  # (K,) samples per bin, per box
        most = int(grid.max()) if grid.numel() else 0  # reads one number back to the host
    j = torch.arange(max(most, 1), dtype=extent.dtype, device=extent.device)  # (G,) sample index within a bin
    i = torch.arange(bins, dtype=extent.dtype, device=extent.device)  # (bins,)
    per = grid.clamp_min(1)[:, None, None]  # (K, 1, 1), avoids 0/0 where a box has no samples
    pos = start[:, None, None] + i[:, None] * bin_size[:, None, None] + (j + 0.5) * bin_size[:, None, None] / per
    # pos: (K, bins, G); written in torchvision's order of operations so rounding matches too
    valid = (j < grid[:, None, None]) & (pos >= -1) & (pos <= size)  # (K, bins, G); NaN positions are invalid
    pos = pos.clamp_min(0)
    low = pos.floor().clamp_max(size - 1)  # cells at or beyond size - 1 read the last cell with weight 1
    frac = torch.where(low >= size - 1, torch.zeros_like(pos), pos - low)  # (K, bins, G)
    high = (low + 1).clamp_max(size - 1)
    cells = torch.arange(size, dtype=extent.dtype, device=extent.device)  # (size,)
    w = (1 - frac)[..., None] * (cells == low[..., None]) + frac[..., None] * (cells == high[..., None])
    w = torch.where(valid[..., None], w, torch.zeros_like(w))  # (K, bins, G, size)
    return w.sum(2) / per  # (K, bins, size)


class RoIAlign(nn.Module):
    """Region-of-interest align (He et al., Mask R-CNN, 2017): bilinear average pooling of each box, no rounding.

    Matches torchvision.ops.roi_align: each of the out_h x out_w bins averages a grid of sampling_ratio^2 bilinear
    samples (ceil(box size / output size) per axis when sampling_ratio <= 0); aligned=True shifts box corners by
    -0.5 so pixel centres line up (use it for new models), aligned=False (the default, as in torchvision) keeps the
    original Detectron behaviour and makes boxes at least 1x1. Differentiable in the input.

    Computed without a per-bin loop: the bilinear weights factor into a row matrix (K, out_h, H) and a column matrix
    (K, out_w, W), and each image's boxes take two matrix products with its feature map.

    Shapes:
        input: (N, C, H, W) feature maps.
        boxes: (K, 5) rows [batch_index, x1, y1, x2, y2], or a list of N tensors (K_i, 4) of [x1, y1, x2, y2];
            coordinates are in input-image pixels, mapped to the feature map by `spatial_scale`.
        Output: (K, C, out_h, out_w), in the order of the boxes.

    Args:
        output_size: Grid (out_h, out_w), or an int for a square grid.
        spatial_scale: Feature-map size over input-image size.
        sampling_ratio: Samples per bin along each axis; <= 0 adapts to the box size (torchvision's default, -1).
        aligned: Shift boxes by half a pixel (Detectron2's corrected RoIAlign).

    Example:
        >>> import torch
        >>> from striate.layers import RoIAlign
        >>> boxes = [torch.tensor([[4.0, 4.0, 28.0, 20.0]]), torch.tensor([[0.0, 0.0, 31.0, 31.0]])]
        >>> RoIAlign(7, spatial_scale=0.25, sampling_ratio=2, aligned=True)(torch.randn(2, 32, 8, 8), boxes).shape
        torch.Size([2, 32, 7, 7])
    """

    def __init__(
        self, output_size: IntOrTuple, spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = False
    ) -> None:
        super().__init__()
        self.output_size = _ntuple(output_size, 2, "output_size", minimum=1)
        self.spatial_scale = _positive_scale(spatial_scale)
        if not _is_int(sampling_ratio):
            raise ConfigError(f"Invalid `sampling_ratio`: expected an int (<= 0 adapts), received {sampling_ratio!r}.")
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = aligned

    def forward(self, input: torch.Tensor, boxes: Boxes) -> torch.Tensor:
        rois = _prepare_rois(boxes, input, "RoIAlign")
        corners = rois[:, 1:] * self.spatial_scale - (0.5 if self.aligned else 0.0)  # (K, 4) x1, y1, x2, y2
        extent = corners[:, 2:] - corners[:, :2]  # (K, 2) width, height
        if not self.aligned:
            extent = extent.clamp_min(1.0)  # torchvision makes malformed boxes 1x1 in the legacy mode
        (out_h, out_w), (height, width) = self.output_size, input.shape[2:]
        rows = _align_axis_weights(corners[:, 1], extent[:, 1], out_h, height, self.sampling_ratio)  # (K, out_h, H)
        cols = _align_axis_weights(corners[:, 0], extent[:, 0], out_w, width, self.sampling_ratio)  # (K, out_w, W)
        return _per_image_sandwich(input, rois[:, 0].long(), rows, cols)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}"
        )


def _per_image_sandwich(
    input: torch.Tensor, batch_index: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> torch.Tensor:
    """out[k, c] = rows[k] @ input[batch_index[k], c] @ cols[k]^T, grouped by image: (K, C, out_h, out_w).

    Grouping avoids gathering a (K, C, H, W) copy of the feature maps; it loops over images, not boxes.
    """
    order = torch.argsort(batch_index, stable=True)
    counts = torch.bincount(batch_index, minlength=input.shape[0]).tolist()  # reads N numbers back to the host
    parts = []
    for image, r, c, count in zip(input, rows[order].split(counts), cols[order].split(counts), counts, strict=True):
        if count:
            t = torch.einsum("kph,chw->kcpw", r, image)  # (K_n, C, out_h, W)
            parts.append(torch.einsum("kcpw,kqw->kcpq", t, c))  # (K_n, C, out_h, out_w)
    if not parts:
        return input.new_zeros(0, input.shape[1], rows.shape[1], cols.shape[1])
    return torch.cat(parts)[torch.argsort(order)]  # back to the order of the boxes
