"""Explanations: attributions that find what a trained model looks at, the model-randomisation sanity check of
Adebayo et al. 2018, feature visualisation, every kind of input, the command line, the errors and bounded memory.

Two small CNNs are trained here on synthetic 20x20 images of dark noise holding two 5x5 objects, a bright one and a
dim one that looks alike but decides nothing. For `shapes` the bright object's shape decides the class and its place
is random: a method that explains the model must put its mass on the bright object, not on the dim one. For
`corners` the bright square's corner decides the class: occlusion still finds the square, Grad-CAM cannot (it weights
each channel by its gradient averaged over all positions, which cannot say "this channel counts only top left").
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from scipy.ndimage import binary_dilation
from scipy.stats import spearmanr
from typer.testing import CliRunner

import striate
from striate.cli import app
from striate.explain import explain, save_explanations, save_visualization, visualize
from striate.models import create
from striate.models.spec import build_spec
from striate.runs import save_model

METHODS = ("gradcam", "guided_gradcam", "saliency", "integrated_gradients", "occlusion")
SIZE, SIDE = 20, 5
_ROW = np.arange(SIDE)
SHAPES = {"plus": (_ROW[:, None] == 2) | (_ROW[None, :] == 2),
          "ring": (np.minimum.outer(_ROW, _ROW) == 0) | (np.maximum.outer(_ROW, _ROW) == SIDE - 1),
          "square": np.ones((SIDE, SIDE), dtype=bool),
          "x": (_ROW[:, None] == _ROW[None, :]) | (_ROW[:, None] == SIDE - 1 - _ROW[None, :])}
"""Class name -> its 5x5 pattern, in the order an image folder lists the classes (by name)."""
CORNERS = {"bottom-left": (13, 2), "bottom-right": (13, 13), "top-left": (2, 2), "top-right": (2, 13)}
"""Class name -> the top-left pixel of its square."""
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These networks are tiny: one thread runs their many small passes faster than two, which spend the time
    handing work to each other (10x on a busy two-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shape_images(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """`count` uint8 images `(N, 1, 20, 20)`, their classes, and the boxes `(N, 20, 20)` of the bright and dim objects.

    Noise in [0, 70), a bright (250) object of the class's shape and a dim (130) one of another shape, at random
    places at least one pixel apart.
    """
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 70, (count, SIZE, SIZE)).astype(np.uint8)
    y = np.arange(count) % len(SHAPES)
    boxes = np.zeros((2, count, SIZE, SIZE), dtype=bool)  # bright, dim
    patterns = list(SHAPES.values())
    for i, label in enumerate(y):
        corners = rng.integers(0, SIZE - SIDE + 1, (2, 2))
        while np.abs(corners[0] - corners[1]).max() <= SIDE:
            corners = rng.integers(0, SIZE - SIDE + 1, (2, 2))
        other = (label + rng.integers(1, len(SHAPES))) % len(SHAPES)
        for k, (pattern, value) in enumerate(((patterns[label], 250), (patterns[other], 130))):
            (row, column), box = corners[k], boxes[k, i]
            box[row:row + SIDE, column:column + SIDE] = True
            x[i, row:row + SIDE, column:column + SIDE][pattern] = value
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y), boxes[0], boxes[1]


def corner_images(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """Like `shape_images`, but both objects are squares in different corners (moved by up to one pixel), and the
    bright square's corner is the class."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 70, (count, SIZE, SIZE)).astype(np.uint8)
    y = np.arange(count) % len(CORNERS)
    boxes = np.zeros((2, count, SIZE, SIZE), dtype=bool)
    for i, label in enumerate(y):
        other = (label + rng.integers(1, len(CORNERS))) % len(CORNERS)
        for k, (corner, value) in enumerate(((label, 250), (other, 130))):
            row, column = np.array(list(CORNERS.values())[corner]) + rng.integers(-1, 2, 2)
            boxes[k, i, row:row + SIDE, column:column + SIDE] = True
            x[i][boxes[k, i]] = value
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y), boxes[0], boxes[1]


def train_on(root, images, names: list[str], model_args: dict, epochs: int) -> striate.Run:
    """Write the images as an image folder (one sub-folder per class) and train a convnet on it, as a user would."""
    x, y = images
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        (root / "data" / names[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0].numpy(), mode="L").save(root / "data" / names[label] / f"{i}.png")
    run = striate.train(data=f"folder:{root / 'data'}", model="convnet", model_args=model_args, epochs=epochs,
                        batch_size=32, val_split=0.0, quiet=True, out=str(root / "runs"), name="run")
    assert run.classes == names
    return run


@pytest.fixture(scope="module")
def shape_run(tmp_path_factory):
    """Two 32-map conv-bn-relu stages, global average pooling (Grad-CAM's own setting), 10 epochs: about 3 s here."""
    run = train_on(tmp_path_factory.mktemp("shapes"), shape_images(480, seed=0)[:2], list(SHAPES),
                   {"widths": [32, 32], "depth": 1, "head": "avg"}, epochs=10)
    assert run.results["test_accuracy"] > 0.95
    return run


def mass_on(maps: torch.Tensor, boxes: np.ndarray) -> float:
    """The mean share of each map's positive mass `(N, H, W)` inside `boxes` `(N, H, W)`."""
    positive = maps.clamp_min(0).numpy()
    return float(np.mean((positive * boxes).sum(axis=(1, 2)) / positive.sum(axis=(1, 2)).clip(1e-12)))


def around(boxes: np.ndarray) -> np.ndarray:
    """Each box grown by one pixel on every side (7x7, 12% of the image): Grad-CAM's map is upsampled from a map
    of half the resolution, and a 3x3 occlusion window centred next to the object still covers part of it."""
    return np.stack([binary_dilation(box, structure=np.ones((3, 3))) for box in boxes])


MASS = {"gradcam": 0.5, "occlusion": 0.6}
"""Lower bounds of the share of the positive mass around the deciding object (a region of 11.7% of the image);
measured here: Grad-CAM 68.4% (2.1% around the dim object), occlusion 78.5% (1.2%)."""


@pytest.mark.slow
def test_gradcam_and_occlusion_put_most_of_their_mass_on_the_deciding_object(shape_run):
    x, y, bright, dim = shape_images(24, seed=1)  # images the model never saw
    assert (shape_run.predict_proba(x).argmax(dim=1) == y).float().mean() > 0.9
    for method, options in (("gradcam", {}), ("occlusion", {"window": 3, "stride": 1})):
        maps = explain(shape_run, x, method, **options).attributions[:, 0]  # (N, 20, 20)
        on_bright, on_dim = mass_on(maps, around(bright)), mass_on(maps, around(dim))
        print(f"shapes, {method}: {on_bright:.1%} of the positive mass around the deciding object, {on_dim:.1%} "
              f"around the dim one; each region is {around(bright).mean():.1%} of the image")
        assert on_bright > MASS[method] and on_dim < on_bright / 10


@pytest.mark.slow
def test_where_the_corner_decides_occlusion_finds_the_square_and_gradcam_cannot(tmp_path):
    run = train_on(tmp_path, corner_images(480, seed=0)[:2], list(CORNERS),
                   {"widths": [8, 16], "depth": 1, "head": "flatten"}, epochs=4)  # flatten: the head sees places
    x, y, bright, dim = corner_images(24, seed=1)
    assert (run.predict_proba(x).argmax(dim=1) == y).float().mean() > 0.9
    found = {}
    for method, options in (("gradcam", {}), ("occlusion", {"window": 3, "stride": 1})):
        maps = explain(run, x, method, **options).attributions[:, 0]
        found[method] = mass_on(maps, around(bright))
        print(f"corners, {method}: {found[method]:.1%} of the positive mass around the deciding square, "
              f"{mass_on(maps, around(dim)):.1%} around the dim one")
    assert found["occlusion"] > 0.5 and found["gradcam"] < 0.25  # measured here: 68.8% and 0.0%


# --- the model-randomisation test (Adebayo et al. 2018) -------------------------------------------------------------

def layers_top_down(run) -> list[str]:
    """The run's modules that hold parameters, from the output back to the input (the order they are re-initialised)."""
    order: list[str] = []
    hooks = [module.register_forward_hook(lambda module, args, output, name=name: order.append(name))
             for name, module in run.model.named_modules()
             if name and any(True for _ in module.parameters(recurse=False))]
    with torch.no_grad():
        run.pipeline(torch.zeros(1, *run.input_shape))
    for hook in hooks:
        hook.remove()
    return list(dict.fromkeys(order))[::-1]


def rank_correlation(first: torch.Tensor, second: torch.Tensor) -> float:
    """Mean Spearman correlation of the absolute maps, image by image (a map that became constant counts as 0)."""
    values = []
    for a, b in zip(first.flatten(1).abs().numpy(), second.flatten(1).abs().numpy(), strict=True):
        rho = spearmanr(a, b).statistic if a.std() > 0 and b.std() > 0 else 0.0
        values.append(0.0 if math.isnan(rho) else float(rho))
    return float(np.mean(values))


PASSES = ("gradcam", "guided_gradcam", "saliency", "occlusion")
"""Methods whose maps move away from the trained model's once every layer is re-initialised: a mean rank correlation
of the absolute maps below 0.4. Measured here (`pytest tests/test_explain.py -k cascade -s`), after re-initialising
the top 1..5 layers (head, features.2.1, features.2.0, features.0.1, features.0.0):

    gradcam               0.10, 0.08, 0.14, 0.07, 0.19   passes
    guided_gradcam       -0.12, -0.14, 0.23, 0.19, 0.06  passes (Adebayo et al. found it barely changes on deep
                                                          networks; on this two-layer one its Grad-CAM factor moves)
    saliency              0.34, 0.22, 0.11, 0.09, 0.09   passes
    integrated_gradients  0.72, 0.55, 0.50, 0.47, 0.48   does not: (input - baseline) keeps the objects' outline
    occlusion             0.63, 0.46, 0.29, 0.28, 0.25   passes, by less: a random network still reacts to objects
"""


@pytest.mark.slow
def test_model_randomisation_cascade(shape_run):
    x, _, _, _ = shape_images(16, seed=2)
    targets = shape_run.predict_proba(x).argmax(dim=1)
    options = {"window": 3, "stride": 2, "steps": 20}
    found = {}
    for method in METHODS:
        trained = explain(shape_run, x, method, targets, **options)
        randomised = striate.load(shape_run.path)
        found[method] = []
        for name in layers_top_down(randomised):
            module = dict(randomised.model.named_modules())[name]
            module.reset_parameters()
            maps = explain(randomised, x, method, targets, layer=trained.layer, **options).attributions
            found[method].append(rank_correlation(trained.attributions, maps))
    for method, values in found.items():
        print(f"{method}: rank correlation after re-initialising {', '.join(layers_top_down(shape_run))} in turn: "
              + ", ".join(f"{v:.2f}" for v in values))
    for method in PASSES:
        assert found[method][-1] < 0.4, method


# --- feature visualisation and the command line on the trained run ---------------------------------------------------

@pytest.mark.slow
def test_visualize_finds_an_input_the_unit_prefers_to_every_test_input(shape_run, tmp_path):
    found = visualize(shape_run, channel=3, steps=128)  # the last convolution, features.2.0
    assert found.activation > found.start and found.activation > float(found.top_activations[0])
    assert torch.all(found.top_activations[:-1] >= found.top_activations[1:])  # highest first
    assert found.synthesized.shape == (1, SIZE, SIZE) and len(found.top_inputs) == 16
    assert set(found.top_labels) <= set(SHAPES)
    path = save_visualization(shape_run, found, tmp_path)
    assert path.name == "visualize-features_2_0-3.png" and path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_cli_writes_one_png_per_input(shape_run, tmp_path):
    x, _, _, _ = shape_images(3, seed=3)
    files = []
    for index, image in enumerate(x):
        files.append(tmp_path / f"shape{index}.png")
        Image.fromarray(image[0].numpy(), mode="L").save(files[-1])
    result = runner.invoke(app, ["explain", str(shape_run.path), *map(str, files)])
    assert result.exit_code == 0, result.stderr
    written = sorted((shape_run.path / "explanations").glob("*.png"))
    assert [p.name for p in written] == [f"{i:03d}-shape{i}-gradcam.png" for i in range(3)]
    assert all(p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size < 100_000 for p in written)
    assert re.match(rf"{re.escape(str(written[0]))}: (plus|ring|square|x) \d+\.\d%", result.stdout)
    out = tmp_path / "occlusion"
    result = runner.invoke(app, ["explain", str(shape_run.path), str(files[0]), "--method", "occlusion", "--window",
                                 "3", "--stride", "1", "--target", "ring", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in out.glob("*.png")] == ["000-shape0-occlusion.png"]
    result = runner.invoke(app, ["explain", str(shape_run.path), str(files[0]), "--layer", "features.0.0", "--out",
                                 str(out)])
    assert result.exit_code == 0 and (out / "000-shape0-gradcam-features_0_0.png").is_file(), result.stderr
    result = runner.invoke(app, ["explain", str(shape_run.path), "--method", "visualize", "--layer", "features.0.0",
                                 "--channel", "2", "--steps", "32", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert (out / "visualize-features_0_0-2.png").is_file() and "activation" in result.stdout


# --- runs built by hand (random weights): every kind of input, preprocessing, memory, errors ------------------------

def hand_made_run(folder, model, architecture: dict, **info) -> striate.Run:
    """A run folder for `model` as training would write it, without training."""
    folder.mkdir()
    info = {"target_kind": "class", "normalization": "channel", "mean": [0.3], "std": [0.2], "scale": 1 / 255, **info}
    save_model(folder, model, architecture, info)
    (folder / "config.yaml").write_text(yaml.safe_dump({"model": architecture["name"]}))
    return striate.load(folder)


@pytest.fixture
def lenet_run(tmp_path):
    kwargs = {"num_classes": 3, "in_channels": 1, "input_size": [20, 20]}
    return hand_made_run(tmp_path / "lenet", create("lenet5", **kwargs), {"name": "lenet5", "kwargs": kwargs},
                         input_kind="image", input_shape=[1, 20, 20], classes=["a", "b", "c"])


def test_attributions_are_taken_through_the_runs_preprocessing(lenet_run):
    x = torch.randint(0, 256, (4, 1, 20, 20), dtype=torch.uint8)
    raw = x.float().requires_grad_(True)
    scores = lenet_run.model(lenet_run.preprocess(raw))  # by hand: d score / d raw pixel, through (x / 255 - m) / s
    target = scores.argmax(dim=1)
    (gradient,) = torch.autograd.grad(scores.gather(1, target[:, None]).sum(), raw)
    saliency = lenet_run.explain(x, method="saliency")
    torch.testing.assert_close(saliency, gradient.abs())
    baseline = torch.full_like(raw, 0.3 * 255)  # the raw value preprocessing maps to 0
    ig = explain(lenet_run, x, "integrated_gradients", steps=64)
    with torch.no_grad():
        gap = lenet_run.model(lenet_run.preprocess(raw)) - lenet_run.model(lenet_run.preprocess(baseline))
    completeness = gap.gather(1, ig.targets[:, None])[:, 0]  # the map sums to the score's difference from the baseline
    torch.testing.assert_close(ig.attributions.flatten(1).sum(1), completeness, atol=2e-3, rtol=2e-2)


def test_many_inputs_keep_every_forward_pass_small(lenet_run):
    x = torch.randint(0, 256, (100, 1, 20, 20), dtype=torch.uint8)
    rows: list[int] = []
    hook = lenet_run.model.register_forward_pre_hook(lambda module, args: rows.append(args[0].shape[0]))
    for method in METHODS:
        rows.clear()
        maps = explain(lenet_run, x, method, batch_size=10, internal_batch_size=25, steps=40, window=5,
                       stride=5).attributions
        assert len(maps) == 100 and max(rows) <= 25, (method, max(rows))
    hook.remove()
    # the chunks change nothing: 20 inputs in chunks of 4 and 16 interpolation steps a pass equal one big call
    small = explain(lenet_run, x[:20], "integrated_gradients", batch_size=4, internal_batch_size=16).attributions
    whole = explain(lenet_run, x[:20], "integrated_gradients", batch_size=20, internal_batch_size=1000).attributions
    torch.testing.assert_close(small, whole, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_series_runs_get_a_value_per_time_step(tmp_path, method):
    kwargs = {"num_classes": 2, "in_channels": 2}
    run = hand_made_run(tmp_path / "fcn", create("fcn", **kwargs), {"name": "fcn", "kwargs": kwargs},
                        input_kind="signal", input_shape=[2, 48], classes=["up", "down"], normalization="series",
                        mean=[0.0, 0.0], std=[1.0, 1.0], scale=1.0)
    x = torch.randn(3, 2, 48).cumsum(-1) * 5 + 3
    explained = explain(run, x, method)
    channels = 1 if method == "gradcam" else 2
    assert explained.attributions.shape == (3, channels, 48) and explained.attributions.abs().sum() > 0
    if method == "integrated_gradients":  # from the normalised zero series: the sum is the score's difference
        with torch.no_grad():
            gap = run.model(run.preprocess(x)) - run.model(torch.zeros(1, 2, 48))
        torch.testing.assert_close(explained.attributions.flatten(1).sum(1),
                                   gap.gather(1, explained.targets[:, None])[:, 0], atol=2e-3, rtol=2e-2)
    paths = save_explanations(run, explained, tmp_path / "out")
    assert [p.name for p in paths] == [f"{i:03d}-tensor_{i}-{method}.png" for i in range(3)]


@pytest.fixture
def text_run(tmp_path):
    from striate.data.text import Vocabulary

    kwargs = {"num_classes": 2, "vocab_size": 9, "embedding_dim": 8, "out_channels": 4, "kernel_sizes": [2, 3]}
    folder = tmp_path / "text"
    run = hand_made_run(folder, create("textcnn", **kwargs), {"name": "textcnn", "kwargs": kwargs},
                        input_kind="tokens", input_shape=[12], classes=["neg", "pos"], normalization="none",
                        mean=[0.0], std=[1.0], scale=1.0)
    Vocabulary(["<pad>", "<unk>", "good", "bad", "film", "a", "very", "plot", "the"]).save(folder / "vocab.json")
    return run  # its vocabulary is read on first use


@pytest.mark.parametrize("method", ["gradcam", "saliency", "integrated_gradients", "occlusion"])
def test_text_runs_get_a_value_per_word(text_run, tmp_path, method):
    sentences = ["a very good film", "the plot is bad"]
    explained = explain(text_run, sentences, method)
    assert explained.attributions.shape == (2, 12)
    assert explained.attributions[:, :4].abs().sum() > 0
    if method in ("integrated_gradients", "occlusion"):  # padding equals the baseline: nothing to attribute there
        assert explained.attributions[:, 4:].abs().max() == 0
    paths = save_explanations(text_run, explained, tmp_path / "out")
    layer = "-convs_1" if method == "gradcam" else ""  # the Text CNN's features are a vector: its last convolution
    assert paths[0].name == f"000-a_very_good_film-{method}{layer}.png"


def test_clips_get_maps_over_frames_and_pictures_of_the_strongest_slices(tmp_path):
    spec = {"layers": [{"type": "conv3d", "out_channels": 4, "kernel_size": 3, "padding": 1}, "relu",
                       {"type": "maxpool3d", "kernel_size": 2}, {"type": "conv3d", "out_channels": 6, "kernel_size": 3,
                                                                  "padding": 1}, "relu", "flatten", "linear"]}
    model = build_spec(spec, (1, 6, 12, 12), 3)
    run = hand_made_run(tmp_path / "clip", model, {"name": "spec", "spec": model.spec}, input_kind="clip",
                        input_shape=[1, 6, 12, 12], classes=["x", "y", "z"], mean=[0.5], std=[0.25], scale=1.0)
    x = torch.rand(2, 1, 6, 12, 12)
    for method in METHODS:
        explained = explain(run, x, method)
        assert explained.attributions.shape == (2, 1, 6, 12, 12)
        assert explained.layer == ("forward_features" if method in ("gradcam", "guided_gradcam") else None)
        assert all(p.is_file() for p in save_explanations(run, explained, tmp_path / "out"))


@pytest.mark.parametrize(("call", "message"), [
    (lambda run, x: explain(run, x, "gradcm"),
     r"Unknown explanation method `gradcm`: expected one of gradcam, .*Did you mean `gradcam`\?"),
    (lambda run, x: explain(run, x, "gradcam", layer="features.9"),
     r"Unknown layer `features.9` in model `lenet5`: expected a module name such as forward_features, features.0, "
     r"features.3 \(`striate summary .*` lists them all\)\. Did you mean `features\.\d`\?"),
    (lambda run, x: explain(run, x, "gradcam", layer="head"),
     r"Invalid `layer` head for `gradcam`: expected a map \(N, C, H, W\).*found output shape \(N, 3\)"),
    (lambda run, x: explain(run, x, "saliency", layer="features.3"), r"Invalid `layer` for `saliency`"),
    (lambda run, x: visualize(run, "features.3", channel=16),
     r"Invalid `channel` 16 for layer `features.3`: expected 0 to 15 \(its output has 16 channels\)"),
    (lambda run, x: explain(run, x, "gradcam", target="zebra"),
     r"Unknown target class `zebra`: expected a class name of this run \(a, b, c\) or an index from 0 to 2\."),
    (lambda run, x: explain(run, x, "gradcam", target=3), r"Unknown target class `3`"),
    (lambda run, x: explain(run, x, "occlusion", window=0), r"Invalid `window`: expected a positive integer"),
    (lambda run, x: explain(run, x, "visualize"), r"Method `visualize` synthesises an input"),
])
def test_user_errors_are_one_line_config_errors(lenet_run, call, message):
    with pytest.raises(striate.ConfigError, match=message) as error:
        call(lenet_run, torch.zeros(1, 1, 20, 20, dtype=torch.uint8))
    assert "\n" not in str(error.value)


def test_methods_that_need_a_convolution_say_so(tmp_path):
    model = build_spec({"layers": ["flatten", {"type": "linear", "out_features": 16}, "relu", "linear"]}, (1, 8, 8), 2)
    run = hand_made_run(tmp_path / "mlp", model, {"name": "spec", "spec": model.spec}, input_kind="image",
                        input_shape=[1, 8, 8], classes=["a", "b"])
    x = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    for method in ("gradcam", "guided_gradcam"):
        with pytest.raises(striate.ConfigError, match=rf"Method `{method}` does not apply to model `spec`: it reads a "
                                                      r"convolutional layer's maps and the model has none"):
            explain(run, x, method)
    assert explain(run, x, "saliency").attributions.shape == (1, 1, 8, 8)  # the input-gradient methods still work


def test_text_runs_refuse_guided_gradcam_and_visualize(text_run):
    with pytest.raises(striate.ConfigError, match=r"`guided_gradcam` does not apply to text runs"):
        explain(text_run, ["good film"], "guided_gradcam")
    with pytest.raises(striate.ConfigError, match=r"`visualize` does not apply to text runs"):
        visualize(text_run)


def test_cli_errors_are_one_line_with_exit_code_2(lenet_run, tmp_path):
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((20, 20), dtype=np.uint8), mode="L").save(image)
    for args, message in ((["--method", "oclusion"], "Did you mean `occlusion`?"),
                          (["--target", "d"], "Unknown target class `d`"),
                          (["--layer", "conv9"], "Unknown layer `conv9`")):
        result = runner.invoke(app, ["explain", str(lenet_run.path), str(image), *args])
        assert result.exit_code == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    result = runner.invoke(app, ["explain", str(lenet_run.path)])
    assert result.exit_code == 2 and "No inputs to explain" in result.stderr


def test_cli_explains_series_files_and_sentences(text_run, tmp_path):
    kwargs = {"num_classes": 2, "in_channels": 1}
    run = hand_made_run(tmp_path / "fcn", create("fcn", **kwargs), {"name": "fcn", "kwargs": kwargs},
                        input_kind="signal", input_shape=[1, 40], classes=["up", "down"], normalization="series",
                        mean=[0.0], std=[1.0], scale=1.0)
    series = tmp_path / "series.npy"
    np.save(series, np.random.default_rng(0).normal(size=(2, 1, 40)).cumsum(-1))  # (N, C, L): two series
    result = runner.invoke(app, ["explain", str(run.path), str(series), "--method", "saliency"])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (run.path / "explanations").iterdir()) == [
        "000-series_0-saliency.png", "001-series_1-saliency.png"]
    result = runner.invoke(app, ["explain", str(text_run.path), "a very good film", "--method", "integrated_gradients"])
    assert result.exit_code == 0, result.stderr
    assert (text_run.path / "explanations" / "000-a_very_good_film-integrated_gradients.png").is_file()
