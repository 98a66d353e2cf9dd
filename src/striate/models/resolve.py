"""Turning what a user names (a zoo model, a spec file, a run config, a run folder) into a network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn as nn

from striate.errors import ConfigError, RunFolderError
from striate.models._registry import create, data_arguments, get_entry
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


def model_for_data(model: str, data: dict[str, Any] | tuple[int, ...], num_outputs: int,
                   model_args: dict[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A zoo model or spec file built from the data's description, and the `architecture` record that rebuilds it.

    Args:
        model: zoo name or spec file.
        data: `Dataset.describe()` (input kind, shape, vocabulary size), or an image input shape `(C, H, W)`.
        num_outputs: classes, labels or targets: the width of the model's output.
        model_args: further keyword arguments of the zoo model.
    """
    description = data if isinstance(data, dict) else {"input_kind": "image", "input_shape": list(data)}
    if is_spec_path(model):
        if model_args:
            raise ConfigError("Invalid `model_args` for a spec file: they apply to zoo models; put the arguments in "
                              f"the layers of {model} instead.")
        built = build_spec(model, tuple(description["input_shape"]), num_outputs)
        return built, {"name": "spec", "spec": built.spec}
    kwargs = {**data_arguments(model, description, num_outputs), **(model_args or {})}
    kwargs = {key: list(value) if isinstance(value, tuple) else value for key, value in kwargs.items()}
    return create(model, **kwargs), {"name": model, "kwargs": kwargs}


def check_model_name(model: str) -> None:
    """Fail early (before data is loaded) on a misspelt zoo name or a missing/invalid spec file."""
    if is_spec_path(model):
        load_spec(model)
    else:
        get_entry(model)


def model_from_target(target: str, input_shape: tuple[int, ...] | None = None,
                      num_classes: int | None = None) -> tuple[nn.Module, tuple[int, ...]]:
    """The network behind `striate summary TARGET`: a run folder, a spec or run-config YAML file, or a zoo name.

    `input_shape` and `num_classes` default to the target's own: a zoo model's paper input and its entry function's
    class count (1000 for AlexNet, so the count matches `striate models`), a spec's `input_shape` and `num_classes`
    (10 when the spec has none). A run folder keeps its trained class count.

    Returns the model and the input shape to summarise it at.
    """
    return _target(target, input_shape, num_classes, ())


def _target(target: str, input_shape: tuple[int, ...] | None, num_classes: int | None,
            seen: tuple[str, ...]) -> tuple[nn.Module, tuple[int, ...]]:
    if target in seen:
        raise ConfigError(f"Invalid run config {seen[-1]}: its `model` leads back to itself through "
                          f"{' -> '.join((*seen, target))}; expected a zoo model name or a model spec file.")
    seen = (*seen, target)
    path = Path(target)
    if path.is_dir():
        from striate.runs import load

        run = load(path)
        return run.model, tuple(input_shape or run.input_shape)
    if is_spec_path(target):
        data = load_spec(target)
        if "layers" in data:
            own = data.get("num_classes", 10)  # the old default keeps specs without `num_classes` summarisable
            model = build_spec(data, input_shape, own if num_classes is None else num_classes)
            return model, tuple(model.spec["input_shape"])
        from striate.config import make_config

        data.pop("name", None)
        config = make_config(data)
        return _zoo(config.model, input_shape, num_classes, config.model_args, seen)
    return _zoo(target, input_shape, num_classes, {}, seen)


def _zoo(name: str, input_shape: tuple[int, ...] | None, num_classes: int | None,
         model_args: dict[str, Any], seen: tuple[str, ...] = ()) -> tuple[nn.Module, tuple[int, ...]]:
    if is_spec_path(name):
        return _target(name, input_shape, num_classes, seen)
    if input_shape is None and num_classes is None:  # the very model `striate models` counts
        return create(name, **model_args), get_entry(name).input_shape
    shape = tuple(input_shape or get_entry(name).input_shape)
    # A num_classes of None leaves the class count to `create`, which takes the entry function's own default.
    return model_for_data(name, shape, num_classes, model_args)[0], shape
