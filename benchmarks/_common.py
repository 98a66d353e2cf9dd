"""Shared plumbing for the benchmarks: run a contender in a fresh process, summarise, print and save tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def run_worker(args: list[str], env: dict[str, str] | None = None, timeout: float = 3600,
               script: str = "peers.py") -> dict:
    """Run `python benchmarks/SCRIPT ARGS` in a fresh process; returns its JSON line plus wall seconds.

    `process_start` is the absolute `time.time()` just before the process is spawned, so stamps the worker takes
    with `time.time()` convert to seconds since process start (time_to_accuracy.py).
    """
    process_start, start = time.time(), time.perf_counter()
    process = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True,
                             env={**os.environ, **(env or {})}, timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"worker {' '.join(args)} failed:\n{process.stderr[-3000:]}")
    result = json.loads(process.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    result["process_start"] = process_start
    return result


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def machine() -> dict:
    import torch

    return {"cpu": _cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
