"""Pictures and the report page of a DQN run: the learning curve, a recorded game as GIF, and `report.html`.

The page is built from the same parts as a supervised run's (`striate.report.html`): headline cards, the curve,
evaluations, the recorded game with the agent's value estimate along it, the network and the settings, one
self-contained file.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

from striate._io import atomic_write, atomic_write_text
from striate.report import html
from striate.report.html import Section
from striate.train.records import read_jsonl

MAX_GIF_FRAMES = 4_500
"""Frames a recorded game keeps (the first ones): 5 minutes at 15 frames/s, a few MB."""


def write_gif(frames: list[np.ndarray], path: str | Path, fps: int = 15) -> Path:
    """`frames` `(H, W, 3)` uint8 as an animated GIF looping forever, written atomically."""
    from PIL import Image

    if not frames:
        raise ValueError("write_gif needs at least one frame")
    images = [Image.fromarray(np.asarray(frame, np.uint8)) for frame in frames[:MAX_GIF_FRAMES]]

    def write(tmp: str) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)

    return atomic_write(path, write)


def draw_curve(run_dir: str | Path) -> Path | None:
    """`curve.png`: the training return (mean per logging interval and of the last 100 episodes) and every
    evaluation's mean ± sd against frames; beside it the loss and mean Q(s, a)."""
    from striate.report.plots import _pyplot, _save

    run_dir = Path(run_dir)
    curve = read_jsonl(run_dir / "curve.jsonl", "striate rl train")
    evaluations = read_jsonl(run_dir / "evaluations.jsonl", "striate rl train")
    if not curve and not evaluations:
        return None
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    points = [(row["frames"], row["return"]) for row in curve if row.get("return") is not None]
    if points:
        left.plot(*zip(*points, strict=True), color="#9db4d8", lw=1, label="training episodes (interval mean)")
    points = [(row["frames"], row["return_100"]) for row in curve if row.get("return_100") is not None]
    if points:
        left.plot(*zip(*points, strict=True), color="#1f4e9c", lw=1.8, label="training, last 100 episodes")
    if evaluations:
        x = [row["frames"] for row in evaluations]
        mean, std = np.array([row["mean"] for row in evaluations]), np.array([row["std"] for row in evaluations])
        left.errorbar(x, mean, yerr=std, fmt="o-", color="#c0392b", ms=4, capsize=3, label="evaluation (mean ± sd)")
    left.set_xlabel("frames")
    left.set_ylabel("return")
    left.set_title("return")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    learning = [row for row in curve if row.get("loss") is not None]
    if learning:
        frames = [row["frames"] for row in learning]
        right.plot(frames, [row["loss"] for row in learning], color="#555", lw=1.2, label="Huber loss")
        right.set_ylabel("loss")
        twin = right.twinx()
        twin.plot(frames, [row["q"] for row in learning], color="#27ae60", lw=1.2, label="mean Q(s, a)")
        twin.set_ylabel("Q(s, a)", color="#27ae60")
    right.set_xlabel("frames")
    right.set_title("learning")
    right.grid(alpha=0.3)
    return _save(figure, run_dir / "curve.png")


def _q_png(q_values: list[float]) -> bytes:
    from striate.report.plots import _pyplot, figure_png

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 2.6))
    axis.plot(q_values, color="#27ae60", lw=1.2)
    axis.set_xlabel("agent step")
    axis.set_ylabel("max Q(s, a)")
    axis.set_title("the agent's value estimate along the recorded game")
    axis.grid(alpha=0.3)
    return figure_png(figure)


def write_rl_report(run_dir: str | Path, recorded=None) -> Path:
    """Write `run_dir/report.html` from the run folder (and, when given, the recorded `Episode` with its Q-values)."""
    run_dir = Path(run_dir)
    settings = _read_yaml(run_dir / "config.yaml")
    record = json.loads((run_dir / "agent.json").read_text(encoding="utf-8"))
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8")) \
        if (run_dir / "results.json").is_file() else {}
    evaluations = read_jsonl(run_dir / "evaluations.jsonl", "striate rl train")
    sections = [Section("summary", "Summary", _summary(settings, record, results))]
    if (run_dir / "curve.png").is_file():
        sections.append(Section("curve", "Learning curve", html.image(run_dir / "curve.png", "learning curve",
                                                                      "figure")))
    if evaluations:
        rows = [(f"{row['frames']:,}", f"{row['mean']:.2f}", f"{row['std']:.2f}", f"{min(row['returns']):g}",
                 f"{max(row['returns']):g}", len(row["returns"])) for row in evaluations]
        sections.append(Section("evaluations", "Evaluations", html.paragraph(
            f"Full games with ε = {settings.get('eval_epsilon')}, the game's own rewards (not clipped).") +
            html.table(["frames", "mean", "sd", "min", "max", "games"], rows, [True] * 6)))
    gif = run_dir / "episode.gif"
    if gif.is_file():
        data = base64.b64encode(gif.read_bytes()).decode("ascii")
        body = (f'<img class="pixels" src="data:image/gif;base64,{data}" alt="recorded game" width="320">'
                + (html.paragraph(f"Return {results.get('recorded_return'):g}.")
                   if results.get("recorded_return") is not None else ""))
        if recorded is not None and recorded.q_values:
            body = html.side_by_side(body, html.image(_q_png(recorded.q_values), "Q along the game", "figure"))
        sections.append(Section("game", "Recorded game", body))
    sections.append(Section("network", "Network", _network(record)))
    sections.append(Section("settings", "Settings", html.settings(settings)))
    page = html.page(f"{settings.get('env')}: DQN", f"{run_dir.name} · {record['architecture']['name']}", sections)
    return atomic_write_text(run_dir / "report.html", page)


def _summary(settings: dict[str, Any], record: dict[str, Any], results: dict[str, Any]) -> str:
    if not results:
        return html.paragraph("The run has not finished: no results.json yet.")
    variants = ", ".join(name for name, on in (("Double DQN", settings.get("double")),
                                               ("dueling", settings.get("dueling")),
                                               ("prioritised replay", settings.get("prioritized")),
                                               (f"{settings.get('n_step')}-step returns",
                                                (settings.get("n_step") or 1) > 1)) if on) or "DQN (Mnih et al. 2015)"
    cards = [("final return", f"{results['final_return']:.2f} ± {results['final_return_std']:.2f}", "final"),
             ("best evaluation", f"{results['best_return']:.2f}", "best"),
             ("frames", f"{results['frames']:,}", "frames"),
             ("frames/s", f"{results['frames_per_second']:,.0f}", "fps"),
             ("training time", f"{results['seconds'] / 60:.1f} min", "time"),
             ("replay bytes/transition", f"{results['replay_bytes_per_transition']:,.0f}", "bytes")]
    return html.cards(cards) + html.paragraph(
        f"{variants} on {record['env']}: {len(record['action_names'])} actions "
        f"({', '.join(record['action_names'])}), observations {tuple(record['observation_shape'])} "
        f"({record['history']} frame{'s' if record['history'] > 1 else ''} of {tuple(record['frame_shape'])}), "
        f"{results['episodes']:,} training episodes, {results['updates']:,} updates.")


def _network(record: dict[str, Any]) -> str:
    from striate.models import create

    architecture = record["architecture"]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in architecture["kwargs"].items()}
    return html.layers(create(architecture["name"], **kwargs), f"{architecture['name']}: {{total}} parameters.")


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
