"""Artificial data: augmentations applied to whole batches on the compute device (kornia).

Each augmentation is named and parametrised in a config list, e.g.

    augment:
      - crop                          # the article's asymmetric crop by a few percent, resized back
      - {affine: {degrees: 10, translate: 0.1}}
      - {elastic: {alpha: 34, sigma: 4}}

or on the command line `--augment crop --augment affine:degrees=10,translate=0.1`. Batches are float images in
[0, 1], `(N, C, H, W)`; the loader applies the augmentation after scaling and before normalisation, to training
batches only. Labels are never touched.

Hand-written here: the asymmetric crop (kornia's crops take a fixed output window, not independent per-side
margins) and the unit conversion that lets the elastic deformation take Simard et al.'s (2003) alpha and sigma in
pixels (kornia's `RandomElasticTransform` works in normalised coordinates).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
import yaml

from striate.errors import ConfigError, did_you_mean


def _kornia():
    """`kornia.augmentation`, imported on first use: it would add ~0.3 s to every start-up, augmenting or not."""
    import kornia.augmentation

    return kornia.augmentation


class AsymmetricCrop(nn.Module):
    """Crop a random fraction in [0, `max_fraction`] off each of the four sides independently, resize back.

    Input: `(N, C, H, W)` -> Output: `(N, C, H, W)`. With `max_fraction=0` it is the identity.

    Args:
        max_fraction: largest share of the height/width removed from any one side (0.05 = "a few percent").
        p: probability that an image is cropped at all.
    """

    def __init__(self, max_fraction: float = 0.05, p: float = 1.0):
        super().__init__()
        if not 0 <= max_fraction < 0.5:
            raise ConfigError(f"Invalid `max_fraction` for crop: expected a value in [0, 0.5), "
                              f"received {max_fraction}.")
        self.max_fraction, self.p = max_fraction, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        margins = torch.rand(n, 4, device=x.device) * self.max_fraction  # left, top, right, bottom
        margins *= (torch.rand(n, 1, device=x.device) < self.p)
        left, top = margins[:, 0] * (w - 1), margins[:, 1] * (h - 1)
        right, bottom = (w - 1) * (1 - margins[:, 2]), (h - 1) * (1 - margins[:, 3])
        boxes = torch.stack([torch.stack([left, top], 1), torch.stack([right, top], 1),
                             torch.stack([right, bottom], 1), torch.stack([left, bottom], 1)], dim=1)  # (N, 4, 2)
        from kornia.geometry.transform import crop_and_resize

        return crop_and_resize(x, boxes.to(x.dtype), (h, w), align_corners=True)


class ElasticDeformation(nn.Module):
    """Elastic deformation (Simard, Steinkraus & Platt 2003) with its alpha and sigma in pixels.

    A random displacement field uniform in [-1, 1] is smoothed by a Gaussian of standard deviation `sigma` and
    scaled by `alpha`; the image is resampled bilinearly along it. Simard et al. used alpha=34, sigma=4 on MNIST.
    Input: `(N, C, H, W)` -> Output: `(N, C, H, W)`; `alpha=0` is the identity.
    """

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0, p: float = 0.5, *, input_size: tuple[int, int]):
        super().__init__()
        h, w = input_size
        kernel = 2 * math.ceil(3 * sigma) + 1  # covers +-3 sigma of the Gaussian
        # kornia displaces in normalised coordinates, where the image spans 2 units: alpha pixels = alpha * 2 / size.
        self.transform = _kornia().RandomElasticTransform(kernel_size=(kernel, kernel), sigma=(sigma, sigma),
                                                          alpha=(alpha * 2 / w, alpha * 2 / h), p=p,
                                                          align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform(x)


def _pair(value: float | Sequence[float], centre: float = 0.0) -> tuple[float, float]:
    """A symmetric range (centre - v, centre + v) from one number, or a given (low, high)."""
    if isinstance(value, (int, float)):
        return (centre - value, centre + value)
    return tuple(value)


def _affine(degrees: float = 10.0, translate: float = 0.1, scale: float | Sequence[float] = 0.1, shear: float = 0.0,
            p: float = 0.5, **_: Any) -> nn.Module:
    return _kornia().RandomAffine(degrees=degrees, translate=(translate, translate) if translate else None,
                                  scale=_pair(scale, 1.0) if scale else None, shear=shear or None, p=p)


def _pad_crop(padding: int = 2, p: float = 1.0, *, input_size: tuple[int, int]) -> nn.Module:
    return _kornia().RandomCrop(tuple(input_size), padding=padding, p=p)


def _erasing(scale: Sequence[float] = (0.02, 0.2), ratio: Sequence[float] = (0.3, 3.3), value: float = 0.0,
             p: float = 0.5, **_: Any) -> nn.Module:
    return _kornia().RandomErasing(scale=tuple(scale), ratio=tuple(ratio), value=value, p=p)


def _brightness(strength: float = 0.2, p: float = 1.0, **_: Any) -> nn.Module:
    return _kornia().RandomBrightness(brightness=_pair(strength, 1.0), p=p)


def _contrast(strength: float = 0.2, p: float = 1.0, **_: Any) -> nn.Module:
    return _kornia().RandomContrast(contrast=_pair(strength, 1.0), p=p)


def _hflip(p: float = 0.5, **_: Any) -> nn.Module:
    return _kornia().RandomHorizontalFlip(p=p)


def _vflip(p: float = 0.5, **_: Any) -> nn.Module:
    return _kornia().RandomVerticalFlip(p=p)


def _crop(max_fraction: float = 0.05, p: float = 1.0, **_: Any) -> nn.Module:
    return AsymmetricCrop(max_fraction, p)


def _elastic(alpha: float = 34.0, sigma: float = 4.0, p: float = 0.5, *, input_size: tuple[int, int]) -> nn.Module:
    return ElasticDeformation(alpha, sigma, p, input_size=input_size)


AUGMENTATIONS: dict[str, tuple[Callable[..., nn.Module], str]] = {
    "crop": (_crop, "asymmetric crop of up to max_fraction per side, resized back (the article's example)"),
    "pad_crop": (_pad_crop, "zero-pad by `padding` pixels, then a random crop of the original size"),
    "hflip": (_hflip, "horizontal flip with probability p"),
    "vflip": (_vflip, "vertical flip with probability p"),
    "affine": (_affine, "rotation (degrees), translation (fraction), scale (+-fraction), shear (degrees)"),
    "elastic": (_elastic, "elastic deformation, Simard et al. 2003: alpha and sigma in pixels"),
    "erasing": (_erasing, "random erasing of a rectangle covering `scale` of the image"),
    "brightness": (_brightness, "brightness factor in 1 +- strength"),
    "contrast": (_contrast, "contrast factor in 1 +- strength"),
}


def parse_augment_flag(text: str) -> dict[str, dict[str, Any]]:
    """`affine:degrees=10,translate=0.1` -> {"affine": {"degrees": 10, "translate": 0.1}}; values parsed as YAML."""
    name, _, rest = text.partition(":")
    args = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"Invalid `--augment {text}`: expected name:key=value,key=value, received `{item}`.")
        args[key.strip()] = yaml.safe_load(value)
    return {name.strip(): args}


def _normalise_item(item: str | dict) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str):
        (name, args), = parse_augment_flag(item).items()
        return name, args
    if isinstance(item, dict) and len(item) == 1:
        (name, args), = item.items()
        if args is None or isinstance(args, dict):
            return name, dict(args or {})
    raise ConfigError(f"Invalid augmentation {item!r}: expected a name or a mapping {{name: {{arg: value}}}}.")


def build_augmentation(items: Sequence[str | dict], input_shape: tuple[int, ...],
                       input_kind: str = "image") -> nn.Module | None:
    """An `nn.Sequential` of the configured augmentations for images `input_shape` = (C, H, W), or None if empty;
    for clips (C, T, H, W) the same wrapped so that every frame of a clip is augmented alike
    (`striate.data.clip_augment`); volumes take their own 3-D rotations."""
    if not items:
        return None
    if input_kind == "volume":  # whole grids turned in 3-D (rotate, rot90), not slice by slice
        from striate.data.volumes import VOLUME_AUGMENTATIONS

        return nn.Sequential(*(_build_one(*_normalise_item(item), tuple(input_shape[1:]), VOLUME_AUGMENTATIONS)
                               for item in items))
    if len(input_shape) == 4:  # a clip (C, T, H, W): one draw for all its frames
        from striate.data.clip_augment import build_clip_augmentation

        return build_clip_augmentation(items, tuple(input_shape))
    if len(input_shape) != 3:
        raise ConfigError(f"Invalid `augment`: image augmentations need (C, H, W) inputs, this data has {input_shape}.")
    return nn.Sequential(*(_build_one(*_normalise_item(item), tuple(input_shape[1:])) for item in items))


def _build_one(name: str, args: dict[str, Any], input_size: tuple[int, ...], table: dict | None = None) -> nn.Module:
    table = AUGMENTATIONS if table is None else table
    if name not in table:
        raise ConfigError(f"Unknown augmentation `{name}`: expected one of {', '.join(table)}."
                          f"{did_you_mean(name, table)}")
    factory = table[name][0]
    valid = [p for p in inspect.signature(factory).parameters if p not in {"input_size", "_"}]
    unknown = sorted(set(args) - set(valid))
    if unknown:
        raise ConfigError(f"Unknown argument `{unknown[0]}` for augmentation `{name}`: expected one of "
                          f"{', '.join(valid)}.")
    if "input_size" in inspect.signature(factory).parameters:
        args = {**args, "input_size": input_size}
    try:
        return factory(**args)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"Invalid arguments {args} for augmentation `{name}`: {error}.") from None
