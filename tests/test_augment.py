"""Batch augmentations: identity at zero strength, shapes, dtypes, labels untouched, the crop against a formula."""

from __future__ import annotations

import pytest
import torch

from striate.data import BatchLoader, load_data
from striate.data.augment import AUGMENTATIONS, AsymmetricCrop, build_augmentation, parse_augment_flag
from striate.errors import ConfigError

IDENTITY = [
    {"crop": {"max_fraction": 0.0}},
    {"pad_crop": {"padding": 0}},
    {"affine": {"degrees": 0, "translate": 0, "scale": 0, "shear": 0, "p": 1.0}},
    {"elastic": {"alpha": 0, "p": 1.0}},
    {"erasing": {"p": 0.0}},
    {"brightness": {"strength": 0.0}},
    {"contrast": {"strength": 0.0}},
    {"hflip": {"p": 0.0}},
]


@pytest.mark.parametrize("item", IDENTITY, ids=lambda item: next(iter(item)))
def test_zero_strength_changes_nothing(item):
    x = torch.rand(6, 3, 20, 24)
    # Resampling at unchanged coordinates is exact up to float32 rounding of the sampling grid.
    assert torch.allclose(build_augmentation([item], (3, 20, 24))(x), x, atol=1e-5)


def test_every_augmentation_keeps_shape_dtype_and_range():
    x = torch.rand(5, 1, 28, 28)
    for name in AUGMENTATIONS:
        y = build_augmentation([name], (1, 28, 28))(x)
        assert y.shape == x.shape and y.dtype == torch.float32, name
        assert float(y.min()) >= -1e-6 and float(y.max()) <= 1 + 1e-6, name


def test_full_strength_flip_is_a_mirror():
    x = torch.rand(3, 2, 5, 7)
    assert torch.equal(build_augmentation([{"hflip": {"p": 1.0}}], (2, 5, 7))(x), x.flip(-1))


def test_asymmetric_crop_matches_the_ramp_formula():
    """On a horizontal ramp I(x) = x / (W-1), cropping [left, right] and resizing back gives a ramp from
    left/(W-1) to right/(W-1): the margins come from the same random draws, replayed here."""
    n, h, w, fraction = 4, 10, 21, 0.1
    ramp = (torch.arange(w, dtype=torch.float32) / (w - 1)).expand(n, 1, h, w)
    torch.manual_seed(5)
    out = AsymmetricCrop(fraction, p=1.0)(ramp)
    torch.manual_seed(5)
    margins = torch.rand(n, 4) * fraction
    left, right = margins[:, 0], 1 - margins[:, 2]
    assert torch.allclose(out[:, 0, 3, 0], left, atol=1e-5)
    assert torch.allclose(out[:, 0, 3, -1], right, atol=1e-5)
    assert float(margins.max()) > 0.01  # the crop really moved the borders


def test_stronger_elastic_deformation_moves_more():
    x = torch.rand(8, 1, 28, 28)
    changes = []
    for alpha in (2.0, 8.0, 34.0):
        torch.manual_seed(0)
        y = build_augmentation([{"elastic": {"alpha": alpha, "sigma": 4.0, "p": 1.0}}], (1, 28, 28))(x)
        changes.append(float((y - x).abs().mean()))
    assert changes[0] < changes[1] < changes[2]


def test_labels_are_untouched_by_augmentation():
    train = load_data("digits").train
    plain = BatchLoader(train, 64, shuffle=True, generator=torch.Generator().manual_seed(3))
    augmented = BatchLoader(train, 64, shuffle=True, generator=torch.Generator().manual_seed(3),
                            augment=build_augmentation(["crop", "affine", "erasing"], train.input_shape))
    for (xa, ya), (xb, yb) in zip(plain, augmented, strict=True):
        assert torch.equal(ya, yb) and xa.shape == xb.shape
    assert not torch.allclose(xa, xb)


def test_augmented_loader_normalises_after_augmenting():
    train = load_data("digits").train
    identity = build_augmentation([{"crop": {"max_fraction": 0.0}}], train.input_shape)
    a = next(iter(BatchLoader(train, 32)))[0]
    b = next(iter(BatchLoader(train, 32, augment=identity)))[0]
    assert torch.allclose(a, b, atol=1e-4)


def test_flag_parsing_and_errors():
    assert parse_augment_flag("affine:degrees=10,translate=0.1") == {"affine": {"degrees": 10, "translate": 0.1}}
    assert parse_augment_flag("hflip") == {"hflip": {}}
    with pytest.raises(ConfigError, match=r"Unknown augmentation `elastik`.*Did you mean `elastic`\?"):
        build_augmentation(["elastik"], (1, 28, 28))
    with pytest.raises(ConfigError, match=r"Unknown argument `angle` for augmentation `affine`: expected one of "
                                          r"degrees, translate, scale, shear, p"):
        build_augmentation([{"affine": {"angle": 3}}], (1, 28, 28))
    with pytest.raises(ConfigError, match="expected name:key=value"):
        parse_augment_flag("affine:degrees")
    with pytest.raises(ConfigError, match=r"need \(C, H, W\) inputs"):
        build_augmentation(["hflip"], (1, 28))
