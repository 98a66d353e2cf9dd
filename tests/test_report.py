"""The training report: report.html after every run and from `striate report`, self-contained, holding the run's own
numbers (checked against results.json, metrics.jsonl and an independent confusion matrix); `striate compare`; a
failed picture never loses a run; every kind of data; and the page in a real browser (headless Chromium)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from rich.console import Console
from sklearn.metrics import confusion_matrix
from typer.testing import CliRunner

import striate
from striate.cli import app
from striate.data import load_data
from striate.report import REPORT_FILE, page
from striate.runs import INCOMPLETE

runner = CliRunner()
SECTIONS = [identifier for identifier, _, _ in page.SECTIONS]


class Page(HTMLParser):
    """A report page read back: every start tag with its attributes, the text of each element with an id, and the
    cells of each table with an id."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self._open: list[tuple[str, str | None]] = []
        self._table: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id")
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self.tables[self._table][-1].append("")
        if tag not in ("img", "meta", "link", "br"):
            self._open.append((tag, attributes.get("id")))
            if attributes.get("id"):
                self.text[attributes["id"]] = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for _, identifier in self._open:
            if identifier:
                self.text[identifier] += data
        if self._table and self._open and self._open[-1][0] in ("td", "th"):
            self.tables[self._table][-1][-1] += data

    def rows(self, table: str) -> list[dict[str, str]]:
        """The data-* attributes of each row of the table with id `table`."""
        inside, rows = False, []
        for tag, attributes in self.tags:
            if tag == "table":
                inside = attributes.get("id") == table
            elif inside and tag == "tr" and any(key.startswith("data-") for key in attributes):
                rows.append({key[5:]: value for key, value in attributes.items() if key.startswith("data-")})
        return rows

    def images(self) -> list[str]:
        return [attributes["src"] for tag, attributes in self.tags if tag == "img"]


def read_page(path: Path) -> tuple[str, Page]:
    text = path.read_text(encoding="utf-8")
    return text, Page(text)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two small digits runs that differ in five settings; the first with augmentation."""
    out = tmp_path_factory.mktemp("runs")
    first = striate.train(data="digits", epochs=3, batch_size=64, augment=["affine"], name="a", out=str(out),
                          quiet=True)
    second = striate.train(data="digits", epochs=1, batch_size=64, lr=0.01, schedule="cosine", name="b",
                           out=str(out), quiet=True)
    return first, second


@pytest.mark.slow
def test_training_writes_a_self_contained_page_with_every_section(runs):
    text, found = read_page(runs[0].path / REPORT_FILE)
    assert not re.search(r"https?:", text) and "<script" not in text.lower() and "Could not draw" not in text
    identifiers = [attributes["id"] for _, attributes in found.tags if "id" in attributes]
    assert len(identifiers) == len(set(identifiers))
    assert [attributes["id"] for tag, attributes in found.tags if tag == "section"] == SECTIONS
    sources = found.images()
    assert len(sources) >= 8 + 8 + 5  # misclassified and Grad-CAM tiles, curves, schedule, confusion, filters, ...
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1], validate=True))) as image:
            assert image.format == "PNG" and min(image.size) > 0
            image.load()


@pytest.mark.slow
def test_the_page_holds_the_runs_own_numbers(runs):
    run = runs[0]
    _, found = read_page(run.path / REPORT_FILE)
    results = json.loads((run.path / "results.json").read_text())
    shown = {row["key"]: json.loads(row["value"]) for row in found.rows("results")}
    assert shown["test_accuracy"] == results["test_accuracy"] and shown["parameters"] == results["parameters"]
    assert found.text["card-test-accuracy"] == f"{results['test_accuracy']:.2%}"
    history = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    rates, steps_per_epoch, _ = page.learning_rates(run, history)
    assert steps_per_epoch == history[0]["step"] and len(rates[0]) == 3 * steps_per_epoch + 1
    assert [rates[0][row["step"]] for row in history] == [row["lr"] for row in history]  # as training stepped it
    assert found.text["timing-epoch-seconds"] == f"{np.mean([row['epoch_seconds'] for row in history]):.2f}"
    header, *_, total = found.tables["layers"]
    assert dict(zip(header, total, strict=True))["params"] == f"{results['parameters']:,}"  # the totals row
    assert yaml.safe_load(found.text["config"].split("takes it.", 1)[1]) == run.config


@pytest.mark.slow
def test_confused_pairs_and_misclassified_examples_match_an_independent_evaluation(runs):
    run = runs[0]
    _, found = read_page(run.path / REPORT_FILE)
    test = load_data("digits", seed=0).test  # the split training used, read again
    predicted = run.predict_proba(test.x).argmax(dim=1).numpy()
    truth = test.y.numpy()
    confusion = confusion_matrix(truth, predicted, labels=range(10))
    off = [(-int(confusion[t, p]), t, p) for t in range(10) for p in range(10) if t != p and confusion[t, p]]
    count, true, wrong = min(off)
    first = found.rows("confused-pairs")[0]
    assert (first["true"], first["predicted"], int(first["count"])) == (run.classes[true], run.classes[wrong], -count)
    indices = [int(attributes["data-index"]) for tag, attributes in found.tags
               if tag == "figure" and "data-index" in attributes][:24]
    assert indices == np.flatnonzero(predicted != truth)[:24].tolist()


@pytest.mark.slow
def test_augmentations_appear_when_the_run_used_them(runs):
    assert "augmented training samples" in (runs[0].path / REPORT_FILE).read_text()
    assert "This run used no augmentation" in (runs[1].path / REPORT_FILE).read_text()


@pytest.mark.slow
def test_striate_report_writes_the_page_and_its_pictures_again(runs, tmp_path):
    folder = Path(shutil.copytree(runs[0].path, tmp_path / "copy"))
    for name in (REPORT_FILE, "curves.png", "confusion.png", "augmentations.png"):
        (folder / name).unlink()
    done = runner.invoke(app, ["report", str(folder)])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == str(folder / REPORT_FILE)
    for name in ("curves.png", "confusion.png", "augmentations.png"):
        with Image.open(folder / name) as image:
            assert image.format == "PNG"
    text, found = read_page(folder / REPORT_FILE)
    assert "Could not draw" not in text
    assert found.text["card-test-accuracy"] == f"{runs[0].results['test_accuracy']:.2%}"
    assert found.rows("confused-pairs") == read_page(runs[0].path / REPORT_FILE)[1].rows("confused-pairs")


def test_a_section_that_fails_is_said_on_the_page(runs, tmp_path, monkeypatch):
    def broken(weight):
        raise RuntimeError("no filters today")

    monkeypatch.setattr(page.images, "filter_grid", broken)
    written = page.write_report(striate.load(runs[1].path), path=tmp_path / "page.html")
    assert written.problems == ["First-layer filters: RuntimeError: no filters today"]
    text = written.path.read_text()
    assert text.count("Could not draw First-layer filters: RuntimeError: no filters today") == 2  # top and section
    assert 'id="confused"' in text  # every other section is there


@pytest.mark.slow
def test_pictures_that_fail_never_lose_the_run(tmp_path, monkeypatch):
    from striate.report import plots
    from striate.train import job

    def broken(*args, **kwargs):
        raise OSError("no space for pictures")

    monkeypatch.setattr(plots, "plot_curves", broken)
    run = striate.train(data="digits", epochs=1, train_size=300, out=str(tmp_path), quiet=True)
    assert not (run.path / INCOMPLETE).exists() and striate.load(run.path).results == run.results
    assert "Could not draw curves.png: OSError: no space for pictures" in (run.path / REPORT_FILE).read_text()

    def no_page(*args, **kwargs):
        raise OSError("read-only folder")

    monkeypatch.setattr(job, "write_report", no_page)
    console = Console(file=io.StringIO(), width=200)
    job._write_report(run, None, [], [], console)
    assert "could not draw report.html: OSError: read-only folder; the run is complete" in console.file.getvalue()


@pytest.mark.slow
def test_compare_lists_exactly_the_settings_that_differ(runs, tmp_path):
    out = tmp_path / "compare.html"
    done = runner.invoke(app, ["compare", str(runs[0].path), str(runs[1].path), "--out", str(out)])
    assert done.exit_code == 0, done.output
    text, found = read_page(out)
    assert not re.search(r"https?:", text) and len(found.images()) == 1
    assert [row["key"] for row in found.rows("settings")] == ["epochs", "lr", "schedule", "augment", "name"]
    metrics = {row["key"] for row in found.rows("final-metrics")}
    assert {"test_accuracy", "test_loss", "epochs_completed", "wall_seconds"} <= metrics
    for run in runs:
        assert f"{run.results['test_accuracy']:.4f}" in found.text["final-metrics"]
    lonely = runner.invoke(app, ["compare", str(runs[0].path)])
    assert lonely.exit_code == 2 and "expected at least two run folders, received 1" in lonely.output


TEXT = ["0 the cat sat on the mat", "1 a dog ran in the park", "0 my cat likes the warm mat",
        "1 the dog barks at the park gate"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["multilabel", "series", "text"])
def test_every_kind_of_run_gets_a_page_without_problems(kind, tmp_path):
    options = {"multilabel": {"data": "digits-attributes", "epochs": 1},
               "series": {"data": "ucr:GunPoint", "model": "fcn", "epochs": 1, "batch_size": 16,
                          "model_args": {"channels": [8, 8, 8]}},
               "text": {"data": f"text:{tmp_path / 'text.txt'}", "model": "textcnn", "epochs": 1, "batch_size": 8,
                        "model_args": {"embedding_dim": 8, "out_channels": 4}}}[kind]
    (tmp_path / "text.txt").write_text("\n".join(TEXT * 15) + "\n")
    run = striate.train(out=str(tmp_path / "runs"), quiet=True, **options)
    text, found = read_page(run.path / REPORT_FILE)
    assert "Could not draw" not in text
    sections = [attributes["id"] for tag, attributes in found.tags if tag == "section"]
    assert ("misclassified" in sections) == (kind != "multilabel")
    assert found.text["gradcam"].startswith("Grad-CAM")
    if kind == "text":  # sentences, in a table
        assert found.rows("misclassified-examples") or "None of the first" in found.text["misclassified"]


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.mark.slow
def test_the_page_in_a_real_browser(runs, tmp_path_factory):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("chromium is not installed: run `sh scripts/get-chromium.sh` (apt-get install chromium "
                    "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
                 "--window-size=1280,900", "--hide-scrollbars"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get((runs[0].path / REPORT_FILE).resolve().as_uri())
        widths = driver.execute_script("return Array.from(document.images, i => i.complete ? i.naturalWidth : 0);")
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        headings = driver.execute_script("return Array.from(document.querySelectorAll('section h2'), h => "
                                         "h.textContent);")
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(1280, min(height, 16000))
        screenshot = tmp_path_factory.mktemp("artefacts") / "report-screenshot.png"
        driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    print(f"\nbrowser screenshot of {runs[0].path / REPORT_FILE}: {screenshot}")
    assert errors == []
    assert len(widths) >= 21 and all(width > 0 for width in widths)
    assert headings == [title for _, title, _ in page.SECTIONS]
    with Image.open(screenshot) as image:
        assert image.size[0] == 1280 and image.size[1] > 900
