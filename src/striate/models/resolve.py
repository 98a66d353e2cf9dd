"""Turning what a user names (a zoo model, a spec file, a run config, a run folder) into a network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn as nn

from striate.errors import ConfigError, RunFolderError
from striate.models._registry import create, get_entry
from striate.models.spec import build_spec, is_spec_path, load_spec


def build_model(architecture: dict[str, Any]) -> nn.Module:
    """Rebuild a network from the `architecture` entry of a run's `model.json`.

    Zoo models are recorded as `{"name", "kwargs"}`, spec models as `{"name": "spec", "spec": {...}}` with the
    normalised spec (input shape and class count included), so no file outside the run folder is needed.
    """
    try:
        if "spec" in architecture:
            return build_spec(architecture["spec"])
        return create(architecture["name"], **architecture.get("kwargs", {}))
    except KeyError as error:
        raise RunFolderError(f"Invalid architecture in model.json: missing key {error}.") from None


def model_for_data(model: str, input_shape: tuple[int, ...], num_classes: int,
                   model_args: dict[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A zoo model or spec file sized for the data, and the `architecture` record that rebuilds it."""
    if is_spec_path(model):
        if model_args:
            raise ConfigError("Invalid `model_args` for a spec file: they apply to zoo models; put the arguments in "
                              f"the layers of {model} instead.")
        built = build_spec(model, tuple(input_shape), num_classes)
        return built, {"name": "spec", "spec": built.spec}
    kwargs = {"num_classes": num_classes, "in_channels": input_shape[0], "input_size": list(input_shape[1:]),
              **(model_args or {})}
    return create(model, **kwargs), {"name": model, "kwargs": kwargs}


def check_model_name(model: str) -> None:
    """Fail early (before data is loaded) on a misspelt zoo name or a missing/invalid spec file."""
    if is_spec_path(model):
        load_spec(model)
    else:
        get_entry(model)


def model_from_target(target: str, input_shape: tuple[int, ...] | None = None,
                      num_classes: int = 10) -> tuple[nn.Module, tuple[int, ...]]:
    """The network behind `striate summary TARGET`: a run folder, a spec or run-config YAML file, or a zoo name.

    Returns the model and the input shape to summarise it at (given, or the target's own default).
    """
    path = Path(target)
    if path.is_dir():
        from striate.runs import load

        run = load(path)
        return run.model, tuple(input_shape or run.input_shape)
    if is_spec_path(target):
        data = load_spec(target)
        if "layers" in data:
            model = build_spec(data, input_shape, num_classes)
            return model, tuple(model.spec["input_shape"])
        from striate.config import make_config

        data.pop("name", None)
        config = make_config(data)
        return _zoo(config.model, input_shape, num_classes, config.model_args)
    return _zoo(target, input_shape, num_classes, {})


def _zoo(name: str, input_shape: tuple[int, ...] | None, num_classes: int,
         model_args: dict[str, Any]) -> tuple[nn.Module, tuple[int, ...]]:
    if is_spec_path(name):
        return model_from_target(name, input_shape, num_classes)
    shape = tuple(input_shape or get_entry(name).input_shape)
    return model_for_data(name, shape, num_classes, model_args)[0], shape
