"""Feature visualisation (Yosinski, Clune, Nguyen, Fuchs & Lipson 2015, "Understanding neural networks through deep
visualization"): the input that maximises one unit, and the test inputs that activate that unit most.

Written here because captum has no feature visualisation. The unit is channel C of a layer's output, averaged over
its positions (the paper took the centre position of a convolutional channel; the mean asks for the channel's
pattern wherever it appears, and is the unit the top-activating inputs are ranked by). The input is found by
normalised gradient ascent with the paper's regularisers: L2 decay towards the training mean, a Gaussian blur every
few steps (high frequencies are what unregularised ascent produces), and a random shift each step (jitter, from
Mordvintsev et al. 2015) so that the pattern cannot rely on one alignment. It is optimised in the preprocessing's
scaled space (8-bit images: [0, 1], clipped there) and passed through the run's preprocessing like any raw input.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from striate.errors import ConfigError
from striate.explain.attribution import Layer, _check_positive, _no_inplace, find_layer, neutral_input

if TYPE_CHECKING:
    from striate.data import Dataset
    from striate.runs import Run


@dataclass
class Visualization:
    """What `visualize` found for one unit.

    Attributes:
        layer, channel: the unit.
        synthesized: the raw input `(*input_shape)` that maximises it, float32.
        activation: the unit's value on `synthesized`; `start` its value on the starting point (the training mean).
        top_inputs: raw test inputs `(k, *input_shape)` that activate it most, highest first.
        top_activations: `(k,)` their unit values; `top_labels`: their true classes.
        data: the test data they come from.
    """

    layer: str
    channel: int
    synthesized: torch.Tensor
    activation: float
    start: float
    top_inputs: torch.Tensor
    top_activations: torch.Tensor
    top_labels: list[str]
    data: str


def visualize(run: Run, layer: str | None = None, channel: int = 0, *, steps: int = 256, lr: float = 0.05,
              decay: float = 0.01, blur_every: int = 4, blur_sigma: float = 0.5, jitter: int | None = None,
              top: int = 16, seed: int = 0, batch_size: int = 256) -> Visualization:
    """Synthesise the input that maximises channel `channel` of `layer` (default: the last convolution to run) and
    rank the run's test inputs by the same unit.

    Args:
        steps, lr: gradient ascent steps and step size (the mean absolute change per step, in scaled units).
        decay: each step moves the input this fraction of the way back to the training mean (L2 decay).
        blur_every, blur_sigma: a Gaussian blur of `blur_sigma` positions every `blur_every` steps (0: never).
        jitter: the largest random shift per step, in positions (default: 1 per 14 positions of the shortest side).
        top: how many test inputs to rank; seed: the starting noise and the shifts.
    """
    if run.input_kind == "tokens":
        raise ConfigError("Method `visualize` does not apply to text runs: it changes the input continuously and "
                          "token ids are discrete; explain sentences with gradcam, saliency, integrated_gradients or "
                          "occlusion.")
    for name, value in (("steps", steps), ("top", top), ("batch_size", batch_size)):
        _check_positive(name, value)
    start = neutral_input(run)
    found = find_layer(run, start, layer, "visualize")
    channels = found.shape[1] if len(found.shape) > 1 else 0
    if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel < channels:
        raise ConfigError(f"Invalid `channel` {channel!r} for layer `{found.name}`: expected 0 to {channels - 1} (its "
                          f"output has {channels} channels), received {channel!r}.")
    jitter = max(1, min(run.input_shape[1:]) // 14) if jitter is None else jitter
    with _no_inplace(run.model), _unit(run, found, channel) as unit:  # the unit is the layer's own output
        synthesized = _ascend(run, unit, start, steps, lr, decay, blur_every, blur_sigma, jitter, seed)
        with torch.no_grad():
            activation, begin = unit(synthesized[None]).item(), unit(start).item()
        data, spec = test_data(run)
        values = torch.cat([unit(part).cpu() for part in torch.split(data.x, batch_size)])
    best, index = values.topk(min(top, len(values)))
    labels = ([run.classes[int(data.y[i])] for i in index] if data.target_kind == "class"
              else ["" for _ in index])
    return Visualization(found.name, channel, synthesized.cpu(), activation, begin, data.x[index], best, labels, spec)


@contextmanager
def _unit(run: Run, layer: Layer, channel: int):
    """A function: raw inputs `(B, *input_shape)` -> `(B,)` channel `channel` of `layer`'s output, position mean."""
    captured: list[torch.Tensor] = []
    handle = layer.module.register_forward_hook(lambda _module, _args, output: captured.append(output))

    def unit(raw: torch.Tensor) -> torch.Tensor:
        captured.clear()
        with torch.set_grad_enabled(raw.requires_grad):
            layer.forward(raw.to(run.device))
            values = captured[0][:, channel]  # (B, C, ...) -> (B, ...)
            return values.flatten(1).mean(dim=1) if values.dim() > 1 else values

    try:
        yield unit
    finally:
        handle.remove()


def _ascend(run: Run, unit, start: torch.Tensor, steps: int, lr: float, decay: float, blur_every: int,
            blur_sigma: float, jitter: int, seed: int) -> torch.Tensor:
    """Regularised gradient ascent from the training mean plus a little noise; returns the raw input `(*shape)`."""
    scale = float(run.info.get("scale", 1.0))
    bounded = scale != 1.0  # 8-bit data: the scaled input must stay a valid image, [0, 1]
    generator = torch.Generator().manual_seed(seed)
    mean = (start * scale).to(run.device)  # (1, *input_shape) in scaled units
    x = mean + 0.01 * torch.randn(mean.shape, generator=generator).to(run.device)
    axes = tuple(range(2, x.dim()))
    for step in range(steps):
        shifts = torch.randint(-jitter, jitter + 1, (len(axes),), generator=generator).tolist()
        x.requires_grad_(True)
        value = unit(torch.roll(x, shifts, axes) / scale).sum()
        (gradient,) = torch.autograd.grad(value, x)
        with torch.no_grad():
            x = x + lr * gradient / gradient.abs().mean().clamp_min(1e-12)
            x = mean + (1 - decay) * (x - mean)
            if blur_every and (step + 1) % blur_every == 0:
                x = gaussian_blur(x, blur_sigma)
            if bounded:
                x = x.clamp(0, 1)
    return (x.detach() / scale)[0]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """`(B, C, *positions)` blurred by a Gaussian of `sigma` positions along every position axis (1-D to 3-D).

    Separable: one 1-D convolution per axis, edges replicated (kornia's blur is 2-D; series and clips need one too).
    """
    if sigma <= 0:
        return x
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-offsets.square() / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    for axis in range(2, x.dim()):
        moved = x.movedim(axis, -1)  # (B, C, ..., L): the blurred axis last
        flat = moved.reshape(-1, 1, moved.shape[-1])  # (B * C * ..., 1, L)
        blurred = F.conv1d(F.pad(flat, (radius, radius), mode="replicate"), kernel)
        x = blurred.reshape(moved.shape).movedim(-1, axis)
    return x


def test_data(run: Run) -> tuple[Dataset, str]:
    """The run's test part, rebuilt as training built it (`striate.evaluate.test_split`, the one place that does)."""
    from striate.evaluate import test_split

    return test_split(run)
