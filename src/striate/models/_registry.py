"""The model registry: tiny entry-point functions registered by name, built through one `create`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from striate.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class ModelEntry:
    name: str
    build: Callable[..., nn.Module]
    paper: str
    input_shape: tuple[int, ...]
    description: str


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, *, paper: str, input_shape: tuple[int, ...], description: str = ""):
    """Register `build(num_classes=..., in_channels=..., input_size=..., **kwargs) -> nn.Module` under `name`."""

    def decorator(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _MODELS[name] = ModelEntry(name, build, paper, tuple(input_shape), description or (build.__doc__ or "")
                                   .strip().splitlines()[0])
        return build

    return decorator


def list_models() -> list[ModelEntry]:
    return [_MODELS[name] for name in sorted(_MODELS)]


def get_entry(name: str) -> ModelEntry:
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
    valid = set(parameters) - {"num_classes", "in_channels", "input_size"}
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise ConfigError(f"Unknown argument `{unknown[0]}` for model `{name}`: expected one of "
                          f"{', '.join(sorted(valid)) or 'no extra arguments'}.{did_you_mean(unknown[0], valid)}")
    num_classes = _default(parameters, "num_classes", 10) if num_classes is None else num_classes
    in_channels = _default(parameters, "in_channels", entry.input_shape[0]) if in_channels is None else in_channels
    input_size = tuple(entry.input_shape[1:]) if input_size is None else tuple(input_size)
    return entry.build(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs)


def _default(parameters, name: str, fallback):
    """The entry function's own default for `name` (the paper's class count, a Text CNN's vocabulary size)."""
    default = parameters[name].default if name in parameters else inspect.Parameter.empty
    return fallback if default is inspect.Parameter.empty else default
