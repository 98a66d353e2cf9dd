"""Declarative model specs: a network written as YAML (or the same structure as Python dicts), shapes inferred.

A spec lists layers by their name in `striate.layers.LAYERS` with that class's own arguments, minus every input size:
`in_channels`, `in_features`, `num_features`, `num_channels` and `input_size` are read off the incoming shape (giving
one anyway is allowed only when it equals the inferred value, so copied configs stay checkable). Three composite
entries build non-sequential graphs, and a `$name` string stands for a parameter:

    name: small-resnet
    input_shape: [1, 28, 28]        # optional default input shape: (F,), (C, L), (C, H, W) or (C, D, H, W)
    num_classes: 10                 # optional default class count
    blocks:                         # named reusable layer lists; `$width` is filled from the reference's `args`
      conv_bn:
        - {type: conv2d, out_channels: $width, kernel_size: 3, padding: 1, bias: false}
        - batchnorm2d
    layers:
      - {type: block, name: conv_bn, args: {width: 16}, repeat: 2}     # repeat: copies in sequence
      - relu                                                            # a bare name: the layer with no arguments
      - {type: residual, layers: [...], shortcut: projection, activation: relu}   # shortcut: identity (default)
      - {type: concat, branches: [[...], [...], []]}                    # along channels; [] passes the input through
      - global_avg_pool
      - {type: linear}              # the last top-level linear defaults to out_features: $num_classes

Built modules mirror the spec, and error messages name layers by the same path: entry 1 inside layer 4 is
`features.4.layers.1` for a residual, `features.4.branches.2.1` in concat branch 2, `features.4.0.1` in a block's first
copy. `$num_classes` may appear anywhere; other `$names` only inside a block, scoped to it (a nested block sees only
the arguments its own reference passes).

Shapes are inferred by running each layer once on a zero example (batch 1, eval mode, no gradients), so every layer
of `LAYERS` works without a shape rule of its own, except the two-input RoI layers. Linear layers need a flat input
(a forgotten `flatten` is an error, not a linear map over the last axis), and softmax / log_softmax default to dim 1.
Errors are one line naming the layer, its incoming shape and what it needed, e.g. "Invalid `kernel_size` for layer 3
(conv2d): expected at most the padded input size 4x4, received 5x5 (incoming shape 16x4x4)."
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from striate.errors import ConfigError, ShapeError, StriateError, did_you_mean
from striate.layers import LAYERS, CapsuleLength, DynamicRouting, GlobalAvgPool, GlobalMaxPool, conv_output_size
from striate.layers._utils import _is_int
from striate.models._base import Classifier
from striate.models._utils import run_layers

__all__ = ["Concat", "Residual", "SpecModel", "build_spec", "is_spec_path", "load_spec"]

Shape = tuple[int, ...]
MAX_LAYERS = 10_000
"""The most layer entries a spec may expand to (composites and every copy of a repeated block included)."""

_SPEC_KEYS = ("name", "description", "paper", "input_shape", "num_classes", "blocks", "layers")
_INFERRED = ("in_channels", "in_features", "num_features", "num_channels", "input_size")
_LINEAR_TYPES = ("linear", "dropconnect_linear")
_VARIABLE = re.compile(r"\$([A-Za-z_]\w*)")
# Torch's implicit softmax dim is 0 for 3-D input, the batch; in a spec the class/channel dim 1 is always meant.
_LAYER_DEFAULTS = {"softmax": {"dim": 1}, "log_softmax": {"dim": 1}}
_LAYOUTS = {0: "(F,)", 1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}
_FEATURE_LAYOUTS = {1: "vector", 2: "temporal", 3: "spatial", 4: "spatiotemporal"}  # by rank without the batch
_MAP_ENDS = (nn.Flatten, GlobalAvgPool, GlobalMaxPool, DynamicRouting, CapsuleLength)


# --------------------------------------------------------------------------------------------------- composite modules


class Residual(nn.Module):
    """y = activation(layers(x) + shortcut(x)), the residual unit of He et al. (2016).

    Shapes:
        Input: (N, C, *spatial) -> Output: the shape `layers` gives, (N, C_out, *spatial_out); `shortcut` must map
        the input to that same shape (identity, or a strided 1x1 convolution with batch norm for a projection).

    Args:
        layers: The residual branch F.
        shortcut: The skip path; None for the identity.
        activation: Applied after the sum; None for none.

    Example:
        >>> import torch
        >>> body = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.BatchNorm2d(8))
        >>> Residual(body, activation=torch.nn.ReLU())(torch.randn(2, 8, 5, 5)).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(self, layers: nn.Module, shortcut: nn.Module | None = None, activation: nn.Module | None = None):
        super().__init__()
        self.layers = layers
        self.shortcut = nn.Identity() if shortcut is None else shortcut
        self.activation = nn.Identity() if activation is None else activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.layers(x) + self.shortcut(x))


class Concat(nn.Module):
    """Parallel branches on one input, concatenated along channels (an Inception module, Szegedy et al. 2015).

    Shapes:
        Input: (N, C, *spatial) -> Output: (N, C_1 + ... + C_k, *spatial_out), every branch giving spatial_out.

    Example:
        >>> import torch
        >>> branches = [torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.Identity()]
        >>> Concat(branches)(torch.randn(2, 3, 8, 8)).shape
        torch.Size([2, 13, 8, 8])
    """

    def __init__(self, branches: Sequence[nn.Module]):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)  # (N, sum C_i, *spatial)


class SpecModel(Classifier):
    """A network built from a spec by `build_spec`, with the `Classifier` interface.

    The last top-level linear layer is `head`; the layers before it are `features` and any after it `tail`
    (`tail` is None when nothing follows the head). A spec without a top-level linear layer (an all-convolutional
    net) has an identity head, and `reset_classifier` then refuses.

    `forward_features` returns the unpooled map: it stops before the first top-level layer of `features` that ends
    the map, a `flatten`, a global pool (`global_avg_pool`, `global_max_pool`, or an adaptive pool to size 1) or a
    capsule routing / length layer, and runs all of `features` where there is none. `forward_head` runs the rest of
    `features` (pooling, hidden linear layers, dropout), then `head`, then `tail`. Those layers stay inside
    `features`, so state_dict keys keep following the spec (`features.7.weight` for its entry 7); `map_layers` is the
    split. `feature_layout` follows from the map's rank ("vector" for `(N, F)`, "temporal" `(N, C, L)`, "spatial",
    "spatiotemporal"), or is "capsules" where a capsule layer ends it. Composite entries (a residual, a concat, a
    block) are not looked inside: a flatten nested in a block does not end the features.

    Shapes:
        Input: (N, *input_shape) -> Output: (N, *output_shape), (N, num_classes) for a classifier.

    Attributes:
        spec: The normalised spec, JSON-serialisable, recording `input_shape` and `num_classes`:
            `build_spec(model.spec)` rebuilds the same architecture (equal state_dict keys and shapes).
        input_shape: One example's shape, without the batch dimension.
        output_shape: One example's output shape.
        num_classes: The class count the spec was built for, or None.
        map_layers: How many layers of `features` `forward_features` runs.
        feature_layout: How to read `forward_features`' output (see `Classifier`).
    """

    def __init__(self, modules: list[nn.Module], head_index: int | None, spec: dict[str, Any], input_shape: Shape,
                 output_shape: Shape, num_classes: int | None, layer_shapes: Sequence[Shape]):
        """`layer_shapes[i]` is the output shape of `modules[i]` for one example."""
        super().__init__()
        split = len(modules) if head_index is None else head_index
        self.features = nn.Sequential(*modules[:split])
        self.head = nn.Identity() if head_index is None else modules[split]
        # None rather than an empty Sequential, which a per-layer summary would list as a layer of its own.
        self.tail = nn.Sequential(*modules[split + 1:]) if modules[split + 1:] else None
        self.spec, self.input_shape, self.output_shape, self.num_classes = spec, input_shape, output_shape, num_classes
        self._head_index = head_index
        self.map_layers = next((i for i, module in enumerate(modules[:split]) if _ends_map(module)), split)
        ends = modules[self.map_layers] if self.map_layers < split else None
        shape = ([input_shape, *layer_shapes])[self.map_layers]
        capsules = isinstance(ends, DynamicRouting | CapsuleLength)
        self.feature_layout = "capsules" if capsules else _FEATURE_LAYOUTS[len(shape)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return run_layers(self.features, x, stop=self.map_layers)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.head(run_layers(self.features, features, start=self.map_layers))
        return logits if self.tail is None else self.tail(logits)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head (and tail) by fresh layers for `num_classes` classes, keeping the features.

        The spec's head entry becomes `out_features: $num_classes`, so `model.spec` still rebuilds the model.

        Raises:
            ConfigError: When the spec has no top-level linear layer to replace.
        """
        if self._head_index is None:
            raise ConfigError(f"Cannot reset the classifier of spec `{self.spec['name']}`: it has no top-level linear "
                              f"layer; rebuild it with build_spec(model.spec, num_classes={num_classes}) instead.")
        spec = copy.deepcopy(self.spec)
        spec["layers"][self._head_index]["out_features"] = "$num_classes"
        fresh = build_spec(spec, self.input_shape, num_classes)
        weight = self.head.weight
        self.head = fresh.head.to(weight.device, weight.dtype)
        self.tail = None if fresh.tail is None else fresh.tail.to(weight.device, weight.dtype)
        self.spec, self.output_shape, self.num_classes = fresh.spec, fresh.output_shape, num_classes

    def extra_repr(self) -> str:
        return f"name={self.spec['name']!r}, input_shape={self.input_shape}, num_classes={self.num_classes}"


# -------------------------------------------------------------------------------------------------- public entry points


def is_spec_path(value: str | Path) -> bool:
    """Whether `value` names a spec file (ends in .yaml or .yml) rather than a zoo model, e.g. for `--model`."""
    return str(value).lower().endswith((".yaml", ".yml"))


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read a spec file with `yaml.safe_load`; its `name` defaults to the file's stem.

    Raises:
        ConfigError: When the file is missing or unreadable, is not valid YAML, or does not hold a mapping.
    """
    path = Path(path)
    if not path.is_file():
        siblings = [p.name for p in path.parent.glob("*.y*ml")] if path.parent.is_dir() else []
        raise ConfigError(f"Model spec not found: {path} (expected a YAML file).{did_you_mean(path.name, siblings)}")
    from striate.config import safe_yaml, yaml_problem

    try:
        data = safe_yaml(path.read_text(encoding="utf-8"), f"model spec {path}")
    except yaml.YAMLError as error:
        raise ConfigError(f"Invalid YAML in model spec {path}: {yaml_problem(error)}.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Cannot read model spec {path}: {error}.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Invalid model spec {path}: expected a mapping with a `layers` list, received "
                          f"{_describe(data)}.")
    data.setdefault("name", path.stem)
    return data


def build_spec(spec: dict[str, Any] | str | Path, input_shape: Sequence[int] | None = None,
               num_classes: int | None = None) -> SpecModel:
    """Build the network a spec describes, inferring every input size from `input_shape`.

    Args:
        spec: A spec mapping (see the module docstring), or the path of a YAML file holding one.
        input_shape: One example's shape without the batch, e.g. (3, 32, 32); defaults to the spec's `input_shape`.
        num_classes: Fills `$num_classes` and the last linear layer's omitted `out_features`; defaults to the spec's
            `num_classes`. When set, the model must output (N, num_classes).

    Returns:
        A `SpecModel` in training mode; `model.spec` is the normalised, JSON-serialisable spec.

    Raises:
        ConfigError: For a malformed spec: unknown layer type, block or argument, a missing argument, bad YAML.
        ShapeError: When a layer cannot take its incoming shape (naming the layer, the shape and what it needed).

    Example:
        >>> spec = {"layers": [{"type": "conv2d", "out_channels": 8, "kernel_size": 3}, "relu", "flatten", "linear"]}
        >>> model = build_spec(spec, input_shape=(1, 8, 8), num_classes=10)
        >>> model.features[0], model.head
        (Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1)), Linear(in_features=288, out_features=10, bias=True))
    """
    if isinstance(spec, str | Path):
        spec = load_spec(spec)
    spec = _normalise(spec)
    shape = _check_input_shape(spec.get("input_shape") if input_shape is None else input_shape)
    num_classes = _check_num_classes(spec.get("num_classes") if num_classes is None else num_classes)
    spec.update(input_shape=list(shape), num_classes=num_classes)
    spec = {key: spec[key] for key in _SPEC_KEYS if key in spec}  # a stable key order for model.json
    scope = _Scope(spec["blocks"], {"num_classes": num_classes})
    modules, shapes = _walk_layers(spec["layers"], shape, scope, prefix="")
    output_shape = shapes[-1]
    if num_classes is not None and output_shape != (num_classes,):
        raise ShapeError(f"Invalid model spec `{spec['name']}`: expected (N, {num_classes}) class scores for "
                         f"num_classes={num_classes}, received (N, {', '.join(map(str, output_shape))}); leave out "
                         "the last linear layer's `out_features` (or write `$num_classes`).")
    return SpecModel(modules, _head_index(spec["layers"]), spec, shape, output_shape, num_classes, shapes)


# --------------------------------------------------------------------------------------------------- spec checks


def _normalise(spec: Any) -> dict[str, Any]:
    """A JSON-clean deep copy with top-level string entries as {type: name} and the head's out_features explicit."""
    try:
        spec = json.loads(json.dumps(spec))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"Invalid model spec: expected plain YAML values (numbers, strings, booleans, lists and "
                          f"mappings), received {error}.") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"Invalid model spec: expected a mapping with a `layers` list, received {_describe(spec)}.")
    _check_keys(spec, _SPEC_KEYS, "model spec", required=("layers",), noun="key")
    layers, blocks = spec["layers"], spec.setdefault("blocks", {})
    if not isinstance(layers, list) or not layers:
        raise ConfigError(f"Invalid `layers` in model spec: expected a non-empty list, received {layers!r}.")
    if not isinstance(blocks, dict) or not all(isinstance(b, list) and b for b in blocks.values()):
        raise ConfigError("Invalid `blocks` in model spec: expected a mapping of names to non-empty layer lists, "
                          f"received {blocks!r}.")
    spec["name"] = str(spec.get("name") or "spec")
    spec["layers"] = [{"type": entry} if isinstance(entry, str) else entry for entry in layers]
    head = _head_index(spec["layers"])
    if head is not None:
        spec["layers"][head].setdefault("out_features", "$num_classes")
    return spec


def _head_index(layers: list[Any]) -> int | None:
    """Index of the last top-level linear entry, the classifier head, or None."""
    linear = [i for i, e in enumerate(layers) if isinstance(e, dict) and _type_key(e.get("type")) in _LINEAR_TYPES]
    return linear[-1] if linear else None


def _check_input_shape(value: Any) -> Shape:
    if value is None:
        raise ConfigError("Missing `input_shape`: pass input_shape=(C, H, W) to build_spec or set `input_shape:` in "
                          "the spec.")
    if isinstance(value, str) or not isinstance(value, Sequence) or not 1 <= len(value) <= 4 \
            or not all(_is_int(v) and v >= 1 for v in value):
        raise ConfigError(f"Invalid `input_shape`: expected 1 to 4 positive ints such as (3, 32, 32), "
                          f"received {value!r}.")
    return tuple(int(v) for v in value)


def _check_num_classes(value: Any) -> int | None:
    if value is not None and (not _is_int(value) or value < 1):
        raise ConfigError(f"Invalid `num_classes`: expected an int of at least 1, received {value!r}.")
    return None if value is None else int(value)


def _check_keys(entry: dict[str, Any], allowed: Sequence[str], where: str, required: Sequence[str] = (),
                noun: str = "argument") -> None:
    """Raise for a key of `entry` outside `allowed`, or a missing `required` one."""
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise ConfigError(f"Unknown {noun} `{unknown[0]}` for {where}: expected one of "
                          f"{', '.join(sorted(allowed)) or 'no arguments'}.{did_you_mean(unknown[0], allowed)}")
    missing = [key for key in required if key not in entry]
    if missing:
        raise ConfigError(f"Missing {noun} `{missing[0]}` for {where}: expected it along with the optional "
                          f"{', '.join(sorted(set(allowed) - set(required))) or 'none'}.")


# --------------------------------------------------------------------------------------------------- the shape walk


@dataclass(frozen=True)
class _Scope:
    """What an entry can refer to: the named blocks, the `$variables` in force, and the blocks being expanded."""

    blocks: dict[str, list[Any]]
    variables: dict[str, Any]
    stack: tuple[str, ...] = ()
    built: list[int] = field(default_factory=lambda: [0])  # layers built so far, shared by every nested scope

    def where(self, path: str, key: str) -> str:
        return f"layer {path} ({key})" + (f" in block `{self.stack[-1]}`" if self.stack else "")


def _walk_layers(entries: list[Any], shape: Shape, scope: _Scope, prefix: str) -> tuple[list[nn.Module], list[Shape]]:
    """Build `entries` in order from the incoming `shape`; returns the modules and the output shape of each."""
    modules, shapes = [], []
    for index, entry in enumerate(entries):
        scope.built[0] += 1
        if scope.built[0] > MAX_LAYERS:  # nested `repeat`s multiply: stop before memory runs out, not after
            raise ConfigError(f"Invalid model spec: it expands to more than {MAX_LAYERS:,} layers (at layer "
                              f"{prefix}{index}); expected a network of at most that size: check the `repeat` counts.")
        module, shape = _build_entry(entry, shape, scope, f"{prefix}{index}")
        modules.append(module)
        shapes.append(shape)
    return modules, shapes


def _build_layers(entries: list[Any], shape: Shape, scope: _Scope, prefix: str) -> tuple[list[nn.Module], Shape]:
    """Build `entries` in order from the incoming `shape`; returns the modules and the final shape."""
    modules, shapes = _walk_layers(entries, shape, scope, prefix)
    return modules, shapes[-1] if shapes else shape


def _ends_map(module: nn.Module) -> bool:
    """Whether a top-level layer ends the feature map: a flatten, a global pool or a capsule routing / length layer."""
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        size = module.output_size
        return all(side == 1 for side in (size if isinstance(size, tuple) else (size,)))
    return isinstance(module, _MAP_ENDS)


def _build_entry(entry: Any, shape: Shape, scope: _Scope, path: str) -> tuple[nn.Module, Shape]:
    """Build one entry (a layer or a composite) at `path`; returns the module and its output shape."""
    if isinstance(entry, str):
        entry = {"type": entry}
    if not isinstance(entry, dict) or "type" not in entry:
        raise ConfigError(f"Invalid layer {path}: expected a layer name or a mapping with a `type`, such as "
                          f"{{type: conv2d, out_channels: 32, kernel_size: 3}}, received {entry!r}.")
    key = _type_key(_resolve(entry["type"], scope.variables, f"layer {path}"))
    if key not in LAYERS and key not in _COMPOSITES:
        raise ConfigError(_unknown_type(entry["type"], key, path, scope))
    where = scope.where(path, key)
    entry = _resolve({k: v for k, v in entry.items() if k != "type"}, scope.variables, where)
    builder = _COMPOSITES.get(key)
    return builder(entry, shape, scope, path, where) if builder else _build_layer(key, entry, shape, where)


def _type_key(name: Any) -> str:
    return str(name).lower().replace("-", "_")


def _unknown_type(name: Any, key: str, path: str, scope: _Scope) -> str:
    is_block = isinstance(name, str) and name in scope.blocks
    hint = f" (`{name}` is a block: write {{type: block, name: {name}}})" if is_block else ""
    return (f"Unknown layer type `{name}` at layer {path}: expected one of the {len(LAYERS)} layers in "
            f"striate.layers.LAYERS or {', '.join(_COMPOSITES)}{hint}.{did_you_mean(key, [*LAYERS, *_COMPOSITES])}")


def _resolve(value: Any, variables: dict[str, Any], where: str) -> Any:
    """`value` with every `$name` string replaced by its variable, recursively through lists and mappings."""
    if isinstance(value, list):
        return [_resolve(item, variables, where) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item, variables, where) for key, item in value.items()}
    if not isinstance(value, str) or not value.startswith("$"):
        return value
    match = _VARIABLE.fullmatch(value)
    if match is None or match[1] not in variables:
        raise ConfigError(f"Unknown parameter `{value}` for {where}: expected one of "
                          f"{', '.join('$' + name for name in sorted(variables))}.")
    if variables[match[1]] is None:  # only num_classes can be None
        raise ConfigError(f"Missing `num_classes` for {where}: it uses `$num_classes`; pass num_classes to "
                          "build_spec or set `num_classes:` in the spec.")
    return variables[match[1]]


def _variables_in(value: Any) -> set[str]:
    """The `$names` used anywhere in `value`."""
    if isinstance(value, list):
        return set().union(*map(_variables_in, value))
    if isinstance(value, dict):
        return set().union(*map(_variables_in, value.values()))
    match = _VARIABLE.fullmatch(value) if isinstance(value, str) else None
    return {match[1]} if match else set()


def _fmt(shape: Shape) -> str:
    return f"{shape[0]} (flat)" if len(shape) == 1 else "x".join(map(str, shape))


def _reworded(error: BaseException, where: str, shape: Shape) -> str:
    """One line naming the layer and its incoming shape: 'Invalid `x` for layer 3 (conv2d): ... (incoming ...).'."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")
    match = re.match(r"Invalid `(\w+)`: (.*)", text)
    if match:
        return f"Invalid `{match[1]}` for {where}: {match[2]} (incoming shape {_fmt(shape)})."
    return f"Invalid {where}: {text} (incoming shape {_fmt(shape)})."


# --------------------------------------------------------------------------------------------------- plain layers


def _build_layer(key: str, args: dict[str, Any], shape: Shape, where: str) -> tuple[nn.Module, Shape]:
    """Check, complete and construct one layer of `LAYERS`, then run it on zeros to learn its output shape."""
    cls, params = LAYERS[key], _init_params(LAYERS[key])
    _check_single_input(cls, where)
    settable = [name for name in params if name not in _INFERRED]
    _check_keys({k: v for k, v in args.items() if k in settable or k not in params}, settable, where)
    _check_rank(key, params, shape, where)
    args = {**_LAYER_DEFAULTS.get(key, {}), **args, **_inferred(args, params, shape, where)}
    missing = sorted(name for name, p in params.items() if p.default is p.empty and name not in args)
    if missing:
        raise ConfigError(f"Missing argument `{missing[0]}` for {where}: expected values for "
                          f"{', '.join(missing)} (optional: {', '.join(_optional(params)) or 'none'}).")
    _check_kernel_fits(params, args, shape, where)
    try:
        module = cls(**args)
    except StriateError as error:
        raise type(error)(_reworded(error, where, shape)) from None
    except (TypeError, ValueError, RuntimeError) as error:
        raise ConfigError(_reworded(error, where, shape)) from None
    return module, _probe(module, shape, where)


@functools.cache
def _init_params(cls: type[nn.Module]) -> dict[str, inspect.Parameter]:
    """The constructor arguments a spec may set: all but device, dtype, private ones and *args/**kwargs."""
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {name: p for name, p in inspect.signature(cls).parameters.items()
            if name not in ("device", "dtype") and not name.startswith("_") and p.kind not in variadic}


def _optional(params: dict[str, inspect.Parameter]) -> list[str]:
    return sorted(name for name, p in params.items() if p.default is not p.empty)


def _check_single_input(cls: type[nn.Module], where: str) -> None:
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    inputs = [p.name for p in list(inspect.signature(cls.forward).parameters.values())[1:]
              if p.kind in positional and p.default is p.empty]
    if len(inputs) > 1:
        raise ConfigError(f"Invalid {where}: its forward takes ({', '.join(inputs)}), so it cannot be a step of a "
                          "layer sequence; use it from Python code.")


def _check_rank(key: str, params: dict[str, inspect.Parameter], shape: Shape, where: str) -> None:
    """Raise unless the incoming shape has the spatial rank the layer needs (flat for linear layers)."""
    rank, suffix = len(shape) - 1, re.search(r"([123])d$", key)
    if "in_features" in params:
        expected = {0}
    elif key == "batchnorm1d":
        expected = {0, 1}
    elif suffix:
        expected = {int(suffix[1])}
    elif key.startswith("global_"):
        expected = {1, 2, 3}
    else:
        return
    if rank not in expected:
        layouts = " or ".join(_LAYOUTS[r] for r in sorted(expected))
        hint = "; add `flatten` or `global_avg_pool` before it" if expected == {0} else ""
        raise ShapeError(f"Invalid {where}: expected an input shaped {layouts}, received the incoming shape "
                         f"{_fmt(shape)}{hint}.")


def _inferred(args: dict[str, Any], params: dict[str, inspect.Parameter], shape: Shape,
              where: str) -> dict[str, Any]:
    """The input-size arguments the layer takes, read off `shape`; a given one must equal the inferred value."""
    values = {"in_channels": shape[0], "in_features": shape[0], "num_features": shape[0], "num_channels": shape[0],
              "input_size": list(shape[1:])}
    inferred = {name: values[name] for name in _INFERRED if name in params}
    for name, value in inferred.items():
        given = args.get(name)
        if given is not None and _as_list(given, value) != _as_list(value, value):
            raise ShapeError(f"Invalid `{name}` for {where}: expected {value} from the incoming shape {_fmt(shape)} "
                             f"(leave it out and it is inferred), received {given!r}.")
    if "normalized_shape" in params and "normalized_shape" not in args:
        inferred["normalized_shape"] = list(shape)
    return inferred


def _as_list(value: Any, like: Any) -> Any:
    """An int given for a per-dimension list compares as that int repeated."""
    return [value] * len(like) if isinstance(like, list) and _is_int(value) else value


def _check_kernel_fits(params: dict[str, inspect.Parameter], args: dict[str, Any], shape: Shape, where: str) -> None:
    """Raise the kernel-size error before torch's own, for any layer with a kernel_size over spatial input."""
    if "kernel_size" not in args or len(shape) < 2:
        return
    bound = {name: p.default for name, p in params.items() if p.default is not p.empty} | args
    padding = bound.get("padding", 0)
    if padding == "same":  # always fits
        return
    stride = bound.get("stride") or bound["kernel_size"]  # pooling's stride defaults to its kernel
    try:
        conv_output_size(shape[1:], bound["kernel_size"], stride, 0 if padding == "valid" else padding,
                         bound.get("dilation", 1), strict=False)
    except StriateError as error:
        raise type(error)(_reworded(error, where, shape)) from None


def _probe(module: nn.Module, shape: Shape, where: str) -> Shape:
    """The output shape for one zero example, in eval mode so batch norm and dropout neither learn nor sample.

    A real forward pass rather than the meta device: errors then come from the layer itself, and the first meta
    operation imports torch's compiler stack, about 1.5 s, more than probing a small network costs.
    """
    training = module.training
    try:
        with torch.no_grad():
            out = module.eval()(torch.zeros(1, *shape))  # (1, *shape) -> (1, *out_shape)
    except (StriateError, RuntimeError, ValueError, IndexError, TypeError, NotImplementedError) as error:
        raise ShapeError(_reworded(error, where, shape)) from None
    finally:
        module.train(training)
    if not isinstance(out, torch.Tensor) or out.dim() < 2 or out.shape[0] != 1:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShapeError(f"Invalid {where}: expected an output (N, ...) that keeps the batch dimension, received "
                         f"{got} for a batch of 1 (incoming shape {_fmt(shape)}).")
    return tuple(out.shape[1:])


# --------------------------------------------------------------------------------------------------- composites


def _layer_list(value: Any, what: str, allow_empty: bool = False) -> list[Any]:
    if not isinstance(value, list) or not (value or allow_empty):
        raise ConfigError(f"Invalid {what}: expected a {'' if allow_empty else 'non-empty '}list of layer entries, "
                          f"received {value!r}.")
    return value


def _build_residual(entry: dict[str, Any], shape: Shape, scope: _Scope, path: str,
                    where: str) -> tuple[nn.Module, Shape]:
    """{layers: [...], shortcut: identity|projection, activation: name}: activation(layers(x) + shortcut(x))."""
    _check_keys(entry, ("layers", "shortcut", "activation"), where, required=("layers",))
    body, out = _build_layers(_layer_list(entry["layers"], f"`layers` for {where}"), shape, scope, f"{path}.layers.")
    shortcut = _shortcut(entry.get("shortcut", "identity"), shape, out, where)
    activation = None
    if entry.get("activation") is not None:
        activation, after = _build_entry(entry["activation"], out, scope, f"{path}.activation")
        if after != out:
            raise ShapeError(f"Invalid `activation` for {where}: expected a layer that keeps the shape {_fmt(out)}, "
                             f"received one giving {_fmt(after)}.")
    return Residual(nn.Sequential(*body), shortcut, activation), out


def _shortcut(kind: Any, shape: Shape, out: Shape, where: str) -> nn.Module:
    if kind == "identity":
        if out != shape:
            raise ShapeError(f"Invalid `shortcut` for {where}: an identity shortcut needs the layers to keep the "
                             f"incoming shape {_fmt(shape)}, but they give {_fmt(out)}; use `shortcut: projection`.")
        return nn.Identity()
    if kind == "projection":
        return _projection(shape, out, where)
    raise ConfigError(f"Invalid `shortcut` for {where}: expected identity or projection, received {kind!r}."
                      + did_you_mean(str(kind), ("identity", "projection")))


def _projection(shape: Shape, out: Shape, where: str) -> nn.Module:
    """ResNet's option B: a 1x1 convolution (a linear map for flat input) with the stride that matches, then BN."""
    rank = len(shape) - 1
    strides = [_projection_stride(a, b) for a, b in zip(shape[1:], out[1:], strict=False)]
    if len(out) != len(shape) or None in strides:
        raise ShapeError(f"Invalid `shortcut` for {where}: a projection maps the incoming shape {_fmt(shape)} with "
                         f"one strided 1x1 convolution, which cannot give {_fmt(out)}; make the layers keep the "
                         "rank and reduce each spatial size to ceil(size / stride).")
    if rank == 0:
        return nn.Sequential(nn.Linear(shape[0], out[0], bias=False), nn.BatchNorm1d(out[0]))
    conv = LAYERS[f"conv{rank}d"](shape[0], out[0], kernel_size=1, stride=strides, bias=False)
    return nn.Sequential(conv, LAYERS[f"batchnorm{rank}d"](out[0]))


def _projection_stride(size: int, out: int) -> int | None:
    """The stride s with ceil(size / s) == out (a 1x1 kernel's output size), or None when there is none."""
    stride = -(-size // out) if 1 <= out <= size else 0
    return stride if stride and -(-size // stride) == out else None


def _build_concat(entry: dict[str, Any], shape: Shape, scope: _Scope, path: str,
                  where: str) -> tuple[nn.Module, Shape]:
    """{branches: [[...], [...]]}: every branch on the same input, outputs concatenated along channels."""
    _check_keys(entry, ("branches",), where, required=("branches",))
    branches, outs = [], []
    for j, branch in enumerate(_layer_list(entry["branches"], f"`branches` for {where}")):
        layers, out = _build_layers(_layer_list(branch, f"branch {j} of {where}", allow_empty=True), shape, scope,
                                    f"{path}.branches.{j}.")
        branches.append(nn.Sequential(*layers))
        outs.append(out)
    for j, out in enumerate(outs[1:], start=1):
        if len(out) != len(outs[0]) or out[1:] != outs[0][1:]:
            raise ShapeError(f"Invalid `branches` for {where}: expected every branch to match branch 0 "
                             f"({_fmt(outs[0])}) in all but the channel count, received {_fmt(out)} from branch {j} "
                             f"(incoming shape {_fmt(shape)}).")
    return Concat(branches), (sum(out[0] for out in outs), *outs[0][1:])


def _build_block(entry: dict[str, Any], shape: Shape, scope: _Scope, path: str,
                 where: str) -> tuple[nn.Module, Shape]:
    """{name: X, repeat: n, args: {...}}: n copies of block X in sequence, its `$names` filled from args."""
    _check_keys(entry, ("name", "repeat", "args"), where, required=("name",))
    name, repeat, args = entry["name"], entry.get("repeat", 1), entry.get("args", {})
    body = _block_body(name, scope, where)
    if not _is_int(repeat) or repeat < 1:
        raise ConfigError(f"Invalid `repeat` for {where}: expected an int of at least 1, received {repeat!r}.")
    if not isinstance(args, dict):
        raise ConfigError(f"Invalid `args` for {where}: expected a mapping of block parameters, received {args!r}.")
    _check_block_args(name, body, args, where)
    inner = _Scope(scope.blocks, {"num_classes": scope.variables["num_classes"], **args}, (*scope.stack, name),
                   scope.built)
    copies = []
    for index in range(repeat):
        layers, shape = _build_layers(body, shape, inner, f"{path}.{index}.")
        copies.append(nn.Sequential(*layers))
    return nn.Sequential(*copies), shape


def _block_body(name: Any, scope: _Scope, where: str) -> list[Any]:
    if name not in scope.blocks:
        known = ", ".join(sorted(scope.blocks)) or "none (the spec has no `blocks`)"
        raise ConfigError(f"Unknown block `{name}` for {where}: expected one of {known}."
                          + did_you_mean(str(name), scope.blocks))
    if name in scope.stack:
        raise ConfigError(f"Invalid {where}: block `{name}` refers to itself through "
                          f"{' -> '.join((*scope.stack, name))}.")
    return scope.blocks[name]


def _check_block_args(name: str, body: list[Any], args: dict[str, Any], where: str) -> None:
    used = _variables_in(body) - {"num_classes"}
    unknown, missing = sorted(set(args) - used), sorted(used - set(args))
    if unknown:
        raise ConfigError(f"Unknown argument `{unknown[0]}` for block `{name}` at {where}: expected one of the "
                          f"parameters it uses, {', '.join(sorted(used)) or 'none'}.{did_you_mean(unknown[0], used)}")
    if missing:
        raise ConfigError(f"Missing argument `{missing[0]}` for block `{name}` at {where}: it uses "
                          f"{', '.join('$' + m for m in sorted(used))}; pass them in `args`.")


_COMPOSITES: dict[str, Callable[..., tuple[nn.Module, Shape]]] = {
    "residual": _build_residual,
    "concat": _build_concat,
    "block": _build_block,
}
"""Composite entry types; each builder takes (entry without type, shape, scope, path, where)."""


def _describe(value: Any) -> str:
    return "nothing (an empty file)" if value is None else f"a {type(value).__name__} ({str(value)[:40]!r})"
