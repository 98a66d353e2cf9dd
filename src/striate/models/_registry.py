"""The model registry: tiny entry-point functions registered by name, built through one `create`."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from striate.errors import ConfigError, ShapeError, StriateError, did_you_mean

INPUT_SIZE_PARAMETERS = {"num_classes", "num_outputs", "num_actions", "in_channels", "vocab_size", "input_size"}
OUTPUT_PARAMETERS = ("num_classes", "num_outputs", "num_actions")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its entry function, paper, default input and the input kinds it accepts.

    Entry functions name what they are built from: `num_classes` (or `num_outputs`, `num_actions`) for the output
    width, `in_channels` and `input_size` for images, signals, clips and volumes, `vocab_size` and `input_size`
    (the sequence length) for token ids. `create_for_data` fills exactly those from a data description.
    """

    name: str
    build: Callable[..., nn.Module]
    paper: str
    input_shape: tuple[int, ...]
    description: str
    inputs: tuple[str, ...] = ("image",)

    @property
    def output_parameter(self) -> str | None:
        parameters = inspect.signature(self.build).parameters
        return next((name for name in OUTPUT_PARAMETERS if name in parameters), None)


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, *, paper: str, input_shape: tuple[int, ...], description: str = "",
                   inputs: tuple[str, ...] | None = None):
    """Register `build(num_classes=..., in_channels=..., input_size=..., **kwargs) -> nn.Module` under `name`.

    Args:
        inputs: input kinds the model accepts ("image", "signal", "tokens", "clip", "volume"); by default the kind
            its paper input has (3 dimensions: image, 2: signal, 1: tokens, 4: clip).
    """

    def decorator(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        kinds = inputs or ({3: "image", 2: "signal", 1: "tokens", 4: "clip"}[len(input_shape)],)
        _MODELS[name] = ModelEntry(name, build, paper, tuple(input_shape), description or (build.__doc__ or "")
                                   .strip().splitlines()[0], tuple(kinds))
        return build

    return decorator


def list_models() -> list[ModelEntry]:
    return [_MODELS[name] for name in sorted(_MODELS)]


def get_entry(name: str) -> ModelEntry:
    if name not in _MODELS and ("/" in str(name) or "\\" in str(name)):
        raise ConfigError(f"Invalid `model` {name!r}: a path must name a model spec file ending in .yaml or .yml; "
                          "for a zoo model give its name (see `striate models`).")
    if name not in _MODELS:
        raise ConfigError(f"Unknown model `{name}`: expected one of {', '.join(sorted(_MODELS))}."
                          f"{did_you_mean(name, _MODELS)}")
    return _MODELS[name]


def create(name: str, *, num_classes: int | None = None, in_channels: int | None = None,
           input_size: tuple[int, ...] | None = None, **kwargs) -> nn.Module:
    """Build a registered model.

    Args:
        name: registry name, see `striate models`.
        num_classes: size of the classifier output; defaults to the paper's (e.g. 1000 for ImageNet models).
        in_channels: input channels; defaults to the model's paper input.
        input_size: spatial input size, e.g. (28, 28); defaults to the model's paper input.
        **kwargs: model-specific options; unknown ones raise a `ConfigError` listing the valid ones.
    """
    entry = get_entry(name)
    parameters = inspect.signature(entry.build).parameters
    given = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
    for key, value in given.items():
        if value is not None and key not in parameters:
            raise ConfigError(f"Invalid argument `{key}` for model `{name}`: it is built from "
                              f"{', '.join(p for p in parameters if p in INPUT_SIZE_PARAMETERS)} instead.")
        if value is not None:
            kwargs[key] = tuple(value) if key == "input_size" else value
    valid = set(parameters) - INPUT_SIZE_PARAMETERS
    unknown = sorted(set(kwargs) - valid - (INPUT_SIZE_PARAMETERS & set(parameters)))
    if unknown:
        raise ConfigError(f"Unknown argument `{unknown[0]}` for model `{name}`: expected one of "
                          f"{', '.join(sorted(valid))}.{did_you_mean(unknown[0], valid)}" if valid else
                          f"Unknown argument `{unknown[0]}` for model `{name}`: it takes no extra arguments; remove "
                          "it.")
    if "num_classes" in parameters and "num_classes" not in kwargs:
        kwargs["num_classes"] = _default(parameters, "num_classes", 10)
    if "in_channels" in parameters and "in_channels" not in kwargs:
        kwargs["in_channels"] = _default(parameters, "in_channels", entry.input_shape[0])
    if "input_size" in parameters and "input_size" not in kwargs:
        kwargs["input_size"] = tuple(entry.input_shape[1:] if "in_channels" in parameters else entry.input_shape)
    return _bounded_build(name, entry.build, kwargs)


MAX_PARAMETERS = 2_000_000_000
"""The most parameters a model may have (8 GB of float32 weights): more is a typo in a width or a class count."""


def _bounded_build(name: str, build: Callable[..., nn.Module], kwargs: dict) -> nn.Module:
    """Build the model on the meta device first (no memory, no time), so arguments the model refuses and sizes
    beyond `MAX_PARAMETERS` are one-line errors instead of a traceback or an allocation that exhausts memory."""
    shown = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about initialising zero-size weights; refused just below
            skeleton = build(**kwargs)
    except StriateError:
        raise  # the model's own one-line error (a ConfigError is also a ValueError)
    except (TypeError, ValueError, RuntimeError, IndexError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")
        if isinstance(error, RuntimeError) and "input_size" in kwargs and "negative dimension" not in first:
            # a layer that does not fit the input size (a negative width is the arguments' fault, below)
            size = "x".join(map(str, [kwargs.get("in_channels", "?"), *kwargs["input_size"]]))
            raise ShapeError(f"Model `{name}` cannot take inputs of shape {size}: {first}; choose a model for this "
                             "input size or resize the inputs.") from None
        raise ConfigError(f"Invalid arguments for model `{name}` ({shown}): {first}; see `striate models` and the "
                          "model's docstring for what it takes.") from None
    empty = [key for key, p in skeleton.named_parameters() if p.numel() == 0]
    if empty:
        raise ConfigError(f"Invalid arguments for model `{name}` ({shown}): `{empty[0]}` would hold no weights; "
                          "expected positive widths and sizes.")
    count = sum(p.numel() for p in skeleton.parameters())
    if count > MAX_PARAMETERS:
        raise ConfigError(f"Model `{name}` would have {count:,} parameters: expected at most {MAX_PARAMETERS:,}; "
                          "use smaller widths, fewer classes or a smaller input.")
    return build(**kwargs)


def data_arguments(name: str, description: dict, num_outputs: int) -> dict:
    """The size arguments of model `name` for data described by `description` (`Dataset.describe()`).

    Raises a ConfigError when the model does not accept the data's input kind.
    """
    entry = get_entry(name)
    kind, shape = description.get("input_kind", "image"), list(description["input_shape"])
    if kind not in entry.inputs:
        raise ConfigError(f"Model `{name}` takes {' or '.join(entry.inputs)} inputs, but the data holds {kind} inputs "
                          f"of shape {'x'.join(map(str, shape))}: choose a model for {kind} data (see `striate "
                          "models`).")
    parameters = inspect.signature(entry.build).parameters
    values = {entry.output_parameter: num_outputs}
    if kind == "tokens":
        values.update(vocab_size=description.get("vocab_size"), input_size=shape)
    else:
        values.update(in_channels=shape[0], input_size=shape[1:])
    return {key: value for key, value in values.items() if key in parameters and value is not None}


def _default(parameters, name: str, fallback):
    """The entry function's own default for `name` (the paper's class count, a Text CNN's vocabulary size)."""
    default = parameters[name].default if name in parameters else inspect.Parameter.empty
    return fallback if default is inspect.Parameter.empty else default
