"""The run configuration: one source of truth for every training option, its type, default and description.

CLI flags, YAML files and Python keyword arguments all resolve through `RunConfig`; YAML is parsed with
`yaml.safe_load` (no code execution) and every value is validated by pydantic, so a wrong key or type becomes a
one-line `ConfigError` that names the key, the expected type and the value received.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from striate.errors import ConfigError, did_you_mean

MAX_EPOCHS = 1_000_000
"""More epochs than any schedule needs; a larger count is a typo that would otherwise train forever."""
DEFAULT_LR = {"adamw": 3e-3, "sgd": 0.05}
DEFAULT_WEIGHT_DECAY = {"adamw": 0.05, "sgd": 5e-4}


class RunConfig(BaseModel):
    """Every option of `striate train`; each field is also a CLI flag (`batch_size` -> `--batch-size`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    data: str = Field("fashion-mnist", description="dataset NAME[:LOCATION][?key=value&...], see `striate datasets`")
    data_args: dict[str, Any] = Field(default_factory=dict,
                                      description="options of the dataset's loader (CLI: KEY=VALUE, repeatable)")
    test_data: str | None = Field(None, description="separate test data, same syntax as --data (default: its own)")
    val_data: str | None = Field(None, description="separate validation data, same syntax as --data")
    split: Literal["auto", "stratified", "random", "temporal"] = Field(
        "auto", description="how validation/test parts are split off: auto = temporal for ordered series, "
                            "stratified for classes, random otherwise")
    task: str | None = Field(None, description="classification, multilabel or regression (default: what the data "
                                               "declares)")
    task_args: dict[str, Any] = Field(default_factory=dict,
                                      description="task options (CLI: KEY=VALUE, repeatable), e.g. threshold=0.4")
    model: str = Field("lenet5", description="architecture name from `striate models`, or a model spec .yaml file")
    model_args: dict[str, Any] = Field(default_factory=dict,
                                       description="extra keyword arguments for the model (CLI: KEY=VALUE, repeatable)")
    epochs: int = Field(6, ge=1, le=MAX_EPOCHS, description="passes over the training set")
    batch_size: int = Field(128, ge=1, description="examples per training step: the global batch, split evenly "
                                                    "over --nproc processes")
    eval_batch_size: int = Field(1024, ge=1, description="examples per evaluation step")
    lr: float | None = Field(None, gt=0, description="peak learning rate (default: 3e-3 for adamw, 0.05 for sgd)")
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="adamw, or sgd with momentum")
    lr_scaling: Literal["none", "linear", "sqrt"] = Field(
        "none", description="scale lr with the global batch: linear or sqrt of batch_size / lr_base_batch")
    lr_base_batch: int = Field(128, ge=1, description="the global batch that lr was tuned for (with --lr-scaling)")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    nesterov: bool = Field(True, description="use Nesterov momentum with SGD")
    weight_decay: float | None = Field(None, ge=0, description="decoupled weight decay (default: 0.05 adamw, 5e-4 sgd)")
    schedule: Literal["onecycle", "cosine", "constant"] = Field("onecycle", description="learning-rate schedule")
    warmup: float = Field(0.2, ge=0, lt=1, description="fraction of steps spent warming up (onecycle and cosine)")
    loss: str | None = Field(None, description="loss by name (default: the task's): softmax, sigmoid_cross_entropy, "
                                               "euclidean, euclidean_caffe, absolute")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the softmax loss")
    class_weights: list[float] | None = Field(None, description="per-class weights of the softmax loss")
    l1: float = Field(0.0, ge=0, description="L1 penalty coefficient added to the loss (sum |w|)")
    l2: float = Field(0.0, ge=0, description="L2 penalty coefficient added to the loss (sum w^2); both = elastic net")
    penalize_bias: bool = Field(False, description="apply the L1/L2 penalties to biases too")
    penalize_norm: bool = Field(False, description="apply the L1/L2 penalties to normalisation parameters too")
    max_norm: float | None = Field(None, gt=0, description="clamp each neuron's incoming weight norm to this (3-4)")
    clip_grad_norm: float | None = Field(None, gt=0, description="clip the gradients' global norm to this before "
                                                                 "each step (off if unset)")
    patience: int | None = Field(None, ge=1, description="early stopping: epochs without improvement (off if unset)")
    monitor: str | None = Field(None, description="early stopping and best epoch: metric to watch, e.g. val_loss, "
                                                  "val_accuracy (default: the task's, on validation data)")
    min_delta: float = Field(0.0, ge=0, description="early stopping: smallest change that counts as improvement")
    restore_best: bool = Field(True, description="early stopping: restore the best epoch's weights at the end")
    augment: list[str | dict[str, Any]] = Field(
        default_factory=list, description="batch augmentations, e.g. [crop, {affine: {degrees: 10}}, elastic]")
    tta: Literal["none", "hflip"] = Field(
        "none", description="test-time augmentation: hflip averages each image's and its mirror image's logits")
    channels_last: bool = Field(True, description="channels-last memory layout for image models (faster on CPU)")
    embeddings: str | None = Field(None, description="pretrained word vectors (word2vec or GloVe text file) for "
                                                     "the Text CNN's embeddings")
    seed: int = Field(0, ge=0, lt=2**63, description="seed of every random number generator; equal seeds repeat a "
                                                      "CPU run exactly")
    device: str = Field("auto", description="auto (CUDA when available), cpu, cuda, cuda:N")
    checkpoint_every: int | None = Field(None, ge=1, description="also checkpoint every N steps (a checkpoint is "
                                                                 "always written after every epoch)")
    nproc: int = Field(1, ge=1, le=1024, description="training processes on this machine (data parallel, launched "
                                                     "with torchrun; under torchrun its own count)")
    max_restarts: int = Field(0, ge=0, description="with --nproc: restart the processes this many times after a "
                                                   "failure, continuing from the last checkpoint")
    sync_batchnorm: bool = Field(False, description="with several processes: batch-norm statistics over the "
                                                    "global batch instead of each process's part")
    dist_timeout: float = Field(120.0, gt=0, description="with several processes: seconds to wait for the others "
                                                         "before giving up with an error")
    init_from: str | None = Field(None, description="a run folder to start from: its weights (a new head when the "
                                                    "classes or task differ), its model unless --model is given, "
                                                    "its preprocessing statistics")
    reset_head: bool | None = Field(None, description="with --init-from: a new head even when the classes match "
                                                      "(--reset-head), or keep it (--no-reset-head); default: new "
                                                      "when they differ")
    freeze: list[str] = Field(default_factory=list, description="parameters to keep fixed, as glob patterns over "
                                                                "their names, e.g. 'features.0.*' (repeatable)")
    freeze_until: str | None = Field(None, description="keep fixed every parameter up to and including this module, "
                                                       "e.g. features.3 (names: striate summary)")
    unfreeze_after: int | None = Field(None, ge=1, description="let the frozen parameters train after this many "
                                                               "epochs")
    body_lr_factor: float = Field(1.0, gt=0, le=1, description="the learning rate of everything but the head, as a "
                                                               "fraction of lr (discriminative rates, e.g. 0.1)")
    init_preprocessing: Literal["keep", "recompute"] = Field(
        "keep", description="with --init-from: keep the source run's normalisation statistics, or recompute them")
    out: str = Field("runs", description="folder that holds run folders")
    name: str | None = Field(None, description="run folder name (default: MODEL-DATA, numbered when it exists)")
    val_split: float = Field(0.1, ge=0, lt=1, description="fraction of the training set held out for validation")
    train_size: int | None = Field(None, ge=1, description="use only this many training examples (seeded subset)")
    test_size: int | None = Field(None, ge=1, description="use only this many test examples (seeded subset)")
    train_per_class: int | None = Field(None, ge=1, description="use at most this many training examples of each "
                                                                "class (seeded; few-shot experiments)")

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML reads `epochs: true` as a boolean, which pydantic would take as 1: a number must be written as one."""
        annotation = cls.model_fields[info.field_name].annotation
        numeric = {int, float} & set(typing.get_args(annotation) or (annotation,))
        if isinstance(value, bool) and numeric:
            raise ValueError(f"Input should be a number, not the boolean {value}")
        return value

    def resolved(self) -> RunConfig:
        """A copy with the optimizer-dependent defaults filled in (what `config.yaml` records)."""
        updates = {}
        if self.lr is None:
            updates["lr"] = DEFAULT_LR[self.optimizer]
        if self.weight_decay is None:
            updates["weight_decay"] = DEFAULT_WEIGHT_DECAY[self.optimizer]
        return self.model_copy(update=updates)

    @property
    def effective_lr(self) -> float:
        """The peak learning rate training uses: `lr`, scaled by `lr_scaling` for the global batch."""
        from striate.train.distributed import scaled_lr

        return scaled_lr(self.lr or DEFAULT_LR[self.optimizer], self.lr_scaling, self.batch_size, self.lr_base_batch)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def make_config(base: dict[str, Any] | None = None, **overrides: Any) -> RunConfig:
    """Validate `base` (e.g. a YAML file's contents) updated with the non-None `overrides`."""
    values = dict(base or {})
    values.update({key: value for key, value in overrides.items() if value is not None})
    check_depth(values, "config")
    unknown = sorted(set(values) - set(RunConfig.model_fields))
    if unknown:
        raise ConfigError(f"Unknown config key `{unknown[0]}`: expected one of {', '.join(RunConfig.model_fields)}."
                          f"{did_you_mean(unknown[0], RunConfig.model_fields)}")
    try:
        return RunConfig(**values)
    except ValidationError as error:
        raise ConfigError(_describe(error.errors()[0])) from None


def _describe(problem: dict) -> str:
    key = ".".join(str(part) for part in problem["loc"])
    field = RunConfig.model_fields.get(str(problem["loc"][0]))
    expected = problem["msg"].removeprefix("Value error, ").replace("Input should be", "expected")
    expected = expected.replace("Input ", "expected ")
    hint = f" ({field.description})" if field is not None and field.description else ""
    return f"Invalid config key `{key}`{hint}: {expected}, received {problem.get('input')!r}."


def load_config(path: str | Path | None, **overrides: Any) -> RunConfig:
    """Read a YAML config (optional) and apply CLI/keyword overrides on top of it."""
    return make_config(read_yaml_mapping(path) if path else {}, **overrides)


MAX_DEPTH = 32
"""How deeply lists and mappings may nest in a config or model spec (real ones nest a handful of levels)."""
MAX_ITEMS = 1_000_000
"""How many values a config or model spec may hold once YAML aliases are expanded (a spec of 10,000 layers holds
about 50,000); an alias bomb (`b: [*a, *a, ...]` nested) expands to billions and is refused here."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no tags, no code) that refuses a key written twice in one mapping.

    Plain `safe_load` keeps the last of two `epochs:` lines without a word, so a config would silently train with a
    value its author may not have meant; PyYAML has no option for this, hence the subclass.
    """

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, typing.Hashable) and key in seen:
                mark = key_node.start_mark
                raise ConfigError(f"Duplicate key {key!r} at line {mark.line + 1}: expected each key once per "
                                  "mapping; remove one of them.")
            seen.add(key) if isinstance(key, typing.Hashable) else None
        return super().construct_mapping(node, deep=deep)


def safe_yaml(text: str, where: str) -> Any:
    """Safe YAML (no tags, no code, no duplicate keys) nesting at most `MAX_DEPTH` levels, or a ConfigError."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no tags, no code
    except RecursionError:
        raise ConfigError(f"Invalid {where}: it nests lists or mappings too deeply to read; expected at most "
                          f"{MAX_DEPTH} levels.") from None
    except ConfigError as error:
        raise ConfigError(f"Invalid {where}: {error}") from None
    check_depth(data, where)
    return data


def check_depth(value: Any, where: str) -> None:
    """Raise a ConfigError when `value` nests lists/mappings deeper than `MAX_DEPTH` or holds more than `MAX_ITEMS`
    values (checked without recursion)."""
    stack, items = [(value, 1)], 0
    while stack:
        item, depth = stack.pop()
        items += 1
        if depth > MAX_DEPTH:
            raise ConfigError(f"Invalid {where}: lists or mappings nest more than {MAX_DEPTH} levels deep; expected "
                              "a flatter structure.")
        if items > MAX_ITEMS:
            raise ConfigError(f"Invalid {where}: it holds more than {MAX_ITEMS:,} values (YAML aliases expanded); "
                              "expected a smaller structure.")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)


def yaml_problem(error: Exception) -> str:
    """PyYAML's error as one phrase with its position: 'found ... at line 2, column 1'."""
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: expected a YAML file at {path}.")
    try:
        data = safe_yaml(path.read_text(encoding="utf-8"), f"config {path}")
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"Cannot parse config {path}: expected YAML ({yaml_problem(error)}).") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Invalid config {path}: expected a mapping of keys to values, found {type(data).__name__}.")
    return data
