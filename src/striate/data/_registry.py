"""Datasets by name, like models: `--data NAME[:LOCATION][?key=value&...]`, listed by `striate datasets`.

A loader is a small function registered with `register_dataset`; it takes the location after the colon and keyword
options (from the `?` query or the config's `data_args`) and returns either `Splits` (data that comes with its own
test part) or one `Dataset`, from which a test part is split off by the data's split strategy. `--test-data` and
`--val-data` take the same syntax for data in separate files; `align` makes such a part consistent with the
training part (class indices by name, the training vocabulary, series length, normalisation statistics).

Where a new kind of data goes: a loader function in its own module under `striate.data`, registered here by name.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

import torch

from striate.data._dataset import ROW_META, Dataset, Splits
from striate.errors import ConfigError, DataError, did_you_mean


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    load: Callable[..., Splits | Dataset]
    description: str
    location: str  # what follows the colon, e.g. "PATH" or "NAME", "[DIR]" when optional, "" when nothing does
    kinds: str  # input and target kinds, for `striate datasets`


_DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(name: str, *, description: str, location: str = "", kinds: str = "image, class"):
    """Register `load(location: str | None, **options) -> Splits | Dataset` under `name`.

    `location` names what follows the colon ("PATH", "NAME"); in brackets ("[DIR]") it is optional, and "" means the
    dataset takes none.
    """

    def decorator(load: Callable[..., Splits | Dataset]) -> Callable[..., Splits | Dataset]:
        _DATASETS[name] = DatasetEntry(name, load, description, location, kinds)
        return load

    return decorator


def list_datasets() -> list[DatasetEntry]:
    return list(_DATASETS.values())


def parse_data_spec(spec: str) -> tuple[str, str | None, dict[str, str]]:
    """'csv:data/x.csv?target=real&label_column=y' -> ('csv', 'data/x.csv', {'target': 'real', 'label_column': 'y'})."""
    head, _, query = spec.partition("?")
    name, colon, location = head.partition(":")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise ConfigError(f"Invalid data options in `{spec}`: expected key=value pairs joined by & after ?, "
                          f"received {query!r}.") from None
    return name, (location if colon else None), options


def load_source(spec: str, options: dict[str, Any] | None = None, *, download: bool = True) -> Splits | Dataset:
    """Call the registered loader for `spec` with the query options and `options` (config `data_args`) merged."""
    name, location, query = parse_data_spec(spec)
    if name not in _DATASETS:
        names = [entry.name for entry in _DATASETS.values()]
        shown = ", ".join(entry.name + (f":{entry.location}" if entry.location else "") for entry in _DATASETS.values())
        raise DataError(f"Unknown dataset `{spec}`: expected one of {shown}.{did_you_mean(name, names)}")
    entry = _DATASETS[name]
    if entry.location and not entry.location.startswith("[") and not location:
        raise DataError(f"Invalid `--data {name}:{entry.location}`: expected a {entry.location.lower()} after "
                        f"`{name}:`, received nothing.")
    if not entry.location and location:
        raise DataError(f"Invalid `--data {spec}`: dataset `{name}` takes no location after the colon; use `{name}`.")
    kwargs = {**query, **(options or {})}
    parameters = inspect.signature(entry.load).parameters
    if "download" in parameters:
        kwargs["download"] = download
    valid = [key for key in parameters if key not in ("location", "download")]
    unknown = sorted(set(kwargs) - set(valid) - {"download"})
    if unknown:
        raise ConfigError(f"Unknown option `{unknown[0]}` for dataset `{name}`: expected one of "
                          f"{', '.join(valid)}.{did_you_mean(unknown[0], valid)}" if valid else
                          f"Unknown option `{unknown[0]}` for dataset `{name}`: it takes no options; remove it.")
    for key, value in kwargs.items():
        if isinstance(value, str):  # a `?key=value` option, or a string from a config's data_args
            kwargs[key] = typed_option(name, key, value, parameters[key].annotation)
    return entry.load(location or None, **kwargs)


def typed_option(dataset: str, key: str, value: str, annotation) -> object:
    """An option given as text, turned into the type the loader's signature names (`int`, `float`, `bool`); text
    that does not parse is an error unless the loader also takes `str`. One place for every loader, so `?size=12`
    arrives as 12 and `?size=many` gets one message whatever the data set."""
    kinds = {part.strip() for part in str(annotation).replace("Optional[", "").rstrip("]").split("|")}
    text = value.strip()
    if "int" in kinds:
        try:
            return int(text)
        except ValueError:
            if "str" not in kinds and "float" not in kinds:
                raise ConfigError(f"Invalid {dataset} option `{key}`: expected an integer, received {value!r}.") \
                    from None
    if "float" in kinds:
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None and math.isfinite(number):
            return number
        if "str" not in kinds:
            raise ConfigError(f"Invalid {dataset} option `{key}`: expected a finite number, received {value!r}.")
    if "bool" in kinds and text.lower() in ("true", "false", "1", "0", "yes", "no"):
        return text.lower() in ("true", "1", "yes")
    return value


def load_data(spec: str, *, val_split: float = 0.0, seed: int = 0, download: bool = True, split: str = "auto",
              test_data: str | None = None, val_data: str | None = None, options: dict[str, Any] | None = None,
              test_split: float = 0.2) -> Splits:
    """Load a dataset by its spec and split off validation (and, where the data has none, test) data.

    Args:
        spec: `NAME[:LOCATION][?key=value&...]`, see `striate datasets`.
        val_split: fraction of the training set held out for validation; 0 disables it (unless `val_data`).
        seed: seed of the stratified and random splits.
        download: whether data may be downloaded when no local copy is found.
        split: split strategy: auto, stratified, random or temporal (see `Dataset.split`).
        test_data, val_data: specs of separate test / validation data, aligned with the training part.
        options: keyword options for the loader (a config's `data_args`), merged over the spec's query.
        test_split: fraction held out as the test part when the data comes as one set and `test_data` is not given.
    """
    if not 0.0 <= val_split < 1.0:
        raise DataError(f"Invalid `val_split`: expected a fraction in [0, 1), received {val_split}.")
    loaded = load_source(spec, options, download=download)
    if isinstance(loaded, Dataset):
        if test_data is None:
            train, test = loaded.split(test_split, seed=seed, strategy=split)
            loaded = Splits(train=renormalised(train), test=test)
        else:
            loaded = Splits(train=loaded, test=loaded)
    splits = loaded
    if test_data is not None:
        splits.test = _single(test_data, options, download)
    if val_data is not None:
        splits.val = _single(val_data, options, download)
    elif val_split > 0:
        train, splits.val = splits.train.split(val_split, seed=seed, strategy=split)
        splits.train = renormalised(train) if train.input_kind == "tokens" else train
    splits.test = align(splits.test, splits.train, test_data or spec)
    if splits.val is not None:
        splits.val = align(splits.val, splits.train, val_data or spec)
    return splits


def _single(spec: str, options: dict[str, Any] | None, download: bool) -> Dataset:
    """One part from a spec: a loader's `Dataset`, or all of its `Splits` (train and test) joined."""
    loaded = load_source(spec, options, download=download)
    if isinstance(loaded, Dataset):
        return loaded
    return concat(loaded.train, align(loaded.test, loaded.train, spec))


def renormalised(train: Dataset) -> Dataset:
    """`train` with statistics (and a vocabulary) from its own rows only: held-out parts must not leak into them."""
    if train.input_kind == "tokens" and "tokens" in train.meta:
        from striate.data.textdata import refit_vocabulary

        return refit_vocabulary(train)
    if train.normalization != "channel":
        return train
    return replace(train, mean=None, std=None)


def concat(a: Dataset, b: Dataset) -> Dataset:
    lengths = None if a.lengths is None or b.lengths is None else torch.cat([a.lengths, b.lengths])
    meta = {**a.meta, **{key: a.meta[key] + b.meta[key] for key in ROW_META if key in a.meta and key in b.meta}}
    return replace(a, x=torch.cat([a.x, b.x]), y=torch.cat([a.y, b.y]), lengths=lengths, meta=meta)


def reference_of(train: Dataset) -> dict[str, Any]:
    """What other parts are aligned to: the training part's description plus its vocabulary."""
    return {**train.describe(), "vocabulary": train.meta.get("vocabulary"), "ordered": train.ordered}


def align(part: Dataset, train: Dataset | dict[str, Any], spec: str) -> Dataset:
    """`part` made consistent with the training data (a `Dataset`, or a run's recorded description): same kinds,
    class indices by name, the training vocabulary, series length, and the training normalisation statistics."""
    if part is train:
        return part
    reference = reference_of(train) if isinstance(train, Dataset) else train
    for attribute in ("input_kind", "target_kind"):
        if getattr(part, attribute) != reference.get(attribute, "image" if attribute == "input_kind" else "class"):
            raise DataError(f"Data `{spec}` has {attribute} {getattr(part, attribute)!r} but the training data has "
                            f"{reference.get(attribute)!r}: expected the same kind of data for every split.")
    part = _align_targets(part, list(reference["classes"]), spec)
    part = _align_inputs(part, reference, spec)
    meta = {**part.meta, "vocabulary": reference["vocabulary"]} if reference.get("vocabulary") else part.meta
    return replace(part, mean=tuple(reference["mean"]), std=tuple(reference["std"]),
                   normalization=reference["normalization"], ordered=reference.get("ordered", False), meta=meta)


def _align_targets(part: Dataset, classes: list[str], spec: str) -> Dataset:
    if part.classes == classes:
        return part
    if part.target_kind == "real":
        if part.num_classes != len(classes):
            raise DataError(f"Data `{spec}` has {part.num_classes} targets {part.classes} but the training data has "
                            f"{len(classes)} {classes}.")
        return replace(part, classes=list(classes))
    unseen = [name for name in part.classes if name not in classes]
    if part.target_kind == "class":
        used = sorted({part.classes[i] for i in part.y.unique().tolist()})
        unseen = [name for name in used if name not in classes]
    if unseen:
        raise DataError(f"Data `{spec}` has labels {unseen} that the training data never had: expected labels from "
                        f"{classes}; remove those examples or add them to the training data.")
    index = {name: i for i, name in enumerate(classes)}
    if part.target_kind == "class":
        mapping = torch.tensor([index.get(name, -1) for name in part.classes], dtype=torch.int64)
        return replace(part, y=mapping[part.y], classes=list(classes))
    y = torch.zeros(len(part), len(classes), dtype=part.y.dtype)
    y[:, [index[name] for name in part.classes]] = part.y
    return replace(part, y=y, classes=list(classes))


def _align_inputs(part: Dataset, reference: dict[str, Any], spec: str) -> Dataset:
    shape = tuple(reference["input_shape"])
    if part.input_kind == "tokens":
        from striate.data.textdata import encode_like

        return encode_like(part, reference["vocabulary"], shape[0])
    if part.input_kind == "signal" and part.input_shape[0] == shape[0] and (
            reference.get("variable_length") or part.meta.get("unequal") == "resample"):
        from striate.data.timeseries import fit_length

        return fit_length(part, shape[-1])
    if part.input_shape != shape:
        raise DataError(f"Data `{spec}` has inputs of shape {part.input_shape} but the training data has "
                        f"{shape}: expected the same shape for every split.")
    return part
