"""Fine-tuning: a run that starts from another run's weights (`striate train --init-from RUN`).

The article's case for transfer: a network trained on a large related data set starts a small one far better than
random weights. Here the source run gives its architecture (unless `--model` names one), its weights, and by default
its preprocessing statistics; the head is replaced when the classes or the task differ (or when asked), parameters can
be frozen by name and unfrozen after some epochs, and the pre-trained body can learn more slowly than the new head
(discriminative learning rates, Howard & Ruder 2018; by option: from Fashion-MNIST to digits a tenth of the rate cost
6.7 points of accuracy against one rate for all, `benchmarks/finetune.py`).

Everything here is plumbing over torch (`state_dict`, `requires_grad`, optimizer parameter groups); the one contract
it relies on is the zoo's: every model's final layer is its `head` (`reset_classifier` replaces it).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import torch.nn as nn

from striate.errors import ConfigError, RunFolderError, did_you_mean
from striate.models._base import unwrap
from striate.train.callbacks import Callback

INHERITED = ("model", "model_args")
"""Options a fine-tuning run takes from its source run unless they are given."""


def source_run(path: str | Path):
    """The run `--init-from` names, loaded and checked like any run folder."""
    from striate.runs import load

    try:
        return load(path)
    except RunFolderError as error:
        raise ConfigError(f"Invalid `init_from` {str(path)!r}: expected a finished run folder ({error})") from None


def inherit(cfg, source) -> Any:
    """`cfg` with the source run's model and model arguments where `cfg` does not set them itself."""
    updates = {key: source.config[key] for key in INHERITED
               if key not in cfg.model_fields_set and key in source.config}
    return cfg.model_copy(update=updates) if updates else cfg


def check_inputs(source, train, data: str) -> None:
    """The new data must have the shape and kind of input the source model was trained on."""
    shape, kind = tuple(train.input_shape), train.input_kind
    if kind != source.input_kind or (kind == "image" and shape != source.input_shape):
        wanted = "x".join(map(str, source.input_shape))
        raise ConfigError(f"Invalid data for --init-from {source.path}: its model was trained on {source.input_kind} "
                          f"inputs of shape {wanted}, `{data}` holds {kind} inputs of shape "
                          f"{'x'.join(map(str, shape))}; give data of that shape (e.g. `digits?size=28` for 28x28 "
                          "digits) or train without --init-from.")


def keep_statistics(train, source) -> str | None:
    """Give the training data the source run's normalisation statistics; returns a note when they cannot be kept."""
    if train.normalization != "channel" or source.info.get("normalization", "channel") != "channel":
        return None
    mean, std = source.info.get("mean"), source.info.get("std")
    if not mean or len(mean) != len(train.mean):
        return (f"the source run's normalisation has {len(mean or ())} channels, the data {len(train.mean)}: "
                "statistics recomputed from the data")
    train.mean, train.std = tuple(mean), tuple(std)
    return None


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names (as in `model.named_parameters()`) of the parameters of the model's `head`."""
    core = unwrap(model)
    head = getattr(core, "head", None)
    if head is None:
        raise ConfigError(f"Model `{type(core).__name__}` has no `head` to replace; fine-tune a zoo model or a spec "
                          "whose last layer is linear.")
    ids = {id(p) for p in head.parameters()}
    return {name for name, p in model.named_parameters() if id(p) in ids}


def load_source_weights(model: nn.Module, source, reset_head: bool | None, same_outputs: bool) -> list[str]:
    """Copy the source run's weights into `model`; returns the names of the parameters left newly initialised.

    The head keeps the source's weights only when the outputs are the same classes of the same task, unless
    `reset_head` says otherwise (True: always new; False: never, which needs the same output count).
    """
    reset = (not same_outputs) if reset_head is None else reset_head
    head = head_parameter_names(model)
    saved, target = source.model.state_dict(), model.state_dict()
    chosen = {}
    for key, value in target.items():
        if reset and key in head:
            continue
        if key not in saved or saved[key].shape != value.shape:
            found = "missing" if key not in saved else f"of shape {tuple(saved[key].shape)}"
            why = " (the head: the outputs differ, so it must be replaced; drop --no-reset-head)" if key in head \
                else ""
            raise ConfigError(f"Cannot start from {source.path}: parameter `{key}` of shape {tuple(value.shape)} is "
                              f"{found} there{why}; train the same architecture (drop --model/--model-args) or "
                              "train without --init-from.")
        chosen[key] = saved[key].to(value.dtype)
    model.load_state_dict(chosen, strict=False)
    return sorted(head) if reset else []


def freeze(model: nn.Module, patterns: list[str], until: str | None) -> list[str]:
    """Stop gradients of the parameters matching any glob `pattern` and of every parameter up to and including the
    module `until` (in the order the model defines them); returns their names."""
    names = [name for name, _ in model.named_parameters()]
    chosen = {name for name in names for pattern in patterns if fnmatch.fnmatchcase(name, pattern)}
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in names):
            raise ConfigError(f"Invalid `freeze` pattern {pattern!r}: expected a glob over parameter names, it matches "
                              f"none of {_some(names)}.{did_you_mean(pattern, names)}")
    if until is not None:
        modules = [name for name, _ in model.named_modules() if name]
        if until not in modules:
            raise ConfigError(f"Invalid `freeze_until` {until!r}: expected a module name of the model, e.g. "
                              f"{_some(modules)}.{did_you_mean(until, modules)}")
        last = max(i for i, name in enumerate(names) if name.startswith(until + "."))
        chosen.update(names[: last + 1])
    for name, parameter in model.named_parameters():
        if name in chosen:
            parameter.requires_grad_(False)
    return [name for name in names if name in chosen]


def _some(names: list[str]) -> str:
    return ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")


def parameter_groups(model: nn.Module, groups: list[dict], head: set[str], body_factor: float) -> list[dict]:
    """Split weight-decay groups into head and body groups; a body group's `lr_factor` is `body_factor`."""
    if body_factor == 1.0:
        return groups
    names = {id(p): name for name, p in model.named_parameters()}
    split = []
    for group in groups:
        for in_head, factor in ((False, body_factor), (True, 1.0)):
            params = [p for p in group["params"] if (names[id(p)] in head) == in_head]
            if params:
                split.append({**group, "params": params, "lr_factor": factor})
    return split


class Unfreeze(Callback):
    """Let the frozen parameters train from epoch `after` (counted from 0: `after=2` trains them from the third).

    The state follows from the epoch alone, so a resumed run freezes or unfreezes exactly as the original did.
    """

    def __init__(self, model: nn.Module, names: list[str], after: int):
        self.parameters = [p for name, p in model.named_parameters() if name in set(names)]
        self.after = after

    def on_train_start(self, trainer) -> None:
        self._apply(trainer.epoch)

    def on_epoch_start(self, trainer) -> None:
        self._apply(trainer.epoch)

    def _apply(self, epoch: int) -> None:
        for parameter in self.parameters:
            parameter.requires_grad_(epoch >= self.after)


def describe(source, frozen: list[str], new: list[str], cfg) -> dict[str, Any]:
    """What results.json records about where the weights came from."""
    return {"run": str(Path(source.path).resolve()), "model": source.info["architecture"]["name"],
            "new_parameters": new, "frozen": frozen, "unfreeze_after": cfg.unfreeze_after,
            "body_lr_factor": cfg.body_lr_factor, "preprocessing": cfg.init_preprocessing}


def same_outputs(source, task, classes: list[str] | None) -> bool:
    """Whether the new run predicts the same things as the source: the same task and the same output names."""
    return source.task.name == task.name and list(source.classes) == list(classes or []) \
        and source.task.num_outputs == task.num_outputs
