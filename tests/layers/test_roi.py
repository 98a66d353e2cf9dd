"""RoIPool and RoIAlign against loop transcriptions of the Caffe/torchvision kernels (torchvision is unavailable)."""

import math
import re

import pytest
import torch

from striate.errors import ConfigError, ShapeError
from striate.layers import RoIAlign, RoIPool


def c_round(v):
    """C's round(): halves away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def roi_pool_reference(x, rois, out_h, out_w, scale):
    """Per box, per bin, per channel max over the quantised bin, 0 for an empty bin (torchvision's CPU kernel)."""
    _, channels, height, width = x.shape
    boxes = []
    for b, x1, y1, x2, y2 in rois.tolist():
        start_w, start_h, end_w, end_h = (c_round(v * scale) for v in (x1, y1, x2, y2))
        bin_h = max(end_h - start_h + 1, 1) / out_h
        bin_w = max(end_w - start_w + 1, 1) / out_w
        bins = []
        for ph in range(out_h):
            h0 = min(max(math.floor(ph * bin_h) + start_h, 0), height)
            h1 = min(max(math.ceil((ph + 1) * bin_h) + start_h, 0), height)
            for pw in range(out_w):
                w0 = min(max(math.floor(pw * bin_w) + start_w, 0), width)
                w1 = min(max(math.ceil((pw + 1) * bin_w) + start_w, 0), width)
                for c in range(channels):
                    empty = h1 <= h0 or w1 <= w0
                    bins.append(x.new_zeros(()) if empty else x[int(b), c, h0:h1, w0:w1].max())
        boxes.append(torch.stack(bins).reshape(out_h, out_w, channels).permute(2, 0, 1))
    return torch.stack(boxes)


def bilinear(feature, y, x):
    """torchvision's bilinear_interpolate for one point of a (C, H, W) map."""
    _, height, width = feature.shape
    if not (-1.0 <= y <= height and -1.0 <= x <= width):
        return feature.new_zeros(feature.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (
        hy * hx * feature[:, y_low, x_low]
        + hy * lx * feature[:, y_low, x_high]
        + ly * hx * feature[:, y_high, x_low]
        + ly * lx * feature[:, y_high, x_high]
    )


def roi_align_reference(x, rois, out_h, out_w, scale, sampling_ratio, aligned):
    """torchvision's roi_align CPU kernel, loop for loop."""
    offset = 0.5 if aligned else 0.0
    boxes = []
    for b, x1, y1, x2, y2 in rois.tolist():
        start_w, start_h = x1 * scale - offset, y1 * scale - offset
        roi_w, roi_h = x2 * scale - offset - start_w, y2 * scale - offset - start_h
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / out_h, roi_w / out_w
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / out_h)
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / out_w)
        count = max(grid_h * grid_w, 1)
        bins = []
        for ph in range(out_h):
            for pw in range(out_w):
                total = x.new_zeros(x.shape[1])
                for iy in range(grid_h):
                    y = start_h + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    for ix in range(grid_w):
                        xx = start_w + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                        total = total + bilinear(x[int(b)], y, xx)
                bins.append(total / count)
        boxes.append(torch.stack(bins).reshape(out_h, out_w, -1).permute(2, 0, 1))
    return torch.stack(boxes)


# Feature map 2 x 3 x 9 x 11 after scale: boxes inside, touching or crossing the border, wholly outside, smaller than
# the output grid, malformed (x2 < x1), on half-pixel corners (where C and Python rounding differ) and larger than
# the map.
BOXES = [
    [0, 0.0, 0.0, 10.0, 8.0],
    [1, 2.0, 1.0, 9.0, 6.0],
    [0, 7.0, 5.0, 14.0, 12.0],
    [1, -6.0, -3.0, 2.0, 3.0],
    [0, -9.0, -9.0, -4.0, -2.0],
    [1, 20.0, 3.0, 30.0, 8.0],
    [0, 4.0, 4.0, 4.6, 5.2],
    [1, 6.0, 5.0, 3.0, 2.0],
    [0, 2.5, 0.5, 5.5, 3.5],
    [1, -0.5, 1.5, 4.5, 8.5],
    [0, -3.0, -2.0, 15.0, 13.0],
]


def make_inputs(scale, seed=0):
    torch.manual_seed(seed)
    x = torch.randn(2, 3, 9, 11, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor(BOXES, dtype=torch.float64)
    rois[:, 1:] /= scale  # the same boxes on the feature map for every scale
    return x, rois


@pytest.mark.parametrize(("output_size", "scale"), [((3, 3), 1.0), ((2, 4), 0.5), ((7, 7), 0.25)])
def test_roi_pool_matches_loop_reference_with_gradient(output_size, scale):
    x, rois = make_inputs(scale)
    out = RoIPool(output_size, spatial_scale=scale)(x, rois)
    grad_out = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, grad_out)
    expected = roi_pool_reference(x, rois, *output_size, scale)
    (expected_grad,) = torch.autograd.grad(expected, x, grad_out)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)  # a max is exact
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-12)
    assert (out[4] == 0).all() and (out[5] == 0).all()  # boxes off the map: every bin empty


def test_roi_pool_rounds_halves_away_from_zero():
    x = -torch.arange(6, dtype=torch.float64).reshape(1, 1, 1, 6)  # decreasing, so the max is the first column
    # x1 = 2.5 rounds to 3 (C), not 2 (banker's rounding), so the pooled box is column 3 alone.
    out = RoIPool(1)(x, torch.tensor([[0, 2.5, 0.0, 3.4, 0.0]], dtype=torch.float64))
    assert out.item() == -3.0


@pytest.mark.parametrize(("sampling_ratio", "aligned"), [(2, False), (-1, False), (1, True), (0, True)])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_roi_align_matches_loop_reference_with_gradient(sampling_ratio, aligned, scale):
    x, rois = make_inputs(scale, seed=1)
    layer = RoIAlign((3, 2), spatial_scale=scale, sampling_ratio=sampling_ratio, aligned=aligned)
    out = layer(x, rois)
    grad_out = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, grad_out)
    expected = roi_align_reference(x, rois, 3, 2, scale, sampling_ratio, aligned)
    (expected_grad,) = torch.autograd.grad(expected, x, grad_out)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-12)


def test_box_formats_agree_and_empty_boxes():
    x, rois = make_inputs(1.0)
    as_list = [rois[rois[:, 0] == i, 1:] for i in range(2)]
    order = torch.argsort(rois[:, 0], stable=True)
    for layer in (RoIPool(2), RoIAlign(2, sampling_ratio=2)):
        torch.testing.assert_close(layer(x, as_list), layer(x, rois)[order], rtol=0, atol=0)
        assert layer(x, torch.zeros(0, 5)).shape == (0, 3, 2, 2)


def test_roi_errors():
    x = torch.zeros(2, 3, 8, 8)
    with pytest.raises(ShapeError, match=re.escape("Invalid `boxes` shape: expected (K, 5) rows")):
        RoIPool(2)(x, torch.zeros(3, 4))
    with pytest.raises(ShapeError, match=re.escape("integers in [0, 1], received [2.0]")):
        RoIAlign(2)(x, torch.tensor([[2.0, 0, 0, 4, 4]]))
    with pytest.raises(ShapeError, match=re.escape("expected one (K_i, 4) tensor of [x1, y1, x2, y2] per image, 2")):
        RoIPool(2)(x, [torch.zeros(1, 4)])
    with pytest.raises(ShapeError, match=re.escape("expected finite coordinates")):
        RoIAlign(2)(x, torch.tensor([[0.0, 0, math.nan, 4, 4]]))
    with pytest.raises(ShapeError, match=re.escape("Invalid `input` shape for RoIPool: expected (N, C, H, W)")):
        RoIPool(2)(torch.zeros(3, 8, 8), torch.zeros(0, 5))
    with pytest.raises(ConfigError, match=re.escape("Invalid `spatial_scale`: expected a positive finite number")):
        RoIAlign(2, spatial_scale=0)
