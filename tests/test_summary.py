"""summarize(): receptive fields by hand and by gradient, parameters and MACs of LeNet-5, tiling warnings, rendering.

The empirical check: with every weight a positive constant, every bias zero and an input of ones, every activation is
positive, so the gradient of ONE output unit with respect to the input is non-zero exactly on that unit's receptive
field (no ReLU is cut off and nothing cancels). Max pooling is the exception, since it routes the gradient to one
element per window; the empirical models therefore use average pooling of the same geometry, and a separate test
shows that the max-pool version reports the same field and that its gradient stays inside it.
"""

from __future__ import annotations

import io
import json
import math
import re

import pytest
import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from striate.cli import app
from striate.errors import ShapeError
from striate.models import create, get_entry, list_models
from striate.models.resolve import model_from_target
from striate.summary import ModelSummary, ReceptiveField, summarize

# ------------------------------------------------------------------------------------------------------------ models


class Residual(nn.Module):
    """conv3 -> relu -> conv3/2, plus a 1x1/2 shortcut, then conv3; the sum sits in forward code."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.shortcut = nn.Conv2d(2, 4, 1, stride=2)
        self.head = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, x):
        return self.head(F.relu(self.b(F.relu(self.a(x))) + self.shortcut(x)))


class Inception(nn.Module):
    """Four Inception branches (1x1, 3x3, 5x5, pool3 -> 1x1) concatenated, then a 3x3 conv; pool type swappable."""

    def __init__(self, pool: type[nn.Module] = nn.MaxPool2d) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(2, 2, 1)
        self.b3 = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 5, padding=2))
        self.bp = nn.Sequential(pool(3, stride=1, padding=1), nn.Conv2d(2, 2, 1))
        self.out = nn.Conv2d(8, 2, 3, stride=2)

    def forward(self, x):
        return self.out(torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1))


class OffsetBranches(nn.Module):
    """Two same-size paths whose fields have different centres: [-1, 1] and, after a right/bottom pad, [0, 2]."""

    def __init__(self) -> None:
        super().__init__()
        self.centred = nn.Conv2d(1, 1, 3, padding=1)
        self.shifted = nn.Conv2d(1, 1, 3)

    def forward(self, x):
        return self.centred(x) + self.shifted(F.pad(x, (0, 2, 0, 2)))


class Sliced(nn.Module):
    """A crop and a subsampling slice between convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 2, 3)
        self.b = nn.Conv2d(2, 1, 3)

    def forward(self, x):
        return self.b(self.a(x)[:, :, 1:-1, ::2])  # (N, 2, H-4, ceil((W-2)/2))


class LocallyConnected(nn.Module):
    """Stand-in for a locally connected layer (unshared weights via F.unfold), found by its kernel_size/stride."""

    def __init__(self, in_channels: int, out_channels: int, size: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, 0
        self.out_size = (size - kernel_size) // stride + 1
        locations, fan_in = self.out_size**2, in_channels * kernel_size**2
        self.weight = nn.Parameter(torch.randn(locations, out_channels, fan_in))

    def forward(self, x):
        cols = F.unfold(x, self.kernel_size, stride=self.stride)  # (N, C_in*K*K, L)
        out = torch.einsum("ncl,loc->nol", cols, self.weight)  # (N, C_out, L)
        return out.reshape(x.shape[0], -1, self.out_size, self.out_size)  # (N, C_out, H_out, W_out)


def lenet5() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def with_pool(pool: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), pool(2), nn.Conv2d(2, 2, 3, padding=1), pool(2), nn.Conv2d(2, 1, 3)
    )


# Each: (model factory, input shape, hand-computed size, jump, start of the output's first unit, per spatial dim).
STACKS = {
    # r: 3, 5, 7; no padding: start 1, 2, 3
    "plain": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Conv2d(2, 1, 3)),
              (1, 15, 15), (7, 7), (1, 1), (3, 3)),
    # k_eff 3, 5, 9: r = 1 + 2 + 4 + 8 = 15; padding = dilation keeps start at 0
    "dilated": (lambda: nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=d, dilation=d) for d in (1, 2, 4)]),
                (1, 21, 21), (15, 15), (1, 1), (0, 0)),
    # conv3: r3 j1 s0; pool2: r4 j2 s0.5; conv3 p1: r8 j2 s0.5; pool2: r10 j4 s1.5; conv3 p0: r18 j4 s5.5
    "avg_pool": (lambda: with_pool(nn.AvgPool2d), (1, 32, 32), (18, 18), (4, 4), (5.5, 5.5)),
    # conv5/2 p2: r5 j2 s0; avg3/2 p1: r9 j4 s0; conv3 p0: r17 j4 s4
    "strided_padded": (lambda: nn.Sequential(nn.Conv2d(1, 2, 5, stride=2, padding=2),
                                             nn.AvgPool2d(3, stride=2, padding=1), nn.Conv2d(2, 1, 3)),
                       (1, 33, 33), (17, 17), (4, 4), (4, 4)),
    # conv4/2 p1: r4 j2 s0.5; conv3/2: r8 j4 s2.5; then (3, 1) with padding (2, 0): H r16 s2.5 + (1 - 2)*4 = -1.5,
    # W unchanged (r8 s2.5)
    "rectangular": (lambda: nn.Sequential(nn.Conv2d(1, 1, 4, stride=2, padding=1), nn.Conv2d(1, 1, 3, stride=2),
                                          nn.Conv2d(1, 1, (3, 1), padding=(2, 0))),
                    (1, 29, 29), (16, 8), (4, 4), (-1.5, 2.5)),
    # main path r 3, 5 (j2); shortcut r1; sum r5 j2 s0; head conv3 p1: r9 j2 s0
    "residual": (Residual, (2, 17, 17), (9, 9), (2, 2), (0, 0)),
    # branches r 1, 3, 5, 3 with centre 0: concat r5; out conv3/2: r7 j2 s1
    "concat": (lambda: Inception(nn.AvgPool2d), (2, 13, 13), (7, 7), (2, 2), (1, 1)),
    # centred [-1, 1] united with shifted [0, 2]: [-1, 2], r4 s0.5 (either path alone would say r3)
    "offset_union": (OffsetBranches, (1, 9, 9), (4, 4), (1, 1), (0.5, 0.5)),
    # conv3: r3 s1; crop 1 / every 2nd column: start 2 (H), 1 (W), jump (1, 2); conv3: r5 (H), 7 (W)
    "sliced": (Sliced, (1, 14, 14), (5, 7), (1, 2), (3, 3)),
    # LocallyConnected 3/2 (via its attributes): r3 j2 s1; conv3: r7 j2 s3
    "locally_connected": (lambda: nn.Sequential(LocallyConnected(1, 2, 15, 3, 2), nn.Conv2d(2, 1, 3)),
                          (1, 15, 15), (7, 7), (2, 2), (3, 3)),
    # conv5/2: r5 j2 s2; avg2: r7 j4 s3; conv3 dilation 2 (k_eff 5): r23 j4 s11
    "conv1d": (lambda: nn.Sequential(nn.Conv1d(1, 2, 5, stride=2), nn.AvgPool1d(2), nn.Conv1d(2, 1, 3, dilation=2)),
               (1, 40), (23,), (4,), (11,)),
    # conv3/2: r3 j2 s1; (1, 3, 3): D unchanged, H and W r7 s3
    "conv3d": (lambda: nn.Sequential(nn.Conv3d(1, 1, 3, stride=2), nn.Conv3d(1, 1, (1, 3, 3))),
               (1, 11, 11, 11), (3, 7, 7), (2, 2, 2), (1, 3, 3)),
}


def positive_weights(model: nn.Module) -> nn.Module:
    """float64, every weight a positive constant and every bias zero, so no activation is cut off or cancelled."""
    model = model.double()
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(0.0 if name.endswith("bias") else 0.1)
    return model


def empirical_field(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[tuple, list, list]:
    """Gradient of the centre output unit w.r.t. an input of ones: (unit index, extent, centre) per spatial dim."""
    x = torch.ones(1, *input_shape, dtype=torch.float64, requires_grad=True)
    y = model(x)  # (1, C, *spatial)
    index = tuple(size // 2 for size in y.shape[2:])
    y[(0, 0, *index)].backward()
    reached = x.grad[0].abs().sum(0) != 0  # (*spatial)
    extents, centres = [], []
    for dim in range(reached.ndim):
        others = tuple(d for d in range(reached.ndim) if d != dim)
        hits = (reached.any(dim=others) if others else reached).nonzero().flatten()
        first, last = int(hits.min()), int(hits.max())
        assert first > 0 and last < input_shape[1 + dim] - 1, "the field must fit inside the input for this check"
        extents.append(last - first + 1)
        centres.append((first + last) / 2)
    return index, extents, centres


# ---------------------------------------------------------------------------------------------- receptive fields


@pytest.mark.parametrize("name", list(STACKS))
def test_receptive_field_matches_hand_computation(name):
    build, shape, size, jump, start = STACKS[name]
    rf = summarize(build(), shape).output_receptive_field
    assert rf == ReceptiveField("local", size, jump, start)


@pytest.mark.parametrize("name", list(STACKS))
def test_receptive_field_matches_gradient(name):
    build, shape, *_ = STACKS[name]
    model = positive_weights(build())
    rf = summarize(model, shape, dtype=torch.float64).output_receptive_field
    index, extents, centres = empirical_field(model, shape)
    assert tuple(extents) == rf.size
    assert tuple(centres) == rf.centre(index)


def test_max_pool_reports_the_avg_pool_field_and_its_gradient_stays_inside():
    shape = (1, 32, 32)
    rf = summarize(with_pool(nn.MaxPool2d), shape).output_receptive_field
    assert rf == summarize(with_pool(nn.AvgPool2d), shape).output_receptive_field
    inception = summarize(Inception(nn.MaxPool2d), (2, 13, 13)).output_receptive_field
    assert inception == ReceptiveField("local", (7, 7), (2, 2), (1, 1))
    model = positive_weights(with_pool(nn.MaxPool2d))
    x = torch.rand(1, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    y = model(x)
    index = (y.shape[2] // 2, y.shape[3] // 2)
    y[0, 0, index[0], index[1]].backward()
    rows, cols = (x.grad[0, 0] != 0).nonzero().unbind(1)
    (centre_h, centre_w), half = rf.centre(index), (rf.size[0] - 1) / 2
    assert centre_h - half <= rows.min() and rows.max() <= centre_h + half
    assert centre_w - half <= cols.min() and cols.max() <= centre_w + half


def test_per_layer_rows_of_lenet():
    rows = summarize(lenet5(), (1, 28, 28)).rows
    assert [row.name for row in rows] == [str(i) for i in range(12)]
    sizes = [row.receptive_field.size for row in rows[:6]]
    assert sizes == [(5, 5), (5, 5), (6, 6), (14, 14), (14, 14), (16, 16)]
    assert [row.receptive_field.jump for row in rows[:6]] == [(1, 1)] * 2 + [(2, 2)] * 3 + [(4, 4)]
    starts = [(0, 0)] * 2 + [(0.5, 0.5)] + [(4.5, 4.5)] * 2 + [(5.5, 5.5)]
    assert [row.receptive_field.start for row in rows[:6]] == starts
    assert rows[6].receptive_field == ReceptiveField("global", (28, 28))  # flatten: the whole input
    assert rows[-1].receptive_field.kind == "global"


def test_channels_last_block_keeps_the_field():
    class ChannelsLast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.norm = nn.Conv2d(1, 4, 3), nn.LayerNorm(4)
            self.mix, self.out = nn.Linear(4, 4), nn.Conv2d(4, 1, 3)

        def forward(self, x):
            y = self.mix(self.norm(self.conv(x).permute(0, 2, 3, 1)))  # (N, H, W, C)
            return self.out(y.permute(0, 3, 1, 2))  # (N, C, H, W)

    summary = summarize(ChannelsLast(), (1, 12, 12))
    assert summary.output_receptive_field == ReceptiveField("local", (5, 5), (1, 1), (2, 2))
    assert summary.rows[2].receptive_field.size == (3, 3)  # the Linear over channels is position-wise


def test_global_and_unknown_fields():
    gap = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    assert summarize(gap, (1, 10, 12)).rows[1].receptive_field == ReceptiveField("global", (10, 12))
    up = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ConvTranspose2d(2, 2, 2, stride=2), nn.Conv2d(2, 1, 3))
    assert [row.receptive_field.kind for row in summarize(up, (1, 10, 10)).rows] == ["local", "unknown", "unknown"]
    se = Squeeze()
    assert summarize(se, (2, 8, 8)).output_receptive_field == ReceptiveField("global", (8, 8))


class Squeeze(nn.Module):
    """A squeeze-and-excitation gate: the global mean rescales every position, so every unit sees everything."""

    def forward(self, x):
        return x * torch.sigmoid(x.mean((2, 3), keepdim=True))


def row_before_global_pool(summary: ModelSummary):
    """The last row whose field is still local: what a reader takes as the network's last feature map."""
    index = next(i for i, row in enumerate(summary.rows) if row.receptive_field.kind == "global")
    return summary.rows[index - 1]


def test_residual_block_row_reports_the_field_of_its_sum():
    # ResNet-20 (He et al. 2015, 4.2): a 3x3 stem, then 3 stages of 3 basic blocks of two 3x3 convs (padding 1); the
    # first conv of stages 2 and 3 has stride 2. r += (k - 1) * jump per conv, jump *= stride.
    r, jump = 3, 1  # stem
    for stage in range(3):
        for conv in range(6):
            jump_in = jump
            jump *= 2 if stage > 0 and conv == 0 else 1
            r += 2 * jump_in
    assert r == 81 and jump == 4
    summary = summarize(create("resnet20"), (3, 32, 32))
    last = row_before_global_pool(summary)
    assert (last.name, last.type) == ("stages.2.2", "BasicBlock")
    assert last.receptive_field == ReceptiveField("local", (r, r), (jump, jump), (0, 0))
    rows = {row.name: row for row in summary.rows}
    # The identity shortcut sees the block's input, two 3x3 convs of jump 4 short of the sum's field.
    assert rows["stages.2.2.shortcut"].receptive_field.size == (r - 2 * 2 * jump,) * 2 == (65, 65)
    assert sum(row.params for row in summary.rows) == summary.trainable_params == 269_722  # block rows add none


def test_resnet18_reaches_the_textbook_435_pixels():
    # 7x7/2 conv: r 7, jump 2; 3x3/2 max pool: r 11, jump 4; then stages of two basic blocks (four 3x3 convs), the
    # first conv of stages 2-4 with stride 2: 11 + 4*2*4 = 43; + 2*4 + 3*2*8 = 99; + 2*8 + 3*2*16 = 211;
    # + 2*16 + 3*2*32 = 435, jump 32.
    r = 7 + 2 * 2
    r += 4 * 2 * 4
    for jump_in in (4, 8, 16):
        r += 2 * jump_in + 3 * 2 * (2 * jump_in)
    assert r == 435
    last = row_before_global_pool(summarize(create("resnet18"), (3, 224, 224)))
    assert last.type == "BasicBlock" and last.receptive_field.size == (r, r) and last.receptive_field.jump == (32, 32)


def summary_json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["summary", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_summary_of_a_zoo_name_uses_its_paper_input_and_class_count():
    own = summary_json("alexnet")
    assert own["input_shape"] == [3, 224, 224] and own["output_shape"] == [1000]
    assert own["total_params"] == 61_100_840  # as `striate models` lists it
    assert summary_json("alexnet", "--input", "3x224x224")["output_shape"] == [1000]  # --input alone keeps them
    ten = summary_json("alexnet", "--num-classes", "10")
    assert ten["total_params"] == 57_044_810 == 61_100_840 - (4096 + 1) * (1000 - 10)  # only the last FC differs


@pytest.mark.parametrize("name", [entry.name for entry in list_models()])
def test_summary_model_of_every_zoo_name_is_the_one_striate_models_counts(name):
    with torch.device("meta"):
        model, shape = model_from_target(name)
        expected = create(name)
    assert shape == get_entry(name).input_shape
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in expected.parameters())


# ------------------------------------------------------------------------------------------------ params and MACs


def test_lenet5_params_and_macs_match_hand_formulas():
    summary = summarize(lenet5(), (1, 28, 28))
    conv = lambda c_in, c_out, k: c_out * (c_in * k * k + 1)  # noqa: E731
    fc = lambda n_in, n_out: n_out * (n_in + 1)  # noqa: E731
    assert summary.total_params == conv(1, 6, 5) + conv(6, 16, 5) + fc(400, 120) + fc(120, 84) + fc(84, 10) == 61_706
    macs = {row.name: row.macs for row in summary.rows if row.macs}
    assert macs == {
        "0": 6 * 28 * 28 * (1 * 5 * 5),  # output units x fan-in
        "3": 16 * 10 * 10 * (6 * 5 * 5),
        "7": 400 * 120, "9": 120 * 84, "11": 84 * 10,
    }
    assert summary.macs == 416_520 and summary.flops == 833_040
    assert [row.params for row in summary.rows if row.params] == [156, 2416, 48120, 10164, 850]
    assert summary.output_shape == (10,)
    assert summary.rows[3].output_shape == (16, 10, 10)
    assert summary.warnings == []


def test_macs_agree_with_torch_flop_counter():
    for model, shape in [(lenet5(), (1, 28, 28)), (Inception(), (2, 13, 13)), (STACKS["conv1d"][0](), (1, 40)),
                         (LocallyConnected(2, 3, 9), (2, 9, 9))]:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.zeros(1, *shape))
        assert summarize(model, shape).flops == counter.get_total_flops()


def test_reused_module_gets_one_row_per_call_and_params_once():
    shared = nn.Conv2d(2, 2, 3, padding=1)
    summary = summarize(nn.Sequential(shared, nn.ReLU(), shared), (2, 6, 6))
    assert [row.name for row in summary.rows] == ["0", "1", "0 (call 2)"]
    assert [row.params for row in summary.rows] == [38, 0, 0]
    assert summary.total_params == 38
    assert summary.rows[2].receptive_field.size == (5, 5)


# ----------------------------------------------------------------------------------------------------- warnings


def test_warning_for_a_window_that_does_not_tile_the_input():
    summary = summarize(nn.Sequential(nn.Conv2d(1, 4, 3, stride=2)), (1, 28, 28))
    assert summary.warnings == [
        f"Layer `0` (Conv2d): along {dim}, (28 - 3 + 2*0)/2 + 1 = 13.5 is not an integer for input size 28; "
        f"the last 1 input position(s) along {dim} are never read."
        for dim in "HW"
    ]


@pytest.mark.parametrize(
    ("layer", "shape", "pattern"),
    [
        (nn.MaxPool2d(2), (1, 7, 8), r"^Layer `0` \(MaxPool2d\): along H, \(7 - 2 \+ 2\*0\)/2 \+ 1 = 3.5 .*never read"),
        (nn.MaxPool2d(2, ceil_mode=True), (1, 8, 7), r"along W, .* = 3.5 .*ceil_mode=True adds a partial last window"),
        (nn.Conv1d(1, 1, 3, stride=2, padding=1), (1, 10), r"along L, \(10 - 3 \+ 2\*1\)/2 \+ 1 = 5.5 .*right padding"),
        (nn.Conv2d(1, 1, 3, dilation=2, stride=3), (1, 12, 11), r"\(12 - 5 \+ 2\*0\)/3 \+ 1 = 3.33333 is not"),
        (nn.AdaptiveAvgPool2d((3, 4)), (1, 8, 8), r"along H, 8 input positions do not split evenly into 3 bins"),
    ],
)
def test_warning_wording(layer, shape, pattern):
    warnings = summarize(nn.Sequential(layer), shape).warnings
    assert len(warnings) == 1
    assert re.search(pattern, warnings[0]), warnings[0]


@pytest.mark.parametrize("name", ["plain", "dilated", "avg_pool", "residual", "concat", "conv3d"])
def test_no_warning_for_clean_stacks(name):
    build, shape, *_ = STACKS[name]
    assert summarize(build(), shape).warnings == []


# ------------------------------------------------------------------------------------------- interface and errors


def test_table_print_and_dict():
    summary = summarize(Residual(), (2, 17, 17))
    assert isinstance(summary, ModelSummary)
    table = summary.table()
    assert [column.header for column in table.columns] == [
        "layer", "type", "output shape", "params", "RF (HxW)", "jump", "start", "MACs"
    ]
    assert table.row_count == len(summary.rows) + 1
    buffer = io.StringIO()
    summary.print(Console(file=buffer, width=150, color_system=None))
    text = buffer.getvalue()
    assert "shortcut" in text and "total" in text and "9x9" in text and f"{summary.macs:,}" in text
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["output_receptive_field"] == {"kind": "local", "size": [9, 9], "jump": [2, 2], "start": [0, 0]}
    assert data["layers"][1]["receptive_field"]["size"] == [5, 5]
    assert data["total_params"] == sum(p.numel() for p in Residual().parameters())
    assert data["flops"] == 2 * data["macs"]
    assert "Model summary" in str(summary)


def test_training_flags_are_restored_and_frozen_params_reported():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5))
    model.train()
    model[1].eval()
    model[0].weight.requires_grad_(False)
    summary = summarize(model, (1, 5, 5))
    assert [m.training for m in model] == [True, False, True] and model.training
    assert summary.total_params == 20 + 4 and summary.trainable_params == 2 + 4
    assert summary.rows[0].params == 2


def test_model_without_spatial_dims():
    summary = summarize(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), (4,))
    assert summary.spatial_names == () and summary.macs == 12 and summary.output_shape == (3,)


@pytest.mark.parametrize("shape", [(), (1, 28, 28, 28, 28), (1, 0, 28), (1, 28.0, 28), "1x28x28"])
def test_bad_input_shape_raises_shape_error(shape):
    with pytest.raises(ShapeError, match=r"Invalid `input_shape`: expected positive ints without the batch dim"):
        summarize(nn.Identity(), shape)


def test_forward_failure_raises_shape_error_naming_the_shape():
    pattern = r"Invalid `input_shape` \(3, 28, 28\): expected a sample shape the model accepts, but its forward on a "
    pattern += r"zero batch of shape \(1, 3, 28, 28\) and dtype torch.float32 failed with: "
    with pytest.raises(ShapeError, match=pattern):
        summarize(lenet5(), (3, 28, 28))


def test_receptive_field_centre_formula():
    rf = ReceptiveField("local", (7, 7), (2, 4), (1.5, 0.5))
    assert rf.centre((3, 2)) == (7.5, 8.5)
    assert math.isclose(rf.centre((0, 0))[0], 1.5)
