"""Video clips: readers against hand-made files, clip-consistent augmentation against per-frame replay, the motion
stream's causality, the synthetic set's labels, streamed batches against in-memory ones, and runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import striate
from striate.cli import app
from striate.data import BatchLoader, load_data
from striate.data.augment import build_augmentation
from striate.data.clips import DIRECTIONS, ClipFiles, frame_indices, load_clips, moving_items
from striate.errors import ConfigError, DataError
from striate.models import create
from striate.models.twostream import FrameDifference

av = pytest.importorskip("av")
runner = CliRunner()


def write_video(path: Path, frames: np.ndarray, fps: int = 10) -> None:
    """Frames `(T, H, W, 3)` uint8 to an MPEG-4 file with PyAV."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        stream.options = {"qscale": "1"}
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())


def ramp(count: int, size: int = 32) -> np.ndarray:
    """`count` flat frames whose brightness encodes their index (15 levels apart): `(T, H, W, 3)`."""
    return np.repeat((np.arange(count) * 15 + 10).astype(np.uint8)[:, None, None, None], size * size * 3,
                     axis=1).reshape(count, size, size, 3)


def brightness_of(clip: torch.Tensor) -> list[int]:
    """Frame indices back from a decoded ramp clip `(C, T, H, W)`."""
    return [round((float(frame.float().mean()) - 10) / 15) for frame in clip.unbind(1)]


# --- readers ---------------------------------------------------------------------------------------------------------

def test_frame_indices_by_hand():
    assert frame_indices(10, 4, "uniform") == [0, 3, 6, 9]
    assert frame_indices(3, 5, "uniform") == [0, 0, 1, 2, 2]
    assert frame_indices(10, 4, "dense") == [3, 4, 5, 6]
    assert frame_indices(2, 4, "dense") == [0, 1, 1, 1]


@pytest.fixture
def video_folder(tmp_path) -> Path:
    """Two classes of three videos each, 10 and 14 frames long, 48x40 pixels."""
    for label, count in (("a", 10), ("b", 14)):
        (tmp_path / label).mkdir()
        for i in range(3):
            write_video(tmp_path / label / f"{i}.mp4", ramp(count, 40)[:, :, :, :][:, :40, :40])
    return tmp_path


def test_videos_decode_sampled_and_resized(video_folder):
    splits = load_clips(str(video_folder), frames=5, sampling="uniform", size="24x20", test_fraction=0.34)
    data = splits.train
    assert data.input_kind == "clip" and data.input_shape == (3, 5, 24, 20) and data.x.dtype == torch.uint8
    for clip, label in zip(data.x, data.y, strict=True):
        count = 10 if data.classes[int(label)] == "a" else 14
        assert brightness_of(clip) == frame_indices(count, 5, "uniform")
    dense = load_clips(str(video_folder), frames=4, sampling="dense", test_fraction=0.34).train
    assert brightness_of(dense.x[int(torch.nonzero(dense.y == 1)[0])]) == frame_indices(14, 4, "dense")
    assert "held in memory" in splits.notes[0]


def test_frame_folders_read_exactly(tmp_path):
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, size=(4, 6, 8, 8), dtype=np.uint8)  # (N, T, H, W) grey
    for n, clip in enumerate(clips):
        folder = tmp_path / ("even" if n % 2 == 0 else "odd") / f"clip{n}"
        folder.mkdir(parents=True)
        for t, frame in enumerate(clip):
            Image.fromarray(frame, mode="L").save(folder / f"{t:03d}.png")
    from striate.data.clips import ClipFormat, probe, read_clip

    for n, clip in enumerate(clips):
        folder = tmp_path / ("even" if n % 2 == 0 else "odd") / f"clip{n}"
        assert probe(folder) == (6, 8, 8, True)
        decoded = read_clip(folder, ClipFormat(6, "uniform", 1, (8, 8)), 6)
        np.testing.assert_array_equal(decoded[0], clip)  # (C, T, H, W)


def test_mixed_lengths_without_sampling_is_one_line_error(video_folder):
    with pytest.raises(DataError, match=r"different lengths \(10 to 14 frames\).*frames=10&sampling=uniform"):
        load_clips(str(video_folder))


def test_unreadable_video_is_one_line_error(video_folder):
    (video_folder / "a" / "broken.mp4").write_bytes(b"this is not a video")
    with pytest.raises(DataError, match=r"^Cannot read video .*broken\.mp4: expected a video file PyAV can decode") \
            as caught:
        load_clips(str(video_folder), frames=4, sampling="uniform")
    assert "\n" not in str(caught.value)


def test_bad_options_are_one_line_errors(video_folder, tmp_path):
    with pytest.raises(DataError, match="Invalid clips option `sampling` 'every'"):
        load_data(f"clips:{video_folder}?sampling=every")
    with pytest.raises(DataError, match=r"Clips not found: expected an \.npz file"):
        load_data(f"clips:{tmp_path / 'missing'}")
    np.savez(tmp_path / "flat.npz", x=np.zeros((4, 3, 8, 8), np.uint8), y=np.zeros(4, np.int64))
    with pytest.raises(DataError, match=r"expected uint8 or float clips of shape \(N, C, T, H, W\)"):
        load_data(f"clips:{tmp_path / 'flat.npz'}")


def test_npz_clips(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (10, 1, 4, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(10) % 2, classes=np.array(["no", "yes"]))
    splits = load_data(f"clips:{tmp_path / 'c.npz'}")
    assert splits.train.classes == ["no", "yes"] and len(splits.train) + len(splits.test) == 10
    assert splits.train.input_shape == (1, 4, 8, 8)


def test_streamed_batches_equal_in_memory_batches(video_folder):
    options = dict(frames=4, sampling="uniform", size="16x16", test_fraction=0.34)
    held, streamed = load_clips(str(video_folder), **options), load_clips(str(video_folder), mode="stream", **options)
    assert isinstance(streamed.train.x, ClipFiles) and "streamed from disk" in streamed.notes[0]
    assert torch.equal(streamed.train.x[:], held.train.x)
    assert streamed.train.mean == pytest.approx(held.train.mean, abs=1e-6)  # every training clip sampled: exact
    loaders = [BatchLoader(part.train, 2, shuffle=True, generator=torch.Generator().manual_seed(3))
               for part in (held, streamed)]
    for (xa, ya), (xb, yb) in zip(*loaders, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    tiny = load_clips(str(video_folder), memory_mb=0.01, **options)  # beyond the budget: streamed by itself
    assert isinstance(tiny.train.x, ClipFiles)


# --- augmentation ----------------------------------------------------------------------------------------------------

def test_clip_augmentation_replays_per_frame():
    """Every frame gets the transform the augmentation drew for its clip: replaying the drawn parameters on each frame
    alone gives the same frames."""
    torch.manual_seed(0)
    augment = build_augmentation(["hflip", "pad_crop:padding=3", {"affine": {"degrees": 20, "p": 1.0}}],
                                 (2, 5, 16, 16))
    clips = torch.rand(6, 2, 5, 16, 16)
    out = augment(clips)
    for t in range(5):
        frame = clips[:, :, t]
        for step in augment.inner:
            frame = step(frame, params=step._params)  # the parameters drawn for the whole clip
        torch.testing.assert_close(out[:, :, t], frame)


def test_clip_flip_and_crop_same_for_every_frame_by_hand():
    """Recover each clip's crop offset and flip from its first frame by search; every other frame matches it."""
    torch.manual_seed(1)
    augment = build_augmentation(["hflip", "pad_crop:padding=2"], (1, 4, 10, 10))
    clips = torch.rand(8, 1, 4, 10, 10)
    out = augment(clips)
    padded = torch.nn.functional.pad(clips, (2, 2, 2, 2))  # (N, C, T, H + 4, W + 4)
    flips = set()
    for n in range(8):
        matches = [(dy, dx, flip) for dy in range(5) for dx in range(5) for flip in (False, True)
                   if torch.allclose(_crop_flip(padded[n, :, 0], dy, dx, flip), out[n, :, 0], atol=1e-6)]
        assert matches, "the first frame is no crop/flip of its input"
        dy, dx, flip = matches[0]
        flips.add(flip)
        for t in range(1, 4):
            torch.testing.assert_close(out[n, :, t], _crop_flip(padded[n, :, t], dy, dx, flip), atol=1e-6, rtol=0)
    assert flips == {False, True}  # both outcomes were drawn, so the check is not vacuous


def _crop_flip(frame: torch.Tensor, dy: int, dx: int, flip: bool) -> torch.Tensor:
    window = frame[:, dy: dy + 10, dx: dx + 10]  # (C, H, W)
    return window.flip(-1) if flip else window


def test_augment_is_refused_for_series_but_not_clips():
    with pytest.raises(ConfigError, match="image augmentations need"):
        build_augmentation(["hflip"], (3, 100))


# --- the motion stream -----------------------------------------------------------------------------------------------

def test_frame_difference_matches_loop_and_is_causal():
    x = torch.randn(2, 3, 6, 4, 5, dtype=torch.float64, requires_grad=True)
    out = FrameDifference()(x)
    reference = torch.zeros_like(x)
    for t in range(1, 6):
        reference[:, :, t] = x[:, :, t] - x[:, :, t - 1]
    torch.testing.assert_close(out, reference)
    for t in range(6):  # the gradient of frame t's output reaches frames t - 1 and t only
        (grad,) = torch.autograd.grad(out[:, :, t].sum(), x, retain_graph=True)
        touched = [s for s in range(6) if grad[:, :, s].abs().sum() > 0]
        assert touched == ([] if t == 0 else [t - 1, t])
    assert torch.autograd.gradcheck(FrameDifference(), (x,))


def test_two_stream_motion_features_are_causal():
    """The motion stream's map at frame t depends only on frames <= t (per-frame CNN on causal differences)."""
    model = create("two_stream", num_classes=4, in_channels=1, input_size=(6, 16, 16), widths=(4, 8)).eval()
    x = torch.randn(1, 1, 6, 16, 16, requires_grad=True)
    features = model.forward_features(x)  # (1, 16, 6, 4, 4): appearance channels, then motion channels
    motion = features[:, 8:]
    for t in range(6):
        (grad,) = torch.autograd.grad(motion[:, :, t].sum(), x, retain_graph=True)
        assert grad[:, :, t + 1:].abs().sum() == 0


@pytest.mark.parametrize("fusion", ["late", "concat"])
def test_two_stream_shapes_and_reset(fusion):
    model = create("two_stream", num_classes=5, in_channels=3, input_size=(4, 24, 24), fusion=fusion)
    out = model(torch.randn(2, 3, 4, 24, 24))
    assert out.shape == (2, 5)
    if fusion == "late":  # log of the averaged stream probabilities: a distribution
        torch.testing.assert_close(out.exp().sum(1), torch.ones(2))
    model.reset_classifier(7)
    assert model(torch.randn(1, 3, 4, 24, 24)).shape == (1, 7)


# --- moving-fashion --------------------------------------------------------------------------------------------------

def test_moving_items_direction_matches_displacement(fashion_arrays):
    images = torch.from_numpy(fashion_arrays[0][:50].copy()).unsqueeze(1)  # (50, 1, 28, 28)
    clips, _, directions, corners = moving_items(images, 64, 8, 32, torch.Generator().manual_seed(0))
    assert clips.shape == (64, 1, 8, 32, 32)
    expected = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}
    mass = clips.float()[:, 0]  # (N, T, H, W)
    grid = torch.arange(32.0)
    rows = (mass.sum(3) * grid).sum(2) / mass.sum((2, 3))  # (N, T) centre of brightness
    columns = (mass.sum(2) * grid).sum(2) / mass.sum((2, 3))
    for n in range(64):
        dy, dx = float(rows[n, -1] - rows[n, 0]), float(columns[n, -1] - columns[n, 0])
        sign = (int(np.sign(round(dy))), int(np.sign(round(dx))))
        assert sign == expected[DIRECTIONS[int(directions[n])]]
        assert torch.equal(clips[n, 0, 3, corners[n, 3, 0]: corners[n, 3, 0] + 16,
                                 corners[n, 3, 1]: corners[n, 3, 1] + 16].float().sum() > 0, torch.tensor(True))
    assert set(directions.tolist()) == {0, 1, 2, 3}


def test_moving_fashion_is_seeded():
    a = load_data("moving-fashion?labels=direction&size=40")
    b = load_data("moving-fashion?labels=direction&size=40")
    assert torch.equal(a.train.x, b.train.x) and a.train.classes == DIRECTIONS
    with pytest.raises(DataError, match="Invalid moving-fashion option `labels` 'colour'"):
        load_data("moving-fashion?labels=colour&size=40")


# --- end to end ------------------------------------------------------------------------------------------------------

def test_two_stream_learns_direction_above_chance(tmp_path):
    run = striate.train(data="moving-fashion?labels=direction&size=400", model="two_stream", epochs=2,
                        batch_size=32, lr=0.01, model_args={"widths": [16, 32], "fusion": "concat"}, out=str(tmp_path),
                        quiet=True, seed=0)
    assert run.results["test_accuracy"] > 0.5  # chance is 0.25; a model blind to frame order stays near it


def test_cli_train_evaluate_predict_on_videos(video_folder, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for t, frame in enumerate(ramp(7, 40)):
        Image.fromarray(frame).save(frames / f"{t}.png")
    out = tmp_path / "runs"
    result = runner.invoke(app, ["train", "--data", f"clips:{video_folder}?frames=4&sampling=uniform&size=16x16",
                                 "--model", "two_stream", "--model-args", "widths=[4,8]", "--epochs", "1",
                                 "--batch-size", "2", "--val-split", "0", "--out", str(out), "--name", "clips"])
    assert result.exit_code == 0, result.output
    run = out / "clips"
    assert "clip" in (run / "model.json").read_text() and (run / "report.html").is_file()
    evaluated = runner.invoke(app, ["evaluate", str(run), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    predicted = runner.invoke(app, ["predict", str(run), str(video_folder / "b" / "0.mp4"), str(frames), "--json"])
    assert predicted.exit_code == 0, predicted.output
    rows = json.loads(predicted.stdout)
    assert [row["source"] for row in rows] == [str(video_folder / "b" / "0.mp4"), str(frames)]
    assert "sampled 4 of 14 frames uniformly" in rows[0]["notes"] and "resized 40x40 to 16x16" in rows[1]["notes"]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"nope")
    failed = runner.invoke(app, ["predict", str(run), str(broken)])
    assert failed.exit_code == 2 and "Cannot read video" in failed.output
