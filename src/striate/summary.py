"""Per-layer summary of a model: output shapes, parameters, receptive fields, MACs and tiling warnings.

Hand-written because no peer reports receptive fields per layer: torchinfo and torch's FlopCounterMode give shapes,
parameters and FLOPs, and the receptive-field calculators that exist parse a fixed `nn.Sequential`, so they miss the
residual additions and Inception-style concatenations that live in `forward` code.

How it works: one forward pass of a zero batch of size 1, in eval mode, under `torch.no_grad()`. A
`TorchFunctionMode` sees every torch function call and keeps a receptive-field record per tensor:

- windows (conv1d/2d/3d, max/avg/lp pooling, `*_with_indices`) apply the standard recurrence per spatial dim, with
  k_eff = d (k - 1) + 1: r_out = r_in + (k_eff - 1) j_in, j_out = j_in s and
  start_out = start_in + ((k_eff - 1)/2 - p) j_in, where `start` is the centre of the first output unit's field in
  input coordinates (pixel i has centre i). ceil_mode changes only how many windows there are, not their geometry;
- `F.pad` shifts `start` by the left pad; basic slicing (`x[..., 1:-1, ::2]`) shifts and strides it;
  `permute`/`transpose`/`movedim` move the spatial axes (channels-last blocks keep their fields);
- adaptive pooling to size 1, `linear` over a spatial axis, matmul-like ops and any op after which the spatial dims
  can no longer be found (flatten, view, mean over H and W) make the field "global": the whole input;
- transposed convolutions and resampling (interpolate, pixel shuffle, unpooling, grid sampling) make it "unknown";
- every other op is position-wise and takes, per dim, the union of its inputs' fields, so a residual sum or a concat
  reports the largest field over its paths (the union of intervals when the paths' centres differ). Normalisation is
  treated as position-wise, as is customary, though its statistics read the whole map.

Module forward hooks turn this into one row per leaf-module call, in execution order, plus a row for each call of a
block whose output its own forward code makes (a residual block ending in `F.relu(residual(x) + shortcut(x))`, an
Inception module's `torch.cat`): otherwise the block's last row would be a branch, such as the shortcut, whose field
is smaller than the block's. The block's row comes after its branches' rows and reports the union of their fields.
A non-torch leaf module with `kernel_size` and `stride` attributes (e.g. a locally connected layer built on
`F.unfold`) is treated as a window.
MACs are counted by formula for convolutions, linear layers, matmul-like ops, attention and two-operand einsums
(FLOPs = 2 MACs); ops that torch runs as one opaque call, such as `F.multi_head_attention_forward`, count 0.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.MaxPool2d(2))
    >>> summarize(model, (1, 28, 28)).rows[-1].receptive_field.size
    (6, 6)
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from numbers import Integral

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

from striate.errors import ShapeError, StriateError

SPATIAL_NAMES = {0: (), 1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
CLIP_NAMES = ("T", "H", "W")
"""The spatial dims of a clip `(C, T, H, W)`: time, then the frame; a volume's `(C, D, H, W)` are depth, H, W."""


def spatial_names(model: nn.Module, ndim: int) -> tuple[str, ...]:
    """Names of a model's `ndim` spatial dims: T, H, W for clip models (those that say `input_kind = "clip"`, or whose
    features are "spatiotemporal" and say no kind), D, H, W for volumes and other 3-D inputs, else `SPATIAL_NAMES`."""
    from striate.models._base import unwrap

    inner = unwrap(model)
    kind = getattr(inner, "input_kind", None)
    if kind is None and getattr(inner, "feature_layout", None) == "spatiotemporal":
        kind = "clip"
    return CLIP_NAMES if ndim == 3 and kind == "clip" else SPATIAL_NAMES[ndim]


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a tensor's first unit, per spatial dim, in input pixels.

    Attributes:
        kind: "local" (size, jump and start are known), "global" (the whole input; size is the input size) or
            "unknown" (an op the tracker cannot follow, such as a transposed convolution).
        size: Extent of the field per dim.
        jump: Distance in input pixels between neighbouring units (the effective stride); None unless local.
        start: Centre of the first unit's field in input coordinates; unit i sits at start + i * jump.
    """

    kind: str
    size: tuple[float, ...] = ()
    jump: tuple[float, ...] | None = None
    start: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("size", "jump", "start"):
            values = getattr(self, name)
            if values is not None:
                object.__setattr__(self, name, tuple(_number(v) for v in values))

    def centre(self, index: Sequence[int]) -> tuple[float, ...]:
        """Centre of unit `index` (one int per spatial dim) in input coordinates; local fields only."""
        if self.kind != "local":
            raise ShapeError(f"Invalid receptive field for `centre`: expected kind 'local', received {self.kind!r}.")
        return tuple(s + i * j for s, i, j in zip(self.start, index, self.jump, strict=True))


@dataclass(frozen=True)
class LayerRow:
    """One call of a leaf module, or of a block whose output is made by its own forward code (see the module notes).

    Attributes:
        name: Dotted path in the model ("features.0"), with " (call k)" for the k-th call of a reused module.
        type: Class name.
        output_shape: Shape of the first output tensor without the batch dim, or None.
        params: Trainable parameters (0 on repeated calls, so the column sums to the total); for a block, only those
            it holds itself, its children's being on their own rows.
        receptive_field: Field of the output's first unit, or None when the output does not derive from the input.
        macs: Multiply-accumulates of this call for one sample; for a block, those of the ops in its own forward code.
    """

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    params: int
    receptive_field: ReceptiveField | None
    macs: int


# --------------------------------------------------------------------------------------------- receptive-field records


@dataclass(frozen=True)
class _Record:
    """A tensor's field plus where its spatial dims are (negative axes) and their sizes; axes None unless local."""

    rf: ReceptiveField
    axes: tuple[int, ...] | None = None
    extent: tuple[int, ...] | None = None


UNKNOWN = _Record(ReceptiveField("unknown"))


@dataclass(frozen=True)
class _Window:
    """Geometry of a sliding window along each spatial dim (pad_total = left + right padding)."""

    kernel: tuple[int, ...]
    stride: tuple[float, ...]
    pad_left: tuple[float, ...]
    pad_total: tuple[float, ...]
    dilation: tuple[int, ...]
    ceil_mode: bool = False

    @property
    def span(self) -> tuple[int, ...]:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation, strict=True))


def _apply_window(rf: ReceptiveField, window: _Window) -> ReceptiveField:
    """The recurrence for one window layer; global and unknown fields pass unchanged."""
    if rf.kind != "local":
        return rf
    size, jump, start = [], [], []
    for r, j, s, span, stride, pad in zip(
        rf.size, rf.jump, rf.start, window.span, window.stride, window.pad_left, strict=True
    ):
        size.append(r + (span - 1) * j)
        start.append(s + ((span - 1) / 2 - pad) * j)
        jump.append(j * stride)
    return ReceptiveField("local", tuple(size), tuple(jump), tuple(start))


def _union(fields: Sequence[ReceptiveField], input_size: tuple[float, ...]) -> ReceptiveField:
    """Per-dim union of the intervals [start - (size-1)/2, start + (size-1)/2] of position-aligned fields."""
    kinds = {f.kind for f in fields}
    if "unknown" in kinds:
        return UNKNOWN.rf
    if "global" in kinds:
        return ReceptiveField("global", input_size)
    size, jump, start = [], [], []
    for dim in range(len(fields[0].size)):
        low = min(f.start[dim] - (f.size[dim] - 1) / 2 for f in fields)
        high = max(f.start[dim] + (f.size[dim] - 1) / 2 for f in fields)
        size.append(high - low + 1)
        start.append((low + high) / 2)
        jump.append(max(f.jump[dim] for f in fields))
    return ReceptiveField("local", tuple(size), tuple(jump), tuple(start))


def _ntuple(value: object, n: int) -> tuple:
    """An int (or a 1-sequence) repeated n times, or a sequence of length n as a tuple."""
    if isinstance(value, int | float):
        return (value,) * n
    values = tuple(value)
    return values * n if len(values) == 1 else values


def _bind(names: Sequence[str], args: tuple, kwargs: dict, defaults: dict) -> dict:
    """Map a functional call's positional and keyword arguments onto `names`, filling `defaults`."""
    bound = dict(defaults)
    bound.update(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
MAX_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
AVG_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
LP_POOL_ARGS = ("input", "norm_type", "kernel_size", "stride", "ceil_mode")
POOL_DEFAULTS = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False}


def _padding(padding: object, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[tuple, tuple]:
    """(left, total) padding per dim from an int, a tuple, "valid" or "same" (torch puts the odd pixel on the right)."""
    n = len(kernel)
    if padding == "valid":
        return (0,) * n, (0,) * n
    if padding == "same":
        total = tuple(d * (k - 1) for k, d in zip(kernel, dilation, strict=True))
        return tuple(t // 2 for t in total), total
    left = _ntuple(padding, n)
    return left, tuple(2 * p for p in left)


def _make_window(
    kernel: tuple[int, ...], stride: object, padding: object, dilation: object, ceil_mode: bool = False
) -> _Window:
    """A `_Window` from int-or-tuple arguments; a missing stride means stride = kernel, as in pooling."""
    n = len(kernel)
    dilation = _ntuple(dilation, n)
    stride = kernel if stride is None or stride == () or stride == [] else _ntuple(stride, n)
    left, total = _padding(padding, kernel, dilation)
    return _Window(kernel, stride, left, total, dilation, bool(ceil_mode))


def _conv_window(args: tuple, kwargs: dict) -> tuple[Tensor, _Window]:
    b = _bind(CONV_ARGS, args, kwargs, {"stride": 1, "padding": 0, "dilation": 1})
    kernel = tuple(b["weight"].shape[2:])
    return b["input"], _make_window(kernel, b["stride"], b["padding"], b["dilation"])


def _pool_window(names: Sequence[str], n: int) -> Callable[[tuple, dict], tuple[Tensor, _Window]]:
    def parse(args: tuple, kwargs: dict) -> tuple[Tensor, _Window]:
        b = _bind(names, args, kwargs, POOL_DEFAULTS)
        kernel = _ntuple(b["kernel_size"], n)
        return b["input"], _make_window(kernel, b["stride"], b["padding"], b["dilation"], b["ceil_mode"])

    return parse


def _window_parsers() -> dict[Callable, Callable]:
    parsers: dict[Callable, Callable] = {F.conv1d: _conv_window, F.conv2d: _conv_window, F.conv3d: _conv_window}
    for n in (1, 2, 3):
        names = (f"max_pool{n}d", f"max_pool{n}d_with_indices")
        max_pools = (*(getattr(F, name) for name in names), getattr(torch, f"max_pool{n}d"))
        parsers.update(dict.fromkeys(max_pools, _pool_window(MAX_POOL_ARGS, n)))
        parsers[getattr(F, f"avg_pool{n}d")] = _pool_window(AVG_POOL_ARGS, n)
        parsers[getattr(F, f"lp_pool{n}d")] = _pool_window(LP_POOL_ARGS, n)
    return parsers


WINDOW_OPS = _window_parsers()
ADAPTIVE_OPS = {
    getattr(F, f"adaptive_{kind}_pool{n}d{suffix}"): n
    for n in (1, 2, 3)
    for kind, suffix in (("avg", ""), ("max", ""), ("max", "_with_indices"))
}
UNKNOWN_OPS = {
    F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d, F.interpolate, F.upsample, F.upsample_nearest,
    F.upsample_bilinear, F.pixel_shuffle, F.pixel_unshuffle, F.grid_sample, F.fold, F.max_unpool1d, F.max_unpool2d,
    F.max_unpool3d, torch.roll, Tensor.roll, torch.flip, Tensor.flip,
}
GLOBAL_OPS = {
    torch.einsum, torch.tensordot, F.bilinear, F.scaled_dot_product_attention, F.multi_head_attention_forward,
    torch.bmm, Tensor.bmm, torch.baddbmm, Tensor.baddbmm,
}
PERMUTE_OPS = {
    torch.permute, Tensor.permute, torch.transpose, Tensor.transpose, torch.swapaxes, Tensor.swapaxes,
    torch.swapdims, Tensor.swapdims, torch.movedim, Tensor.movedim, torch.moveaxis, Tensor.moveaxis,
}
CONSTANT_OPS = {
    torch.zeros_like, torch.ones_like, torch.empty_like, torch.full_like, torch.rand_like, torch.randn_like,
    torch.randint_like, Tensor.new_zeros, Tensor.new_ones, Tensor.new_empty, Tensor.new_full, Tensor.new_tensor,
}
MATMUL_LHS = {
    F.linear: 0, torch.matmul: 0, Tensor.matmul: 0, Tensor.__matmul__: 0, torch.mm: 0, Tensor.mm: 0,
    torch.addmm: 1, Tensor.addmm: 1,
}
"""Ops that contract the last dim of the operand at this position: global only when that dim is spatial."""


def _shape_at(tensor: Tensor, axes: tuple[int, ...]) -> tuple[int, ...] | None:
    if axes and tensor.ndim < -min(axes):
        return None
    return tuple(tensor.shape[a] for a in axes)


def _local(rf: ReceptiveField, axes: tuple[int, ...], out: Tensor) -> _Record:
    """Attach `rf` to `out`, whose spatial dims sit at `axes`."""
    return _Record(rf, axes, _shape_at(out, axes))


def _tiling_warnings(where: str, tensor: Tensor, window: _Window, names: Sequence[str] | None = None) -> list[str]:
    """Messages for dims where (W - K + 2P)/S + 1 is not an integer, K being the dilated kernel span."""
    n = len(window.kernel)
    messages, names = [], names or SPATIAL_NAMES[n]
    for dim, size, span, stride, left, total in zip(
        names, tensor.shape[-n:], window.span, window.stride, window.pad_left, window.pad_total, strict=True
    ):
        excess = (size - span + total) % stride
        if excess == 0:
            continue
        pad = f"2*{left}" if 2 * left == total else f"{left}+{total - left}"
        value = (size - span + total) / stride + 1
        if window.ceil_mode:
            tail = "ceil_mode=True adds a partial last window."
        elif excess > total - left:
            tail = f"the last {excess - (total - left)} input position(s) along {dim} are never read."
        else:
            tail = f"only {excess} position(s) of right padding go unused; no input is lost."
        messages.append(
            f"{where}: along {dim}, ({size} - {span} + {pad})/{stride} + 1 = {value:g} is not an integer "
            f"for input size {size}; {tail}"
        )
    return messages


def _adaptive_window(in_sizes: Sequence[int], out_sizes: Sequence[int],
                     names: Sequence[str] | None = None) -> tuple[_Window, list[str]]:
    """The sliding window equivalent to adaptive pooling; unequal bins give their largest size and a note."""
    kernel, stride, pad, notes = [], [], [], []
    names = names or SPATIAL_NAMES[len(in_sizes)]
    for dim, (n, o) in enumerate(zip(in_sizes, out_sizes, strict=True)):
        lengths = [math.ceil((i + 1) * n / o) - (i * n) // o for i in range(o)]
        kernel.append(max(lengths))
        stride.append(n // o if n % o == 0 else n / o)
        pad.append((max(lengths) - lengths[0]) / 2)
        if n % o:
            notes.append(
                f"along {names[dim]}, {n} input positions do not split evenly into {o} bins "
                f"(bins of {min(lengths)} to {max(lengths)}); the reported field is that of the largest bin."
            )
    window = _Window(tuple(kernel), tuple(stride), tuple(pad), tuple(2 * p for p in pad), (1,) * len(kernel))
    return window, notes


def _axis_permutation(func: Callable, args: tuple, kwargs: dict) -> list[int]:
    """For a permute-like call, the input dim that each output dim comes from (probed on a meta tensor)."""
    probe = torch.empty(tuple(range(2, args[0].ndim + 2)), device="meta")  # distinct sizes 2, 3, ...
    return [size - 2 for size in func(probe, *args[1:], **kwargs).shape]


def _index_map(index: object, shape: Sequence[int]) -> list[tuple[int, int, int]] | None:
    """For basic indexing, (input dim or -1 for a new axis, first, step) per output dim; None for other indices."""
    items = list(index) if isinstance(index, tuple) else [index]
    simple = (int, slice, type(None), type(Ellipsis))
    if any(isinstance(i, bool) or not isinstance(i, simple) for i in items) or items.count(Ellipsis) > 1:
        return None
    fill = [slice(None)] * (len(shape) - sum(isinstance(i, int | slice) for i in items))
    at = items.index(Ellipsis) if Ellipsis in items else len(items)
    items = items[:at] + fill + items[at + 1:]
    mapping, dim = [], 0
    for item in items:
        if item is None:
            mapping.append((-1, 0, 1))
            continue
        if isinstance(item, slice):
            first, _, step = item.indices(shape[dim])
            mapping.append((dim, first, step))
        dim += 1
    return mapping


def _macs(func: Callable, args: tuple, kwargs: dict, out: object) -> int:
    """Multiply-accumulates of one call, by formula; 0 for ops that are not products."""
    if func in (F.conv1d, F.conv2d, F.conv3d):
        return out.numel() * math.prod(_bind(CONV_ARGS, args, kwargs, {})["weight"].shape[1:])
    if func in (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d):
        b = _bind(CONV_ARGS, args, kwargs, {})
        return b["input"].numel() * math.prod(b["weight"].shape[1:])  # weight (C_in, C_out/g, *k)
    if func in MATMUL_LHS and isinstance(out, Tensor):
        lhs = [*args, *kwargs.values()][MATMUL_LHS[func]]
        return out.numel() * (lhs.shape[-1] if isinstance(lhs, Tensor) and lhs.ndim else 1)
    if func in (torch.bmm, Tensor.bmm, torch.baddbmm, Tensor.baddbmm):
        lhs = args[0] if func in (torch.bmm, Tensor.bmm) else args[1]
        return out.numel() * lhs.shape[-1]
    if func is torch.einsum:
        return _einsum_macs(args)
    if func is F.scaled_dot_product_attention:
        query, key, value = args[:3]
        return query.numel() // query.shape[-1] * key.shape[-2] * (query.shape[-1] + value.shape[-1])
    return 0


def _einsum_macs(args: tuple) -> int:
    """Product of all index sizes for a two-operand einsum without '...'; 0 otherwise."""
    equation, operands = args[0], args[1:]
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    terms = equation.replace(" ", "").split("->")[0].split(",")
    if len(operands) != 2 or "..." in equation or len(terms) != 2:
        return 0
    sizes = {}
    for term, operand in zip(terms, operands, strict=True):
        sizes.update(zip(term, operand.shape, strict=False))
    return math.prod(sizes.values())


# ------------------------------------------------------------------------------------------------------------ tracking


@dataclass
class _Frame:
    """One module call in progress: where MACs and warnings go, and the field of its first input."""

    name: str
    type: str
    input_record: _Record | None = None
    macs: int = 0


class _Tracker(TorchFunctionMode):
    """Keeps a `_Record` per tensor during one forward pass and counts MACs per module call.

    torch disables the mode while `__torch_function__` runs, so the ops used here are not tracked themselves.
    Handlers take (func, args, kwargs, input records, one output tensor) and return the output's record.
    """

    def __init__(self, x: Tensor, root: str, names: tuple[str, ...] | None = None) -> None:
        super().__init__()
        spatial = tuple(x.shape[2:])  # x: (1, C, *spatial)
        d = len(spatial)
        self.names = names or SPATIAL_NAMES.get(d, ())
        self.input_size = tuple(float(s) for s in spatial)
        self.records = WeakIdKeyDictionary()
        first = ReceptiveField("local", (1.0,) * d, (1.0,) * d, (0.0,) * d)
        self.records[x] = _Record(first, tuple(range(-d, 0)), spatial)
        self.frames = [_Frame("(model)", root)]
        self.total_macs = 0
        self.warnings: list[str] = []
        self.handlers: dict[Callable, Callable] = {
            **dict.fromkeys(WINDOW_OPS, self._window), **dict.fromkeys(ADAPTIVE_OPS, self._adaptive),
            **dict.fromkeys(UNKNOWN_OPS, lambda *_: UNKNOWN), **dict.fromkeys(GLOBAL_OPS, lambda *_: self._global()),
            **dict.fromkeys(MATMUL_LHS, self._matmul), **dict.fromkeys(PERMUTE_OPS, self._permute),
            F.pad: self._pad, Tensor.__getitem__: self._getitem,
        }

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outputs = [t for t in tree_leaves(out) if isinstance(t, Tensor)]
        if not outputs or func in CONSTANT_OPS:
            return out
        macs = _macs(func, args, kwargs, out)
        self.frames[-1].macs += macs
        self.total_macs += macs
        if func in WINDOW_OPS:
            source, window = WINDOW_OPS[func](args, kwargs)
            self.warnings += _tiling_warnings(self.where(), source, window, self._names(len(window.kernel)))
        inputs = [r for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor) and (r := self.records.get(t))]
        if inputs:
            handler = self.handlers.get(func, self._pointwise)
            for tensor in outputs:
                self.records[tensor] = handler(func, args, kwargs, inputs, tensor)
        return out

    def _names(self, rank: int) -> tuple[str, ...] | None:
        """The input's dim names (T for a clip's time) for a window over as many dims; None for other ranks."""
        return self.names if rank == len(self.names) else None

    def where(self) -> str:
        frame = self.frames[-1]
        return f"Layer `{frame.name}` ({frame.type})"

    def _global(self) -> _Record:
        return _Record(ReceptiveField("global", self.input_size))

    def _pointwise(self, func: Callable, args: tuple, kwargs: dict, inputs: list[_Record], out: Tensor) -> _Record:
        """Union over inputs; global when `out` no longer has an input's spatial dims where they were."""
        local = [r for r in inputs if r.rf.kind == "local"]
        if any(_shape_at(out, r.axes) != r.extent for r in local):
            return self._global()  # flattened, reduced over space, or broadcast from a size-1 map
        if len({r.axes for r in local}) > 1:
            return UNKNOWN
        rf = _union([r.rf for r in inputs], self.input_size)
        return _local(rf, local[0].axes, out) if rf.kind == "local" else _Record(rf)

    def _windowed(self, source: Tensor, window: _Window, inputs: list[_Record], out: Tensor) -> _Record:
        """`window` slid over `source`'s trailing dims; global if another operand (a weight) derives from the input."""
        record = self.records.get(source)
        n = len(window.kernel)
        if record is None or len(inputs) > 1 or any(r is not record for r in inputs):
            return self._global()
        if record.rf.kind != "local":
            return record
        if record.axes != tuple(range(-n, 0)):
            return UNKNOWN  # the window runs over dims that are not the tracked spatial ones
        return _local(_apply_window(record.rf, window), record.axes, out)

    def _window(self, func: Callable, args: tuple, kwargs: dict, inputs: list[_Record], out: Tensor) -> _Record:
        source, window = WINDOW_OPS[func](args, kwargs)
        return self._windowed(source, window, inputs, out)

    def _adaptive(self, func: Callable, args: tuple, kwargs: dict, inputs: list[_Record], out: Tensor) -> _Record:
        n = ADAPTIVE_OPS[func]
        b = _bind(("input", "output_size"), args, kwargs, {})
        in_sizes = tuple(b["input"].shape[-n:])
        out_sizes = tuple(i if o is None else o for i, o in zip(in_sizes, _ntuple(b["output_size"], n), strict=True))
        if all(o == 1 for o in out_sizes):
            return self._global()
        window, notes = _adaptive_window(in_sizes, out_sizes, self._names(len(in_sizes)))
        self.warnings += [f"{self.where()}: {note}" for note in notes]
        return self._windowed(b["input"], window, inputs, out)

    def _matmul(self, func: Callable, args: tuple, kwargs: dict, inputs: list[_Record], out: Tensor) -> _Record:
        """Global when the contracted last dim of the data operand is spatial; otherwise position-wise."""
        operands = [*args, *kwargs.values()]
        data = operands[MATMUL_LHS[func]]
        record = self.records.get(data) if isinstance(data, Tensor) else None
        others = [r for r in inputs if r is not record]
        if record is None or others or (record.rf.kind == "local" and -1 in record.axes):
            return self._global()
        return self._pointwise(func, args, kwargs, inputs, out)

    def _permute(self, func: Callable, args: tuple, kwargs: dict, inputs: list[_Record], out: Tensor) -> _Record:
        record = inputs[0]
        if record.rf.kind != "local":
            return record
        if not args or not isinstance(args[0], Tensor):
            return UNKNOWN  # called with keyword arguments only; not worth probing
        source = _axis_permutation(func, args, kwargs)  # out dim i comes from input dim source[i]
        axes = tuple(source.index(a % args[0].ndim) - out.ndim for a in record.axes)
        return _local(record.rf, axes, out)

    def _pad(self, func: Callable, args: tuple, kwargs: dict, inputs: list[_Record], out: Tensor) -> _Record:
        """Padding shifts `start` by the left pad; the pad list runs from the last dim backwards."""
        b = _bind(("input", "pad"), args, kwargs, {})
        record = inputs[0]
        if record.rf.kind != "local":
            return record
        pad, rf, start = list(b["pad"]), record.rf, []
        for s, j, axis in zip(rf.start, rf.jump, record.axes, strict=True):
            slot = 2 * (-axis - 1)  # pad = (last_left, last_right, second_last_left, ...)
            start.append(s - (pad[slot] if slot < len(pad) else 0) * j)
        return _local(replace(rf, start=tuple(start)), record.axes, out)

    def _getitem(self, func: Callable, args: tuple, kwargs: dict, inputs: list[_Record], out: Tensor) -> _Record:
        """Basic slicing shifts `start` by the first index and multiplies `jump` by the step."""
        source, record = args[0], self.records.get(args[0])
        mapping = _index_map(args[1], source.shape) if record is not None and len(inputs) == 1 else None
        if mapping is None or record.rf.kind != "local":
            return self._pointwise(func, args, kwargs, inputs, out)
        found = {dim: (i, first, step) for i, (dim, first, step) in enumerate(mapping) if dim >= 0}
        positions = [found.get(a % source.ndim) for a in record.axes]
        if None in positions:
            return UNKNOWN  # a spatial dim was indexed away
        rf = record.rf
        start = tuple(s + first * j for s, j, (_, first, _) in zip(rf.start, rf.jump, positions, strict=True))
        jump = tuple(j * step for j, (_, _, step) in zip(rf.jump, positions, strict=True))
        axes = tuple(i - len(mapping) for i, _, _ in positions)
        return _local(replace(rf, jump=jump, start=start), axes, out)


# ---------------------------------------------------------------------------------------------------------- modules


def _first_tensor(value: object) -> Tensor | None:
    return next((t for t in tree_leaves(value) if isinstance(t, Tensor)), None)


TORCH_WINDOWS = (
    nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._LPPoolNd, nn.Unfold, nn.Fold,
)
"""Modules whose functional ops the tracker already follows, so their attributes are not read as a window."""


def _module_window(module: nn.Module, n: int) -> _Window | None:
    """A window from `kernel_size`/`stride`/`padding`/`dilation` of a leaf module torch does not define, else None."""
    if isinstance(module, TORCH_WINDOWS) or next(module.children(), None) is not None:
        return None
    if not all(hasattr(module, attribute) for attribute in ("kernel_size", "stride")):
        return None
    kernel = _ntuple(module.kernel_size, n)
    if len(kernel) != n:
        return None
    return _make_window(kernel, module.stride, getattr(module, "padding", 0), getattr(module, "dilation", 1))


class _Recorder:
    """Forward hooks on every module: a frame per call, a row per leaf call, windows for custom local layers."""

    def __init__(self, model: nn.Module, tracker: _Tracker) -> None:
        self.tracker, self.rows, self.calls = tracker, [], {}
        self.last_output: Tensor | None = None  # the tensor the latest row describes
        self.handles = []
        for name, module in model.named_modules():
            self.handles.append(module.register_forward_pre_hook(self._pre(name or "(model)")))
            self.handles.append(module.register_forward_hook(self._post(name or "(model)"), always_call=True))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.last_output = None

    def _pre(self, name: str) -> Callable:
        def hook(module: nn.Module, args: tuple) -> None:
            source = _first_tensor(args)
            record = None if source is None else self.tracker.records.get(source)
            self.tracker.frames.append(_Frame(name, type(module).__name__, record))

        return hook

    def _post(self, name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            frame = self.tracker.frames.pop()
            out = _first_tensor(output)
            if out is not None:
                self._custom_window(module, frame, _first_tensor(args), out)
            if next(module.children(), None) is None or self._made_by_block(name, out):
                self._add_row(name, module, frame, out)

        return hook

    def _made_by_block(self, name: str, out: Tensor | None) -> bool:
        """Whether a block's output is new, made after its last child ran; the model itself has the totals row."""
        return name != "(model)" and out is not None and out is not self.last_output

    def _custom_window(self, module: nn.Module, frame: _Frame, source: Tensor | None, out: Tensor) -> None:
        record = frame.input_record
        if source is None or record is None or record.rf.kind != "local" or out.ndim != source.ndim:
            return
        window = _module_window(module, len(record.axes))
        if window is None or record.axes != tuple(range(-len(record.axes), 0)):
            return
        names = self.tracker._names(len(window.kernel))
        self.tracker.warnings += _tiling_warnings(f"Layer `{frame.name}` ({frame.type})", source, window, names)
        self.tracker.records[out] = _local(_apply_window(record.rf, window), record.axes, out)

    def _add_row(self, name: str, module: nn.Module, frame: _Frame, out: Tensor | None) -> None:
        call = self.calls[name] = self.calls.get(name, 0) + 1
        own = module.parameters(recurse=False)  # a leaf's are all its own; a block's children have their rows
        params = sum(p.numel() for p in own if p.requires_grad) if call == 1 else 0
        self.last_output = out
        record = None if out is None else self.tracker.records.get(out)
        self.rows.append(LayerRow(
            name if call == 1 else f"{name} (call {call})", type(module).__name__,
            None if out is None else tuple(out.shape[1:]), params, None if record is None else record.rf, frame.macs,
        ))


@contextmanager
def _eval_mode(model: nn.Module):
    """Eval mode for the pass (dropout off, batch norm on running stats); each module's own flag is restored."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


def _check_input_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else None
    if not shape or len(shape) > 4 or any(isinstance(s, bool) or not isinstance(s, Integral) or s < 1 for s in shape):
        raise ShapeError(
            "Invalid `input_shape`: expected positive ints without the batch dim, (C,), (C, L), (C, H, W) or "
            f"(C, D, H, W), received {input_shape!r}."
        )
    return tuple(int(s) for s in shape)


def summarize(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    dim_names: Sequence[str] | None = None,
) -> ModelSummary:
    """Run one sample through `model` and report every leaf layer, in execution order.

    Args:
        model: Any module; it must already live on `device`. It runs once in eval mode under `torch.no_grad()`; its
            training flags are restored afterwards.
        input_shape: One sample's shape without the batch: (C, L), (C, H, W) or (C, D, H, W); (C,) for models
            without spatial dims.
        device: Where the zero input batch (1, *input_shape) is created.
        dtype: Its dtype.
        dim_names: Names of the spatial dims, e.g. ("T", "H", "W") for a clip's time and frame; by default from the
            model (`spatial_names`): T for clip models, D (depth) for volumes and other 3-D inputs.

    Returns:
        A `ModelSummary`; its MACs are for one sample.

    Raises:
        ShapeError: For a malformed `input_shape`, or when the model's forward fails on it.
    """
    shape = _check_input_shape(input_shape)
    x = torch.zeros((1, *shape), device=device, dtype=dtype)  # (1, C, *spatial)
    names = tuple(dim_names) if dim_names is not None else spatial_names(model, len(shape) - 1)
    if len(names) != len(shape) - 1:
        raise ShapeError(f"Invalid `dim_names` {names}: expected one name per spatial dim of input shape {shape}, "
                         f"{len(shape) - 1} names.")
    tracker = _Tracker(x, type(model).__name__, names)
    recorder = _Recorder(model, tracker)
    try:
        with _eval_mode(model), torch.no_grad(), tracker:
            out = model(x)
    except StriateError:
        raise
    except (RuntimeError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ShapeError(
            f"Invalid `input_shape` {shape}: expected a sample shape the model accepts, but its forward on a zero "
            f"batch of shape {tuple(x.shape)} and dtype {dtype} failed with: {first_line}"
        ) from error
    finally:
        recorder.remove()
    return _build_summary(model, shape, tracker, recorder, _first_tensor(out))


def _build_summary(
    model: nn.Module, shape: tuple, tracker: _Tracker, recorder: _Recorder, out: Tensor | None
) -> ModelSummary:
    record = None if out is None else tracker.records.get(out)
    return ModelSummary(
        input_shape=shape,
        output_shape=None if out is None else tuple(out.shape[1:]),
        output_receptive_field=None if record is None else record.rf,
        rows=recorder.rows,
        total_params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        macs=tracker.total_macs,
        warnings=list(dict.fromkeys(tracker.warnings)),
        spatial_names=tracker.names,
    )


# -------------------------------------------------------------------------------------------------------- rendering


def _number(value: float) -> int | float:
    """An int when the float is integral (JSON and tables read better), else the float."""
    return int(value) if float(value).is_integer() else float(value)


def _joined(values: Sequence[float] | None, sep: str = "x") -> str:
    return sep.join(f"{_number(v):.6g}" for v in values or ()) or "-"


def _rf_cells(rf: ReceptiveField | None) -> tuple[str, str, str]:
    """(RF, jump, start) as table cells."""
    if rf is None:
        return "-", "-", "-"
    if rf.kind == "unknown":
        return "?", "?", "?"
    if rf.kind == "global":
        return f"global ({_joined(rf.size)})", "-", "-"
    return _joined(rf.size), _joined(rf.jump), f"({_joined(rf.start, ', ')})" if rf.start else "-"


def _rf_dict(rf: ReceptiveField | None) -> dict | None:
    if rf is None:
        return None
    def plain(values: Sequence[float] | None) -> list | None:
        return None if values is None else [_number(v) for v in values]

    return {"kind": rf.kind, "size": plain(rf.size), "jump": plain(rf.jump), "start": plain(rf.start)}


@dataclass
class ModelSummary:
    """What `summarize` found. Shapes exclude the batch; MACs are per sample and FLOPs = 2 MACs.

    Attributes:
        input_shape: The sample shape given to `summarize`.
        output_shape: Shape of the model's first output tensor, or None.
        output_receptive_field: Field of that tensor's first unit, after any functional ops that follow the last
            leaf module (a residual sum, a concatenation).
        rows: One `LayerRow` per leaf-module call, in execution order.
        total_params: All parameters, each shared one once.
        trainable_params: Those with `requires_grad`.
        macs: All multiply-accumulates counted, including functional ops outside leaf modules.
        warnings: Windows that do not tile their input, "(W - K + 2P)/S + 1 is not an integer", and uneven
            adaptive-pooling bins; one message each.
        spatial_names: Names of the spatial dims: ("L",), ("H", "W"), ("T", "H", "W") for clips (time) or
            ("D", "H", "W") for volumes (depth).
    """

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None
    output_receptive_field: ReceptiveField | None
    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    macs: int
    warnings: list[str] = field(default_factory=list)
    spatial_names: tuple[str, ...] = ("H", "W")

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def table(self) -> Table:
        """The rows as a rich Table (layer, type, output shape, params, RF, jump, start, MACs) with a totals row."""
        dims = "x".join(self.spatial_names) or "-"
        table = Table(title=f"Model summary, input {tuple(self.input_shape)}", caption=self._caption())
        for header in ("layer", "type", "output shape"):
            table.add_column(header)
        for header in ("params", f"RF ({dims})", "jump", "start", "MACs"):
            table.add_column(header, justify="right")
        for row in self.rows:
            shape = "-" if row.output_shape is None else str(row.output_shape)
            cells = _rf_cells(row.receptive_field)
            table.add_row(row.name, row.type, shape, f"{row.params:,}", *cells, f"{row.macs:,}")
        table.add_section()
        output = "-" if self.output_shape is None else str(self.output_shape)
        rf, jump, start = _rf_cells(self.output_receptive_field)
        params, macs = f"{self.trainable_params:,}", f"{self.macs:,}"
        table.add_row("total", "", output, params, rf, jump, start, macs, style="bold")
        return table

    def _caption(self) -> str:
        frozen = self.total_params - self.trainable_params
        return (
            f"params: {self.total_params:,} ({frozen:,} frozen) · MACs per sample: {self.macs:,} · "
            f"FLOPs: {self.flops:,}"
        )

    @property
    def deepest_field(self) -> LayerRow | None:
        """The last row with a local receptive field: the deepest map before pooling or flattening makes it global."""
        rows = [row for row in self.rows if row.receptive_field is not None and row.receptive_field.kind == "local"]
        return rows[-1] if rows and len(rows[-1].receptive_field.size) == len(self.spatial_names) else None

    def field_line(self) -> str:
        """'receptive field of the deepest map (`features.19`): T 18 x H 18 x W 18', each dim named (T: time in
        frames, D: depth), or '' when no layer has a local field."""
        row = self.deepest_field
        if row is None:
            return ""
        sizes = " x ".join(f"{n} {_number(v):g}" for n, v in zip(self.spatial_names, row.receptive_field.size,
                                                                     strict=True))
        return f"receptive field of the deepest map (`{row.name}`): {sizes}"

    def print(self, console: Console | None = None) -> None:
        """Print the table, then the warnings, to `console` (a new rich Console by default)."""
        console = console or Console()
        console.print(self.table())
        if self.field_line():
            console.print(self.field_line(), highlight=False)
        for message in self.warnings:
            console.print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of everything above."""
        return {
            "input_shape": list(self.input_shape),
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "output_receptive_field": _rf_dict(self.output_receptive_field),
            "spatial_dims": list(self.spatial_names),
            "deepest_field": None if self.deepest_field is None else {
                "layer": self.deepest_field.name, **_rf_dict(self.deepest_field.receptive_field)},
            "layers": [self._row_dict(row) for row in self.rows],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "macs": self.macs,
            "flops": self.flops,
            "warnings": list(self.warnings),
        }

    @staticmethod
    def _row_dict(row: LayerRow) -> dict:
        return {
            "name": row.name, "type": row.type,
            "output_shape": None if row.output_shape is None else list(row.output_shape),
            "params": row.params, "receptive_field": _rf_dict(row.receptive_field), "macs": row.macs,
            "flops": 2 * row.macs,
        }

    def __str__(self) -> str:
        console = Console(file=io.StringIO(), width=160, color_system=None)
        self.print(console)
        return console.file.getvalue()
