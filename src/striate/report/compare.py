"""`striate compare`: one self-contained page that sets several runs side by side: their curves overlaid, the
settings that differ, and the final metrics.

It reads only the files (config.yaml, metrics.jsonl, results.json), never the weights, so comparing large models
costs nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from striate._io import atomic_write_text
from striate.errors import ConfigError, RunFolderError
from striate.report import html
from striate.report.html import Section

MISSING = "-"
"""What a table shows for a setting or metric one run does not have."""


@dataclass
class _RunFiles:
    label: str
    path: Path
    config: dict[str, Any]
    results: dict[str, Any]
    history: list[dict[str, Any]]


def write_comparison(paths: list[str | Path], out: str | Path = "compare.html") -> Path:
    """Write the comparison page of the run folders `paths` (at least two) to `out`; returns its path."""
    if len(paths) < 2:
        raise ConfigError(f"Invalid runs for `compare`: expected at least two run folders, received {len(paths)}.")
    runs = _labelled([_read(Path(path)) for path in paths])
    sections = [Section("curves", "Curves", _curves(runs)),
                Section("settings", "Settings that differ", _settings(runs)),
                Section("metrics", "Final metrics", _metrics(runs))]
    subtitle = f"{len(runs)} runs · written {time.strftime('%Y-%m-%d %H:%M')}"
    return atomic_write_text(Path(out), html.page("striate compare: " + ", ".join(r.label for r in runs), subtitle,
                                                  sections))


def different_settings(configs: list[dict[str, Any]]) -> list[str]:
    """The config keys whose values are not the same in every config (a key some lack counts as different), in the
    order of the first config that has them."""
    keys = list(dict.fromkeys(key for config in configs for key in config))
    return [key for key in keys if any(config.get(key, MISSING) != configs[0].get(key, MISSING) for config in configs)]


def _read(path: Path) -> _RunFiles:
    from striate.runs import check_run_dir

    check_run_dir(path)
    try:
        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
        results_path, metrics_path = path / "results.json", path / "metrics.jsonl"
        results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.is_file() else {}
        lines = metrics_path.read_text(encoding="utf-8").splitlines() if metrics_path.is_file() else []
        history = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise RunFolderError(f"Cannot read run folder {path}: expected the files `striate train` writes "
                             f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}).") from None
    if not isinstance(config, dict) or not isinstance(results, dict):
        raise RunFolderError(f"Cannot read run folder {path}: expected a mapping in config.yaml and results.json.")
    return _RunFiles(path.name, path, config, results, history)


def _labelled(runs: list[_RunFiles]) -> list[_RunFiles]:
    """Runs named by their folder, or by their whole path where two folders share a name."""
    names = [run.label for run in runs]
    for run in runs:
        if names.count(run.label) > 1:
            run.label = str(run.path)
    return runs


def _curves(runs: list[_RunFiles]) -> str:
    from striate.report.plots import draw_overlaid_curves
    from striate.tasks import TASKS

    monitors = [TASKS[r.results["task"]].monitor for r in runs if r.results.get("task") in TASKS]
    metrics = list(dict.fromkeys(["loss", *monitors]))
    histories = {run.label: run.history for run in runs if run.history}
    if not histories:
        return html.paragraph("None of the runs has a finished epoch in metrics.jsonl.")
    try:
        picture = draw_overlaid_curves(histories, metrics)
    except Exception as error:  # the tables below are still worth having
        return html.failed("the curves", error)
    return (html.paragraph("One colour per run: validation solid, training dashed.")
            + html.image(picture, "curves of every run"))


def _settings(runs: list[_RunFiles]) -> str:
    keys = different_settings([run.config for run in runs])
    if not keys:
        return html.paragraph("The runs were trained with the same settings.")
    rows = [(key, *(_cell(run.config.get(key, MISSING)) for run in runs)) for key in keys]
    return html.table(["setting", *(run.label for run in runs)], rows, row_attributes=[{"key": k} for k in keys],
                      css_id="settings")


def _metrics(runs: list[_RunFiles]) -> str:
    keys = list(dict.fromkeys(key for run in runs for key, value in run.results.items()
                              if key.startswith("test_") and isinstance(value, int | float)))
    keys += ["epochs_completed", "stop_reason", "wall_seconds", "parameters"]
    rows = [(key.replace("_", " "), *(_cell(run.results.get(key, MISSING)) for run in runs)) for key in keys]
    rates = [[row["train_samples_per_second"] for row in run.history if "train_samples_per_second" in row]
             for run in runs]
    rows.append(("training samples/s (mean)", *(f"{sum(r) / len(r):,.0f}" if r else MISSING for r in rates)))
    attributes = [{"key": key} for key in keys] + [{"key": "train_samples_per_second"}]
    return html.table(["metric", *(run.label for run in runs)], rows, [False] + [True] * len(runs), attributes,
                      css_id="final-metrics")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return value if isinstance(value, str) else json.dumps(value)
