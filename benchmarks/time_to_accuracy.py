"""Time to accuracy: seconds from process start until Fashion-MNIST test accuracy first reaches 90, 91, ... 94%.

For each target striate trains the recipe it ships for it (`configs/speedrun-TT.yaml`, a YAML run config trained on
all 60,000 training images), and the peers from peers.py (an idiomatic PyTorch script and Keras 3 on JAX) train the
same model for the same number of epochs with their own settings (AdamW 3e-3, warm-up + cosine, batch 128, no
augmentation). Every worker runs the whole test set after each epoch and stamps the accuracy with `time.time()`; the
clock starts just before the worker process is spawned, so interpreter start, imports, data loading and the per-epoch
evaluations count for every contender alike. striate's seconds leave out the extra test-set load that only the
benchmark's callback needs (`harness_seconds`). Workers are fresh processes alternated A B C A B C; each cell is the
median over the runs (a run that never reaches the target counts as infinitely slow), or "not reached" with the
median best accuracy.

    python benchmarks/time_to_accuracy.py                          # targets 90 92 93 94, 3 runs each
    python benchmarks/time_to_accuracy.py --targets 90 --runs 5
    python benchmarks/time_to_accuracy.py --targets 93 --runs 3 --peer-runs 1   # long peers once
    python benchmarks/time_to_accuracy.py --device cuda             # striate and the PyTorch peer on the GPU
    python benchmarks/time_to_accuracy.py --targets 90 --runs 1 --epochs 1 --train-size 2000   # smoke test
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
from pathlib import Path

from _common import HERE, machine, markdown_table, median, run_worker, save

CONFIGS = HERE.parent / "configs"
TARGETS = (90, 91, 92, 93, 94)
PEERS = {"pytorch": ("pytorch", {}), "keras-jax": ("keras", {"KERAS_BACKEND": "jax"})}
PEER_MODELS = ("lenet5", "convnet", "resnet20")  # what peers.py writes out by hand


def recipe_path(target: int) -> Path:
    return CONFIGS / f"speedrun-{target}.yaml"


def plan(targets: list[int], peers: list[str], args: argparse.Namespace) -> tuple[dict, dict]:
    """The contenders to run ({label: (peers.py args, env)}) and, per target, which labels compete for it."""
    from striate.config import load_config

    contenders: dict[str, tuple[list[str], dict]] = {}
    per_target: dict[int, dict[str, str]] = {}
    subset = ["--train-size", str(args.train_size)] if args.train_size else []
    for target in targets:
        cfg = load_config(recipe_path(target))
        label = f"striate {recipe_path(target).stem}"
        contenders[label] = (["striate", cfg.model, "--config", str(recipe_path(target)), "--eval-each-epoch",
                              "--device", args.device, *subset, *(["--epochs", str(args.epochs)] if args.epochs
                                                                 else [])], {})
        per_target[target] = {"striate": label}
        if cfg.model not in PEER_MODELS:
            print(f"  no peers for {label}: peers.py does not write out {cfg.model!r}", flush=True)
            continue
        shape = "-".join(str(w) for w in cfg.model_args.get("widths", ()))
        for peer in peers:
            kind, env = PEERS[peer]
            epochs = args.epochs or cfg.epochs
            peer_label = f"{peer} ({cfg.model}{'-' + shape if shape else ''}, {epochs} ep)"
            peer_args = [kind, cfg.model, "--eval-each-epoch", "--epochs", str(epochs), *subset]
            peer_args += ["--model-args", json.dumps(cfg.model_args)] if cfg.model_args else []
            peer_args += ["--workers", str(args.workers), "--device", args.device] if kind == "pytorch" else []
            contenders[peer_label] = (peer_args, env)
            per_target[target][peer] = peer_label
    return contenders, per_target


def measure(contenders: dict, runs: int, timeout: float, peer_runs: int | None = None) -> dict[str, list[dict]]:
    """Each contender `runs` times (peers `peer_runs` times), alternated A B C A B C."""
    results: dict[str, list[dict]] = {label: [] for label in contenders}
    for run_index in range(runs):
        for label, (args, env) in contenders.items():  # alternated within each run
            if not label.startswith("striate ") and peer_runs is not None and run_index >= peer_runs:
                continue
            try:
                outcome = run_worker(args, env=env, timeout=timeout)
            except RuntimeError as error:
                print(f"  run {run_index + 1} {label} failed: {str(error).splitlines()[1:2]}", flush=True)
                continue
            offset = outcome["process_start"] + outcome.get("harness_seconds", 0.0)
            outcome["curve"] = [(e["epoch"], e["time"] - offset, e["test_accuracy"]) for e in outcome["epoch_evals"]]
            results[label].append(outcome)
            last = outcome["curve"][-1] if outcome["curve"] else (0, float("nan"), float("nan"))
            print(f"  run {run_index + 1} {label:34s} epoch {last[0]} at {last[1]:7.1f} s: acc {last[2]:.4f} "
                  f"(best {best_accuracy(outcome):.4f}, device {outcome.get('device')})", flush=True)
    return results


def best_accuracy(outcome: dict) -> float:
    return max((acc for _, _, acc in outcome["curve"]), default=float("nan"))


def first_reach(outcome: dict, target: int) -> float:
    """Seconds since process start at the first evaluation with accuracy >= target %, or inf."""
    return next((seconds for _, seconds, acc in outcome["curve"] if acc >= target / 100), math.inf)


def summary(outcomes: list[dict], target: int) -> dict:
    times = [first_reach(o, target) for o in outcomes]
    return {"seconds": median(times), "reached": sum(math.isfinite(t) for t in times), "runs": len(times),
            "best_accuracy": median(best_accuracy(o) for o in outcomes), "times": times}


def cell(stats: dict) -> str:
    if not stats["runs"]:
        return "failed"
    if not math.isfinite(stats["seconds"]):
        return f"not reached (best {stats['best_accuracy']:.2%})"
    partial = f" ({stats['reached']}/{stats['runs']} runs)" if stats["reached"] < stats["runs"] else ""
    return f"{stats['seconds']:.1f}{partial}"


def ratio(peer: dict, ours: dict) -> str:
    if not (peer["runs"] and ours["runs"]) or not math.isfinite(ours["seconds"]):
        return "n/a"
    return f"{peer['seconds'] / ours['seconds']:.2f}" if math.isfinite(peer["seconds"]) else "inf"


def target_table(results: dict, per_target: dict, peers: list[str]) -> str:
    """Per target: the recipe shipped for it, each peer and peer/striate, and the fastest striate recipe run."""
    recipes = [label for label in results if label.startswith("striate ")]
    rows = []
    for target, labels in per_target.items():
        ours = summary(results[labels["striate"]], target)
        row = [f"{target}%", labels["striate"].removeprefix("striate "), cell(ours)]
        for peer in peers:
            theirs = summary(results[labels[peer]], target) if peer in labels else None
            row += [cell(theirs), ratio(theirs, ours)] if theirs else ["-", "-"]
        fastest = min(recipes, key=lambda label: summary(results[label], target)["seconds"] if results[label]
                      else math.inf)
        best = summary(results[fastest], target)
        row.append(f"{cell(best)} ({fastest.removeprefix('striate ')})" if math.isfinite(best["seconds"]) else "-")
        rows.append(row)
    headers = ["target", "striate recipe", "striate s"]
    for peer in peers:
        headers += [f"{peer} s", f"{peer} s / striate s"]
    return markdown_table([*headers, "fastest striate recipe s"], rows)


def grid_table(results: dict, targets: list[int]) -> str:
    """Every contender against every target, with its final accuracy and process seconds."""
    rows = []
    for label, outcomes in results.items():
        if not outcomes:
            rows.append([label, *("failed" for _ in targets), "-", "-"])
            continue
        rows.append([label, *(cell(summary(outcomes, t)) for t in targets),
                     f"{median(o['curve'][-1][2] for o in outcomes if o['curve']):.4f}",
                     f"{median(o['process_seconds'] for o in outcomes):.1f}"])
    return markdown_table(["contender", *(f"to {t}% (s)" for t in targets), "final acc", "process s"], rows)


def available(peer: str) -> bool:
    kind, env = PEERS[peer]
    return kind != "keras" or all(importlib.util.find_spec(m) is not None for m in ("keras", env["KERAS_BACKEND"]))


def resolve_device(name: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=list(TARGETS),
                        help="accuracy targets in %%; each needs configs/speedrun-TT.yaml")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--runs", type=int, default=3, help="runs per contender (median)")
    parser.add_argument("--peer-runs", type=int, default=None, help="runs per peer (default: --runs)")
    parser.add_argument("--device", default="auto", help="striate's `device` and the PyTorch peer's: auto, cpu, cuda")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the PyTorch peer")
    parser.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs (smoke tests)")
    parser.add_argument("--train-size", type=int, default=None, help="train on a subset (smoke tests only)")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds per worker process")
    args = parser.parse_args()
    missing = [t for t in args.targets if not recipe_path(t).is_file()]
    if missing:
        parser.error(f"no recipe for target(s) {missing}: expected {recipe_path(missing[0])}")
    args.device = resolve_device(args.device)
    peers = [p for p in args.peers if available(p)]
    info = machine()
    print(f"machine: {info}" + (f"\nskipped (not installed): {sorted(set(args.peers) - set(peers))}"
                                if set(args.peers) - set(peers) else ""), flush=True)
    if args.train_size or args.epochs:
        print("smoke-test settings (--train-size / --epochs): the seconds are not representative", flush=True)
    contenders, per_target = plan(args.targets, peers, args)
    results = measure(contenders, args.runs, args.timeout, args.peer_runs)
    runs = f"{args.runs} runs" + (f", peers {args.peer_runs}" if args.peer_runs is not None else "")
    text = (target_table(results, per_target, peers) + "\n\nEvery contender against every target (median of "
            f"{runs}, seconds since process start):\n\n" + grid_table(results, args.targets))
    print("\n" + text)
    path = save("time_to_accuracy", {"args": vars(args), "machine": info, "per_target": per_target,
                                     "results": results, "table": text})
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
