"""The training report: `report.html`, one self-contained page per run folder.

Every section reads the run folder (config.yaml, metrics.jsonl, results.json, the weights) through `Run`, plus the
test split, which training hands over from memory and `striate report` rebuilds exactly as `striate evaluate` does.
Each section is drawn on its own: one that fails is replaced by a line saying what could not be drawn and why, and
the rest of the page is still written; training writes the page after the run is complete, so nothing the report
does can lose a run.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from striate._io import atomic_write_text
from striate.report import html, images
from striate.report.html import Section, esc

if TYPE_CHECKING:
    from striate.data import Dataset
    from striate.runs import Run
    from striate.tasks import Task

REPORT_FILE = "report.html"
MISCLASSIFIED = 24
"""Misclassified test examples the page shows (found among the first `SEARCHED` test examples)."""
SEARCHED = 8192
EXPLAINED = 8
"""Test inputs Grad-CAM is shown on: the first of each class (classification), else the first ones."""
MAX_SCHEDULE_STEPS = 200_000
"""The schedule is rebuilt by stepping the scheduler; beyond this many steps only the first ones are drawn."""


@dataclass
class Report:
    """What `write_report` wrote: the page, and one line per part that could not be drawn."""

    path: Path
    problems: list[str] = field(default_factory=list)


def write_report(run: Run, *, test: Dataset | None = None, task_pictures: list[Path] | None = None,
                 problems: list[str] | None = None, path: str | Path | None = None) -> Report:
    """Write the run's report page (default `RUN/report.html`) and return it with what could not be drawn.

    Args:
        run: the finished run.
        test: its test split as training used it (default: rebuilt from the config, as `striate evaluate` does).
        task_pictures: the task's pictures training just drew (default: `redraw_pictures` draws curves.png, the
            task's pictures and a missing augmentations.png again, from the run folder and one test evaluation).
        problems: pictures training could not draw, said at the top of the page with the page's own.
    """
    started = time.perf_counter()
    sources = _Sources(run, test)
    problems = list(problems or [])
    if task_pictures is None:
        task_pictures, redrawn = redraw_pictures(run, sources)
        problems += redrawn
    sources.task_pictures = task_pictures
    sections = [_draw(identifier, title, draw, sources) for identifier, title, draw in SECTIONS]
    sections = [section for section in sections if section is not None]
    problems += [problem for section in sections for problem in section.problems]
    if problems:
        sections[0].body = "".join(html.failed(*_split(p)) for p in problems) + sections[0].body
    config = run.config
    subtitle = (f"{config.get('model')} on {config.get('data')} · {run.task.name} · {run.path.resolve()} · written "
                f"{time.strftime('%Y-%m-%d %H:%M')} in {time.perf_counter() - started:.1f} s")
    target = Path(path) if path is not None else run.path / REPORT_FILE
    atomic_write_text(target, html.page(f"striate run {run.path.name}", subtitle, sections))
    return Report(target, problems)


def _split(problem: str) -> tuple[str, str]:
    what, _, why = problem.partition(": ")
    return what, why


def draw_pictures(folder: Path, history: list[dict[str, float]], task: Task, state: dict[str, Any],
                  title: str) -> tuple[list[Path], list[str]]:
    """curves.png and the task's pictures of a test evaluation (`state`) in `folder`, each drawn on its own, so one
    that fails leaves the others. Returns the task's pictures and, per failure, "what: why"."""
    from striate.report.plots import plot_curves

    pictures, problems = [], []
    for what, draw in (("curves.png", lambda: plot_curves(history, folder / "curves.png", metric=task.monitor)),
                       ("the task's pictures", lambda: pictures.extend(task.plots(state, folder, title=title)))):
        _attempt(what, draw, problems)
    return pictures, problems


def _attempt(what: str, draw: Callable[[], object], problems: list[str]) -> None:
    try:
        draw()
    except Exception as error:  # a picture that cannot be drawn must not stop the others, the page or the run
        problems.append(f"{what}: {type(error).__name__}: {error}")


def redraw_pictures(run: Run, sources: _Sources | None = None) -> tuple[list[Path], list[str]]:
    """Draw the run folder's pictures again: curves.png from metrics.jsonl, the task's pictures from one evaluation of
    the test split (the loop training used), and augmentations.png if the run used augmentation and it is missing.
    Returns the task's pictures and what could not be drawn."""
    from striate.data import BatchLoader
    from striate.report.plots import plot_augmentations
    from striate.train.trainer import evaluate_model

    sources, problems, found = sources or _Sources(run, None), [], {}

    def evaluate() -> None:
        loader = BatchLoader(sources.test, 1024, device=run.device, preprocess=run.preprocessor)
        found["state"] = evaluate_model(run.model, run.task, loader, tta=run.tta)[1]
        found["history"] = sources.history

    _attempt("the test evaluation", evaluate, problems)
    if run.config.get("augment") and not (run.path / "augmentations.png").is_file():
        _attempt("augmentations.png", lambda: plot_augmentations(*_augmentation_inputs(run),
                                                                 run.path / "augmentations.png"), problems)
    if not found:
        return [], problems
    headline = ", ".join(f"{label} {value}" for label, value in run.task.summary_rows(run.results, "test_")[:1])
    title = f"{run.config.get('model')} on {run.config.get('data')}: test {headline}"
    pictures, failures = draw_pictures(run.path, found["history"], run.task, found["state"], title)
    return pictures, problems + failures


def _augmentation_inputs(run: Run):
    """The first 8 training images scaled to [0, 1], and the run's augmentation, as training drew them."""
    from striate.config import make_config
    from striate.data.augment import build_augmentation
    from striate.train.job import load_splits

    config = make_config(run.config)
    train = load_splits(config).train
    return train.x[:8].float() / 255, build_augmentation(config.augment, train.input_shape)


class _Sources:
    """What the sections read, each loaded once, on first use."""

    def __init__(self, run: Run, test: Dataset | None):
        self.run, self._test, self.task_pictures = run, test, []

    @cached_property
    def history(self) -> list[dict[str, Any]]:
        lines = (self.run.path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    @cached_property
    def test(self) -> Dataset:
        if self._test is not None:
            return self._test
        from striate.explain.visualize import test_data

        return test_data(self.run)[0]

    @cached_property
    def summary(self):
        from striate.summary import summarize

        dtype = torch.long if self.run.input_kind == "tokens" else torch.float32
        return summarize(self.run.model, self.run.input_shape, device=self.run.device, dtype=dtype)

    @cached_property
    def misclassified(self) -> tuple[list[tuple[int, int, float]], int]:
        """(test index, predicted class, its probability) of the first `MISCLASSIFIED` wrong predictions, and how many
        test examples were searched for them."""
        test, found, searched = self.test, [], 0
        while searched < min(len(test), SEARCHED) and len(found) < MISCLASSIFIED:
            outputs = self.run.outputs(test.x[searched:searched + 1024])  # (B, K) probabilities or scores
            scores, predicted = outputs.max(dim=1)
            wrong = (predicted != test.y[searched:searched + len(outputs)]).nonzero().flatten().tolist()
            found += [(searched + i, int(predicted[i]), float(scores[i])) for i in wrong]
            searched += len(outputs)
        return found[:MISCLASSIFIED], searched


def _draw(identifier: str, title: str, draw: Callable[[_Sources], str | None], sources: _Sources) -> Section | None:
    try:
        body = draw(sources)
    except Exception as error:  # a section that cannot be drawn says so; the page and the run are kept
        return Section(identifier, title, html.failed(title, error), [f"{title}: {type(error).__name__}: {error}"])
    return None if body is None else Section(identifier, title, body)


# --- sections ---------------------------------------------------------------------------------------------------------

def _summary(sources: _Sources) -> str:
    run, results = sources.run, sources.run.results
    rows = run.task.summary_rows(results, prefix="test_")
    cards = [(f"test {label}", value, f"card-test-{label.replace(' ', '-')}") for label, value in rows]
    if results:
        cards += [("epochs", f"{results['epochs_completed']} ({results['stop_reason']})", "card-epochs"),
                  ("wall time", f"{results['wall_seconds']:.1f} s", "card-wall-time"),
                  ("parameters", f"{results['parameters']:,}", "card-parameters")]
    shown = [(key, value) for key, value in results.items() if key != "test_details"]
    table = html.table(["results.json", "value"], [(key, _shown(value)) for key, value in shown], [False, True],
                       [{"key": key, "value": json.dumps(value)} for key, value in shown], css_id="results")
    return html.cards(cards) + f"<details><summary>everything in results.json</summary>{table}</details>"


def _shown(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return value if isinstance(value, str) else json.dumps(value)


def _curves(sources: _Sources) -> str:
    history = sources.history
    keys = [key for key in history[0] if key.startswith(("train_", "val_")) and "per_second" not in key] \
        if history else []
    rows = [[row["epoch"], *(_number(row.get(key)) for key in keys), f"{row['lr']:.4g}"] for row in history]
    picture = sources.run.path / "curves.png"
    body = html.image(picture, "loss and metric per epoch", "figure") if picture.is_file() else \
        html.paragraph("curves.png is missing; `striate report RUN` draws it again.")
    return body + html.table(["epoch", *[key.replace("_", " ") for key in keys], "lr at the end"], rows,
                             [True] * (len(keys) + 2), css_id="epochs")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _schedule(sources: _Sources) -> str:
    from striate.report.plots import draw_schedule

    history = sources.history
    if not history:
        return html.paragraph("No epoch finished, so the steps per epoch are unknown: no schedule to draw.")
    rates, steps_per_epoch, config = learning_rates(sources.run, history)
    logged = [(row["step"], row["lr"]) for row in history if row["step"] < len(rates[0])]
    picture = draw_schedule(rates, steps_per_epoch, logged, history[-1]["step"])
    total = steps_per_epoch * config.epochs
    words = (f"{config.schedule} schedule over {total:,} steps ({steps_per_epoch:,} per epoch x {config.epochs} "
             f"epochs), peak learning rate {config.effective_lr:.4g}"
             + (f", warm-up {config.warmup:.0%} of the steps" if config.schedule != "constant" else "")
             + "; rebuilt from config.yaml with the scheduler training uses; the dots are the rates training logged.")
    if total > MAX_SCHEDULE_STEPS:
        words += f" Only the first {MAX_SCHEDULE_STEPS:,} steps are drawn."
    return html.paragraph(words) + html.image(picture, "learning rate per step", "figure")


def learning_rates(run: Run, history: list[dict[str, Any]]):
    """The learning rate of every step, rebuilt from the run's config with training's own optimizer and scheduler
    code: `rates[g][s]` is parameter group g's rate for step s (s = 0 .. total steps), one list per distinct group.
    Returns the rates, the steps per epoch (from metrics.jsonl) and the config."""
    from striate.config import make_config
    from striate.train.job import make_optimizer, make_scheduler

    config = make_config(run.config)
    steps_per_epoch = history[0]["step"] // history[0]["epoch"]
    total = steps_per_epoch * config.epochs
    optimizer = make_optimizer(config, run.model)
    scheduler = make_scheduler(config, optimizer, total)
    rates = []
    with warnings.catch_warnings():  # torch warns of scheduler steps before any optimizer step: no training here
        warnings.simplefilter("ignore", UserWarning)
        for step in range(min(total, MAX_SCHEDULE_STEPS) + 1):
            rates.append([float(group["lr"]) for group in optimizer.param_groups])
            if scheduler is not None and step < total:
                scheduler.step()
    columns = list(dict.fromkeys(tuple(column) for column in zip(*rates, strict=True)))  # distinct groups
    return [list(column) for column in columns], steps_per_epoch, config


def _test_results(sources: _Sources) -> str:
    run = sources.run
    details = run.results.get("test_details")
    body = "".join(html.image(path, path.stem, "figure") for path in sources.task_pictures if Path(path).is_file())
    table = run.task.details_table(details) if details else None
    return html.side_by_side(body or html.paragraph("The task draws no picture."),
                             html.rich_table(table, "details") if table else "")


def _confused(sources: _Sources) -> str | None:
    run = sources.run
    if run.task.name != "classification":
        return None
    confusion = np.asarray(run.results["test_details"]["confusion"])
    pairs = most_confused(confusion)
    if not pairs:
        return html.paragraph("No test example was misclassified.")
    classes, totals = run.classes, confusion.sum(axis=1)
    rows = [(classes[t], classes[p], f"{n:,}", f"{n / max(totals[t], 1):.1%}") for t, p, n in pairs]
    attributes = [{"true": classes[t], "predicted": classes[p], "count": n} for t, p, n in pairs]
    return (html.paragraph("The test confusion matrix's largest cells off the diagonal: true class, the class it was "
                           "taken for, how often, and the share of the true class's test examples.")
            + html.table(["true class", "predicted as", "examples", "share of the class"], rows,
                         [False, False, True, True], attributes, css_id="confused-pairs"))


def most_confused(confusion: np.ndarray, limit: int = 10) -> list[tuple[int, int, int]]:
    """(true, predicted, count) of the largest off-diagonal cells of a confusion matrix (true class in rows), largest
    first, ties by position; cells of 0 are left out."""
    cells = [(int(confusion[t, p]), t, p) for t in range(len(confusion)) for p in range(len(confusion))
             if t != p and confusion[t, p] > 0]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [(t, p, n) for n, t, p in cells[:limit]]


def _misclassified(sources: _Sources) -> str | None:
    run = sources.run
    if run.task.name != "classification":
        return None
    found, searched = sources.misclassified
    if not found:
        return html.paragraph(f"None of the first {searched:,} test examples is misclassified.")
    words = html.paragraph(f"The first {len(found)} misclassified of the first {searched:,} test examples, with the "
                           "predicted class and its probability, and the true class.")
    test, classes = sources.test, run.classes
    captions = [(classes[p], score, classes[int(test.y[i])]) for i, p, score in found]
    if run.input_kind == "tokens":
        rows = [(" ".join(run.vocabulary.decode(test.x[i])), f"{p} ({s:.0%})", t)
                for (i, _, _), (p, s, t) in zip(found, captions, strict=True)]
        return words + html.table(["sentence", "predicted", "true"], rows, row_attributes=[
            {"index": i} for i, _, _ in found], css_id="misclassified-examples")
    if run.input_kind == "signal":
        from striate.report.plots import draw_series

        picture = draw_series([test.x[i].float().numpy() for i, _, _ in found],
                              [f"{p[:14]} {s:.0%} (true {t[:14]})" for p, s, t in captions])
        return words + html.image(picture, "misclassified series", "figure")
    return words + _tiles([images.picture(test.x[i], run.info.get("scale")) for i, _, _ in found],
                          [f'<span class="wrong">{esc(p)} {s:.0%}</span><br>true: {esc(t)}' for p, s, t in captions],
                          "misclassified-examples", [i for i, _, _ in found])


def _tiles(pictures: list[np.ndarray], captions: list[str], css_id: str, indices: list[int]) -> str:
    """Pictures with their captions (HTML), each tile marked with its test example's index."""
    tiles = "".join(f'<figure class="tile" data-index="{i}">{html.image(images.png(p), "test example", "pixels")}'
                    f"<figcaption>{caption}</figcaption></figure>"
                    for p, caption, i in zip(pictures, captions, indices, strict=True))
    return f'<div class="tiles" id="{css_id}">{tiles}</div>'


def _gradcam(sources: _Sources) -> str:
    from striate.errors import StriateError

    run, test = sources.run, sources.test
    indices = _explained_indices(test, run.task.name == "classification")
    x = test.x[indices]
    try:
        maps = run.explain(x, method="gradcam")
    except StriateError as error:
        return html.paragraph(f"Grad-CAM does not apply to this run: {error}")
    outputs = run.outputs(x)
    predicted = [run.task.describe_prediction(run.task.format_prediction(row, 1)) for row in outputs]
    truth = [_truth(run, test, i) for i in indices]
    words = html.paragraph("Grad-CAM (Selvaraju et al. 2017) at the model's last convolutional features, for the "
                           "predicted class (or output), on test inputs; `striate explain RUN INPUT` draws one in "
                           "detail.")
    if run.input_kind == "tokens":
        return words + _highlighted(run, x, maps, predicted, truth)
    if run.input_kind == "signal":
        from striate.report.plots import draw_series

        picture = draw_series([row.float().numpy() for row in x], [f"{p[:24]} (true {t[:14]})" for p, t in
                                                                   zip(predicted, truth, strict=True)],
                              heat=[m.reshape(-1).numpy() for m in maps])
        return words + html.image(picture, "Grad-CAM over time", "figure")
    pictures = [images.overlay(images.picture(row, run.info.get("scale")), _spatial(m)) for row, m in zip(x, maps,
                                                                                                         strict=True)]
    return words + _tiles(pictures, [f"{esc(p)}<br>true: {esc(t)}" for p, t in zip(predicted, truth, strict=True)],
                          "gradcam-maps", indices)


def _explained_indices(test: Dataset, per_class: bool) -> list[int]:
    if not per_class:
        return list(range(min(EXPLAINED, len(test))))
    labels = test.y[:SEARCHED].tolist()
    first = {}
    for index, label in enumerate(labels):
        first.setdefault(label, index)
    return sorted(first.values())[:EXPLAINED]


def _truth(run: Run, test: Dataset, index: int) -> str:
    target = test.y[index]
    if run.task.name == "classification":
        return run.classes[int(target)]
    if run.task.name == "multilabel":
        return ", ".join(name for name, on in zip(run.classes, target.reshape(-1).tolist(), strict=True)
                         if on > 0.5) or "no label"
    return ", ".join(f"{value:.3g}" for value in target.reshape(-1).tolist())


def _spatial(heat: torch.Tensor) -> np.ndarray:
    """A Grad-CAM map `(1, H, W)` (a clip's or volume's `(1, D, H, W)`: its middle slice) -> `(H, W)`."""
    heat = heat[0]
    return (heat[heat.shape[0] // 2] if heat.dim() == 3 else heat).numpy()


def _highlighted(run: Run, x: torch.Tensor, maps: torch.Tensor, predicted: list[str], truth: list[str]) -> str:
    rows = []
    for ids, heat, p, t in zip(x, maps, predicted, truth, strict=True):
        words = run.vocabulary.decode(ids)
        values = heat[:len(words)].clamp_min(0)
        values = values / values.max().clamp_min(1e-12)
        spans = "".join(f'<span style="background: rgba(255, 80, 0, {float(v):.2f})">{esc(w)}</span> '
                        for w, v in zip(words, values, strict=True))
        rows.append(f'<tr><td class="words">{spans}</td><td>{esc(p)}</td><td>{esc(t)}</td></tr>')
    return ('<table id="gradcam-maps"><thead><tr><th>sentence, words shaded by Grad-CAM</th><th>predicted</th>'
            f"<th>true</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _filters(sources: _Sources) -> str:
    import torch.nn as nn

    model = sources.run.model
    for row in sources.summary.rows:
        module = model.get_submodule(row.name.split(" (call")[0])
        if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
            picture, how = images.filter_grid(module.weight)
            return (html.paragraph(f"{row.name} ({row.type}, weights {tuple(module.weight.shape)}): {how}.")
                    + html.image(picture, f"filters of {row.name}", "pixels"))
    return html.paragraph("The model has no convolution with shared weights to draw.")


def _augmentations(sources: _Sources) -> str:
    path, augment = sources.run.path / "augmentations.png", sources.run.config.get("augment")
    if not augment:
        return html.paragraph("This run used no augmentation (`--augment`).")
    words = html.paragraph(f"--augment {' '.join(map(str, augment))}: the first row shows training images, each row "
                           "below one random augmentation of them, as training drew them on whole batches.")
    return words + (html.image(path, "augmented training samples", "figure") if path.is_file()
                    else html.paragraph("augmentations.png is missing (run `striate report RUN` to draw it)."))


def _model(sources: _Sources) -> str:
    summary = sources.summary
    warnings_ = "".join(html.paragraph(f"warning: {message}") for message in summary.warnings)
    return html.rich_table(summary.table(), "layers") + warnings_


def _timing(sources: _Sources) -> str:
    history, results = sources.history, sources.run.results
    seconds = [row["epoch_seconds"] for row in history if "epoch_seconds" in row]
    rates = [row["train_samples_per_second"] for row in history if "train_samples_per_second" in row]
    cards = [("wall time", f"{results['wall_seconds']:.1f} s" if results else "-", "timing-wall"),
             ("seconds per epoch", f"{np.mean(seconds):.2f}" if seconds else "-", "timing-epoch-seconds"),
             ("training samples/s", f"{np.mean(rates):,.0f}" if rates else "-", "timing-samples"),
             ("device", f"{results.get('device', '-')} x {results.get('processes', 1)}", "timing-device")]
    rows = [(row["epoch"], f"{row.get('epoch_seconds', 0):.2f}", f"{row.get('train_samples_per_second', 0):,.0f}")
            for row in history]
    note = html.paragraph("Wall time counts the whole job (data loading, every epoch, the test evaluation and the "
                          "files); samples/s counts training examples only, validation not included.")
    return html.cards(cards) + note + html.table(["epoch", "seconds", "training samples/s"], rows, [True] * 3,
                                                  css_id="timing-epochs")


def _configuration(sources: _Sources) -> str:
    text = (sources.run.path / "config.yaml").read_text(encoding="utf-8")
    return html.paragraph("config.yaml, every option resolved; `striate train --config` takes it.") + \
        f"<pre>{esc(text)}</pre>"


SECTIONS: list[tuple[str, str, Callable[[_Sources], str | None]]] = [
    ("summary", "Summary", _summary),
    ("curves", "Learning curves", _curves),
    ("schedule", "Learning-rate schedule", _schedule),
    ("test", "Test results", _test_results),
    ("confused", "Most-confused classes", _confused),
    ("misclassified", "Misclassified test examples", _misclassified),
    ("gradcam", "Grad-CAM", _gradcam),
    ("filters", "First-layer filters", _filters),
    ("augmentations", "Augmentations", _augmentations),
    ("model", "Model", _model),
    ("timing", "Timing", _timing),
    ("config", "Configuration", _configuration),
]
"""The page's sections in order: (anchor, heading, function returning the body, or None where it does not apply)."""
