"""Test-time flip augmentation: the averaged logits against an explicit mirror built by reversed column indexing."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import striate
from striate.data import load_data
from striate.errors import ConfigError
from striate.tta import check_tta, tta_logits


def mirror_by_columns(x: torch.Tensor) -> torch.Tensor:
    """Mirror image built column by column (no torch.flip): column j of the result is column W-1-j of the input."""
    width = x.shape[-1]
    return torch.stack([x[..., width - 1 - j] for j in range(width)], dim=-1)


def lopsided_net() -> nn.Module:
    """A network whose output changes when the image is mirrored (no symmetry in its weights)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 6, 3)).double().eval()


def test_hflip_averages_the_logits_of_the_image_and_its_mirror():
    model, x = lopsided_net(), torch.randn(5, 2, 7, 8, dtype=torch.float64)
    expected = (model(x) + model(mirror_by_columns(x))) / 2
    assert not torch.allclose(model(x), model(mirror_by_columns(x)))  # the mirror matters for this model
    torch.testing.assert_close(tta_logits(model, x, "hflip"), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(tta_logits(model, x, "none"), model(x), rtol=0, atol=0)


def test_hflip_gives_the_same_logits_for_channels_last_inputs():
    model, x = lopsided_net(), torch.randn(5, 2, 7, 8, dtype=torch.float64)
    last = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(tta_logits(model, last, "hflip"), tta_logits(model, x, "hflip"), rtol=1e-12,
                               atol=1e-12)


def test_hflip_is_refused_for_inputs_that_are_not_images():
    check_tta("hflip", (1, 28, 28))
    with pytest.raises(ConfigError, match=r"mirrors images \(C, H, W\) but the inputs have shape \(1, 128\)"):
        check_tta("hflip", (1, 128))
    with pytest.raises(ConfigError, match="expected one of none, hflip"):
        check_tta("vflip", (1, 28, 28))


def test_a_run_trained_with_tta_evaluates_and_predicts_with_it(tmp_path):
    run = striate.train(data="digits", epochs=2, tta="hflip", out=str(tmp_path), quiet=True)
    assert run.tta == "hflip"
    test = load_data("digits").test
    x = run.preprocess(test.x)
    with torch.inference_mode():
        logits = (run.model(x) + run.model(mirror_by_columns(x))) / 2
    expected = (logits.argmax(1) == test.y).double().mean().item()
    assert run.results["test_accuracy"] == pytest.approx(expected, abs=1e-9)
    assert run.evaluate()["accuracy"] == pytest.approx(expected, abs=1e-9)
    torch.testing.assert_close(run.predict_proba(test.x), logits.softmax(1), rtol=1e-5, atol=1e-6)
