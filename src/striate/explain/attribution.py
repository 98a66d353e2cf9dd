"""Attribution maps through captum, computed on raw inputs through a run's preprocessing.

striate does not re-implement the methods: it picks what captum needs (the layer, the target class, a baseline, a
window) and bounds memory. Inputs go through captum in chunks of `batch_size`, and no forward pass sees more than
`max(batch_size, internal_batch_size)` examples: integrated gradients' `steps` interpolations are split by captum's
`internal_batch_size`, occlusion's windows by its `perturbations_per_eval`.

Maps come back on the raw input's grid (`(N, *input_shape)`; Grad-CAM `(N, 1, *spatial)`, upsampled), so they line up
with the pixels, time steps or slices a user gave. Token ids have no gradient, so text runs are explained at the
embedding layer's output and summed over its width, one value per token `(N, L)`. Series normalised one by one are
integrated in normalised units (a straight path from a raw baseline is one point once normalised).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from striate.errors import ConfigError, did_you_mean
from striate.tta import tta_logits

if TYPE_CHECKING:
    from striate.runs import Run

METHODS: dict[str, str] = {
    "gradcam": "Grad-CAM (Selvaraju et al. 2017): a layer's maps weighted by their mean gradient, ReLU, upsampled; "
               "where the evidence for the class lies, at the layer's resolution",
    "guided_gradcam": "guided back-propagation times Grad-CAM (Selvaraju et al. 2017): fine detail inside the "
                      "Grad-CAM region",
    "saliency": "vanilla saliency (Simonyan et al. 2013): |d score / d input|, the inputs a small change of which "
                "moves the class score most",
    "integrated_gradients": "integrated gradients (Sundararajan et al. 2017): (input - baseline) times the gradient "
                            "averaged along the path from the baseline; signed, sums to the score difference",
    "occlusion": "occlusion (Zeiler & Fergus 2014): how much the class score drops when a window is replaced by "
                 "the baseline, slid over the input",
    "visualize": "feature visualisation (Yosinski et al. 2015): the input that maximises one channel of a layer, "
                 "and the test inputs that activate it most",
}
LAYER_METHODS = ("gradcam", "guided_gradcam")
SIGNED_METHODS = ("guided_gradcam", "integrated_gradients", "occlusion")
"""Methods whose maps have a sign (evidence for and against the class); Grad-CAM and saliency are non-negative."""

_INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}


@dataclass
class Explanation:
    """What `explain` computed, enough to draw each input's picture.

    Attributes:
        method: the method's name (a key of `METHODS`).
        layer: the layer Grad-CAM read, None for the other methods.
        inputs: raw inputs `(N, *input_shape)`, as `striate predict` reads them.
        attributions: `(N, *input_shape)` (Grad-CAM: `(N, 1, *spatial)`; text: `(N, L)`), float32 on the CPU.
        targets: `(N,)` the output index each map explains.
        outputs: `(N, K)` the task's predictions (probabilities, scores or values).
        sources, notes: per input, where it came from and what reading it changed.
    """

    method: str
    layer: str | None
    inputs: torch.Tensor
    attributions: torch.Tensor
    targets: torch.Tensor
    outputs: torch.Tensor
    sources: list[str]
    notes: list[list[str]] = field(default_factory=list)


def explain(run: Run, inputs, method: str = "gradcam", target=None, *, layer: str | None = None,
            window: int | None = None, stride: int | None = None, steps: int = 50, batch_size: int = 16,
            internal_batch_size: int = 64) -> Explanation:
    """Attribution maps of `run` for `inputs` (anything `Run.predict` takes: files, sentences, series, a raw tensor).

    Args:
        method: a key of `METHODS` other than "visualize" (see `visualize`).
        target: the class (name or index) to explain, or one per input; None explains each input's predicted class.
        layer: Grad-CAM's layer, a module name as `striate summary` lists it, or "forward_features" (the default,
            where the model has one; else the last convolution to run).
        window, stride: occlusion's window and step, in input positions (pixels, time steps, tokens).
        steps: integrated gradients' interpolation steps.
        batch_size: inputs per attribution call; internal_batch_size: the most examples one forward pass sees.
    """
    from striate.predict import load_inputs

    method = check_method(method)
    if method == "visualize":
        raise ConfigError("Method `visualize` synthesises an input for a unit instead of explaining inputs: call "
                          "`striate.explain.visualize(run, layer, channel)` (command line: `striate explain RUN "
                          "--method visualize --layer L --channel C`).")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("internal_batch_size", internal_batch_size)):
        _check_positive(name, value)
    if not isinstance(target, list | tuple | torch.Tensor):
        resolve_target(target, run.classes)  # a misspelt class fails before any input is read
    if method == "occlusion":
        occlusion_window(run, window, stride)
    x, sources, notes = load_inputs(inputs, run)
    outputs = run.outputs(x, batch_size=max(batch_size, internal_batch_size))
    targets = _targets(run, outputs, target)
    found = _layer_for(run, x[:1], method, layer)
    options = {"window": window, "stride": stride, "steps": steps, "internal_batch_size": internal_batch_size}
    chunks = []
    with _captum_quietly(), _no_inplace(run.model):
        for part, part_targets in zip(torch.split(x, batch_size), torch.split(targets, batch_size), strict=True):
            chunks.append(_attribute(run, part, part_targets, method, found, options).detach().float().cpu())
    return Explanation(method, found and found.name, x, torch.cat(chunks), targets, outputs, sources, notes)


def check_method(method: str) -> str:
    """The canonical method name (`guided-gradcam` -> `guided_gradcam`), or a ConfigError with a close match."""
    name = str(method).strip().lower().replace("-", "_")
    if name not in METHODS:
        raise ConfigError(f"Unknown explanation method `{method}`: expected one of {', '.join(METHODS)}."
                          f"{did_you_mean(name, METHODS)}")
    return name


def resolve_target(target: int | str | None, classes: list[str]) -> int | None:
    """A class name, or an index as an int or a string of digits, -> the output index (None stays None)."""
    if target is None:
        return None
    if isinstance(target, int) and not isinstance(target, bool) and 0 <= target < len(classes):
        return target
    text = str(target).strip()
    if text in classes:
        return classes.index(text)
    if text.isdigit() and int(text) < len(classes):
        return int(text)
    shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
    raise ConfigError(f"Unknown target class `{target}`: expected a class name of this run ({shown}) or an index "
                      f"from 0 to {len(classes) - 1}.{did_you_mean(text, classes)}")


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"Invalid `{name}`: expected a positive integer, received {value!r}.")


def _targets(run: Run, outputs: torch.Tensor, target) -> torch.Tensor:
    """The explained output per input: the given one (or one per input), else the predicted class (a regression's
    first value)."""
    if target is None:
        predicted = run.task.name != "regression" and outputs.shape[1] > 1
        return outputs.argmax(dim=1) if predicted else torch.zeros(len(outputs), dtype=torch.int64)
    if isinstance(target, list | tuple | torch.Tensor):
        values = [resolve_target(one, run.classes) for one in (target.tolist() if torch.is_tensor(target) else target)]
        if len(values) != len(outputs):
            raise ConfigError(f"Invalid `target`: expected one class for all inputs or one per input ({len(outputs)}), "
                              f"received {len(values)}.")
        return torch.tensor(values, dtype=torch.int64)
    return torch.full((len(outputs),), resolve_target(target, run.classes), dtype=torch.int64)


# --- layers ----------------------------------------------------------------------------------------------------------

@dataclass
class LayerTrace:
    """What one forward pass of a single example showed about a model's modules.

    Attributes:
        shapes: each module's output shape (first call), batch of one included.
        calls: how often each module ran.
        convolutions: convolution-like modules in the order they ran (first call).
    """

    shapes: dict[str, tuple[int, ...]]
    calls: dict[str, int]
    convolutions: list[str]


def is_convolution(module: nn.Module) -> bool:
    """torch's convolutions (striate's subclass them) and striate's locally connected layers, which give maps too."""
    from striate.layers.local import _LocallyConnectedNd

    return isinstance(module, nn.modules.conv._ConvNd | _LocallyConnectedNd)


def trace_layers(model: nn.Module, x: torch.Tensor) -> LayerTrace:
    """Run `model` once on the model input `x` (batch of one) and record every module's output shape and calls."""
    trace = LayerTrace({}, {}, [])

    def record(name: str):
        def hook(module: nn.Module, args, output) -> None:
            trace.calls[name] = trace.calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor) and name not in trace.shapes:
                trace.shapes[name] = tuple(output.shape)
                if is_convolution(module):
                    trace.convolutions.append(name)
        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in model.named_modules() if name]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return trace


FEATURES = "forward_features"
"""The layer name of a model's `forward_features` output: the unpooled, rectified map its head reads."""


@dataclass
class Layer:
    """A layer to read: its name, the module whose output it is, a forward pass that runs that module once
    (raw inputs -> outputs, preprocessing included, no test-time augmentation) and its output shape for one input."""

    name: str
    module: nn.Module
    forward: nn.Module
    shape: tuple[int, ...]


def find_layer(run: Run, example: torch.Tensor, layer: str | None, method: str) -> Layer:
    """The layer named `layer`, checked to run once per forward pass and return one tensor; `example` is one raw input.

    Grad-CAM's default is the model's `forward_features` map where it has one (the last convolution's output after
    its normalisation and activation: what the head reads), else the last convolution to run. Visualisation's default
    is the last convolution itself: before the activation, a unit has a gradient even where it is negative.
    """
    x = run.preprocess(example)
    trace, features = trace_layers(run.model, x), _features_layer(run, x)
    modules = dict(run.model.named_modules())
    architecture = run.info["architecture"]["name"]
    if layer is None and not trace.convolutions:
        raise ConfigError(f"Method `{method}` does not apply to model `{architecture}`: it reads a convolutional "
                          "layer's maps and the model has none; use saliency, integrated_gradients or occlusion.")
    if features is not None and (layer == FEATURES or (layer is None and method in LAYER_METHODS)):
        return features
    layer = trace.convolutions[-1] if layer is None else layer
    if not layer or layer not in modules:
        known = [FEATURES] * (features is not None) + (trace.convolutions[-4:] or list(trace.shapes)[-4:])
        raise ConfigError(f"Unknown layer `{layer}` in model `{architecture}`: expected a module name such as "
                          f"{', '.join(known)} (`striate summary {run.path}` lists them all)."
                          f"{did_you_mean(layer, [*modules, FEATURES])}")
    if trace.calls.get(layer, 0) != 1 or layer not in trace.shapes:
        runs = trace.calls.get(layer, 0)
        raise ConfigError(f"Invalid `layer` {layer} for `{method}`: expected a layer that runs once per forward pass "
                          f"and returns one tensor, found one that runs {runs} times"
                          f"{' or returns several tensors' if runs == 1 else ''}; choose another, such as "
                          f"{', '.join(trace.convolutions[-3:]) or 'a convolution'}.")
    return Layer(layer, modules[layer], _plain_pipeline(run), trace.shapes[layer])


class _Features(nn.Module):
    """`model.forward_features` as a module of its own, so that captum can hook the map it returns."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


class _Split(nn.Module):
    """Raw inputs -> preprocessing -> `forward_features` -> `forward_head`: the model with its features as a module."""

    def __init__(self, preprocess: nn.Module, model: nn.Module):
        super().__init__()
        self.preprocess, self.features = preprocess, _Features(model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features.model.forward_head(self.features(self.preprocess(x)))


def _features_layer(run: Run, x: torch.Tensor) -> Layer | None:
    """The `forward_features` layer of a striate model whose features are a map (`feature_layout`), or None."""
    from striate.models._base import Classifier

    model = run.model
    if not isinstance(model, Classifier) or model.feature_layout not in ("spatial", "temporal", "spatiotemporal"):
        return None
    split = _Split(run.preprocessor, model)
    with torch.no_grad():
        shape = tuple(model.forward_features(x).shape)
    return Layer(FEATURES, split.features, split, shape)


def _layer_for(run: Run, example: torch.Tensor, method: str, layer: str | None) -> Layer | None:
    """Grad-CAM's layer, checked to give a map with the input's spatial rank; other methods read no layer."""
    if method not in LAYER_METHODS:
        if layer is not None:
            raise ConfigError(f"Invalid `layer` for `{method}`: it attributes to the input; `layer` applies to "
                              f"{', '.join(LAYER_METHODS)} and visualize.")
        return None
    if method == "guided_gradcam" and run.input_kind == "tokens":
        raise ConfigError("Method `guided_gradcam` does not apply to text runs: guided back-propagation needs a "
                          "gradient at the input and token ids have none; use gradcam, saliency, "
                          "integrated_gradients or occlusion.")
    found = find_layer(run, example, layer, method)
    rank = _spatial_rank(run)
    if len(found.shape) != rank + 2 or found.shape[0] != 1:
        raise ConfigError(f"Invalid `layer` {found.name} for `{method}`: expected a map (N, C, "
                          f"{', '.join('LHW'[-rank:] if rank < 3 else 'DHW')}) with the input's {rank} position axes, "
                          f"found output shape (N, {', '.join(map(str, found.shape[1:]))}); choose a convolution.")
    return found


def _spatial_rank(run: Run) -> int:
    """Position axes of one input: 1 for token ids `(L,)` and series `(C, L)`, 2 for images, 3 for clips."""
    return 1 if run.input_kind == "tokens" else len(run.input_shape) - 1


# --- captum ----------------------------------------------------------------------------------------------------------

def _attribute(run: Run, x: torch.Tensor, targets: torch.Tensor, method: str, layer: Layer | None,
               options: dict[str, Any]) -> torch.Tensor:
    """One chunk's maps. `x`: raw `(B, *input_shape)`."""
    x = x.to(run.device, torch.float32)  # token ids stay exact in float32 (below 2**24); Preprocess casts them back
    target = targets.to(run.device)
    if run.input_kind == "tokens":
        return _attribute_tokens(run, x, target, method, layer, options)
    from captum.attr import GuidedGradCam, IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion, Saliency

    if method in LAYER_METHODS:
        mode = _INTERPOLATION[x.dim() - 2]
        if method == "guided_gradcam":
            return GuidedGradCam(layer.forward, layer.module).attribute(x, target=target, interpolate_mode=mode)
        cam = LayerGradCam(layer.forward, layer.module).attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), mode)  # (B, 1, h, w) -> (B, 1, H, W)
    if method == "saliency":
        return Saliency(run.pipeline).attribute(x, target=target, abs=True)
    baseline = neutral_input(run).to(x.device)
    if method == "integrated_gradients":
        forward = run.pipeline
        if run.info.get("normalization") == "series":
            # Per-series z-normalisation gives every point of the straight path from a raw baseline the same model
            # input, so the path integral says nothing (and breaks completeness); integrate from the normalised
            # series' zero instead, through the model and its test-time augmentation.
            x, baseline = run.preprocess(x), torch.zeros_like(x[:1])
            forward = partial(tta_logits, run.model, mode=run.tta)
        return IntegratedGradients(forward).attribute(x, baselines=baseline, target=target, n_steps=options["steps"],
                                                      internal_batch_size=options["internal_batch_size"])
    if run.info.get("normalization") == "series":
        baseline = x.nanmean(dim=-1, keepdim=True).nan_to_num(0.0).expand_as(x)  # each series' own level
    windows, strides = occlusion_window(run, options["window"], options["stride"])
    per_eval = max(1, options["internal_batch_size"] // len(x))
    return Occlusion(run.pipeline).attribute(x, sliding_window_shapes=(x.shape[1], *windows),
                                             strides=(x.shape[1], *strides), baselines=baseline, target=target,
                                             perturbations_per_eval=per_eval)


def _attribute_tokens(run: Run, x: torch.Tensor, target: torch.Tensor, method: str, layer: Layer | None,
                      options: dict[str, Any]) -> torch.Tensor:
    """Text: token ids `(B, L)` -> one value per token `(B, L)`."""
    from captum.attr import (
        LayerAttribution,
        LayerGradCam,
        LayerGradientXActivation,
        LayerIntegratedGradients,
        Occlusion,
    )

    if method == "gradcam":
        cam = LayerGradCam(layer.forward, layer.module).attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, (x.shape[1],), "linear")[:, 0]  # (B, 1, L') -> (B, L)
    if method == "occlusion":
        windows, strides = occlusion_window(run, options["window"], options["stride"])
        per_eval = max(1, options["internal_batch_size"] // len(x))
        return Occlusion(run.pipeline).attribute(x, sliding_window_shapes=windows, strides=strides, baselines=0,
                                                 target=target, perturbations_per_eval=per_eval)
    embeddings = [module for module in run.model.modules() if isinstance(module, nn.Embedding)]
    if not embeddings:
        raise ConfigError(f"Method `{method}` does not apply to model `{run.info['architecture']['name']}`: for token "
                          "ids it attributes to an embedding layer and the model has none; use occlusion.")
    if method == "saliency":
        found = LayerGradientXActivation(run.pipeline, embeddings, multiply_by_inputs=False).attribute(x, target=target)
        return sum(_per_token(part, x).norm(dim=-1) for part in _as_list(found))
    found = LayerIntegratedGradients(run.pipeline, embeddings).attribute(
        x, baselines=torch.zeros_like(x), target=target, n_steps=options["steps"],
        internal_batch_size=options["internal_batch_size"])  # baseline: every token padding (a zero embedding)
    return sum(_per_token(part, x).sum(dim=-1) for part in _as_list(found))


def _as_list(found) -> list[torch.Tensor]:
    return list(found) if isinstance(found, list | tuple) else [found]


def _per_token(part: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """An embedding's `(B, L', E)` attribution cut or padded to the input's L tokens (a model may pad short ones)."""
    length = x.shape[1]
    if part.shape[1] >= length:
        return part[:, :length]
    return torch.nn.functional.pad(part, (0, 0, 0, length - part.shape[1]))


def neutral_input(run: Run) -> torch.Tensor:
    """The baseline of integrated gradients and occlusion, `(1, *input_shape)` raw: the raw value that preprocessing
    maps to 0 (the training mean, per channel) for channel-normalised data, else 0 (series normalised one by one are
    occluded with their own mean level instead, and integrated from the normalised zero: see `_attribute`)."""
    shape = run.input_shape
    if run.info.get("normalization", "channel") != "channel":
        return torch.zeros(1, *shape)
    mean = torch.tensor(run.info["mean"], dtype=torch.float32) / float(run.info.get("scale", 1.0))
    return mean.view(1, -1, *([1] * (len(shape) - 1))).expand(1, *shape).clone()  # (C,) -> (1, C, 1, ...) -> input


def occlusion_window(run: Run, window: int | None, stride: int | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Occlusion's window and stride per position axis (channels are occluded together), cut to the input's size.

    Defaults: one token for text; else about a seventh of the shortest side (4 pixels at 28x28), stride half of it.
    """
    sizes = run.input_shape if run.input_kind == "tokens" else run.input_shape[1:]
    for name, value in (("window", window), ("stride", stride)):
        if value is not None:
            _check_positive(name, value)
    if window is None:
        window = 1 if run.input_kind == "tokens" else max(1, round(min(sizes) / 7))
    stride = stride or max(1, window // 2)
    return tuple(min(window, size) for size in sizes), tuple(min(stride, size) for size in sizes)


def _plain_pipeline(run: Run) -> nn.Module:
    """Preprocessing and model without test-time augmentation (which would run a layer twice, and captum reads a
    layer's output once)."""
    from striate.data.preprocess import Pipeline

    return run.pipeline if run.tta == "none" else Pipeline(run.preprocessor, run.model, "none")


@contextmanager
def _captum_quietly():
    """captum warns on every call that it sets hooks and that inputs need gradients; neither is the user's concern."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"captum\..*")
        warnings.filterwarnings("ignore", message=r".*(backward hook|requires_grad|Setting backward hooks).*")
        yield


@contextmanager
def _no_inplace(model: nn.Module):
    """Turn in-place activations off while attributing (guided back-propagation hooks each ReLU's gradient, and an
    in-place op would overwrite a layer output captum keeps), then restore them."""
    changed = [module for module in model.modules() if getattr(module, "inplace", False) is True]
    for module in changed:
        module.inplace = False
    try:
        yield
    finally:
        for module in changed:
            module.inplace = True
