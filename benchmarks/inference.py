"""Inference speed: images/s of striate models at batch 1 and 256, PyTorch eager, torch.compile and ONNX Runtime.

For each model (freshly initialised zoo models with --models, trained run folders with --runs) a fresh worker process
measures: PyTorch eager under `torch.inference_mode`, in the default (contiguous) layout and in channels_last;
`torch.compile` (inductor, static shapes; its compile seconds, first call included, are reported apart from the speed,
and the row says when compiling does not beat the better eager layout); and ONNX Runtime on the model exported by
`torch.onnx.export` with a dynamic batch axis (the torch.export-based exporter, or the TorchScript one as a fallback),
after checking that its outputs match eager to 1e-4 on real test images (the max abs difference is printed). Inputs
are Fashion-MNIST test images normalised as striate does. After warm-up each repetition times enough calls to last
about --rep-seconds; the variants alternate within each repetition; figures are medians over the repetitions. Torch
and ONNX Runtime use the same number of threads.

With --engines, each trained run folder of --runs is measured instead through striate's own inference engines
(`--engine torch` and `--engine onnx`, `striate.export`), as `striate predict` and `striate evaluate` use them:
`predict` on one PNG file (latency, ms) and on 256 PNG files (samples/s, decoding included), `predict_proba` on 256
raw test samples, and `evaluate` over the run's whole test split (samples/s); the export the onnx engine runs is made
and checked once, before timing (its seconds are reported apart).

    python benchmarks/inference.py                                   # lenet5, fresh weights
    python benchmarks/inference.py --models lenet5 convnet resnet20 --reps 9
    python benchmarks/inference.py --runs runs/lenet5-fashion-mnist  # a trained run folder
    python benchmarks/inference.py --reps 3 --rep-seconds 0.1 --no-compile   # smoke test
    python benchmarks/inference.py --engines --runs runs/lenet5-fashion-mnist  # striate's engines, predict + evaluate
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, markdown_table, median, run_worker, save

TOLERANCE = 1e-4


# --- worker: runs in its own process -----------------------------------------------------------------------------


def load_target(target: str, batch: int):
    """(model in eval mode, normalised test images `(batch, 1, 28, 28)`, description) for a zoo name or run folder."""
    import torch

    import striate
    from striate.data import load_fashion_mnist
    from striate.models import create

    test = load_fashion_mnist().test
    images = test.x[:batch]
    if Path(target).is_dir():
        run = striate.load(target)
        return run.model.eval(), run.preprocess(images), f"trained run {target} ({run.info['architecture']['name']})"
    torch.manual_seed(0)
    model = create(target, num_classes=10, in_channels=1, input_size=(28, 28)).eval()
    x = (images.float() / 255 - test.mean[0]) / test.std[0]  # (N, 1, 28, 28), striate's normalisation
    return model, x, "fresh weights (seed 0)"


def export_onnx(model, x, path: str) -> dict:
    """Export with a dynamic batch axis: torch.export-based first, the TorchScript exporter if that fails."""
    import torch

    start = time.perf_counter()
    try:
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(model, (x[:2],), path, dynamo=True, input_names=["x"], output_names=["logits"],
                          dynamic_shapes=({0: batch},))
        exporter, error = "dynamo", None
    except Exception as failure:  # onnxscript missing, or an operator the new exporter cannot translate
        error = f"{type(failure).__name__}: {str(failure).splitlines()[0] if str(failure) else ''}"
        torch.onnx.export(model, (x[:2],), path, dynamo=False, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
        exporter = "torchscript"
    return {"exporter": exporter, "export_seconds": time.perf_counter() - start, "dynamo_error": error}


def ort_session(path: str, threads: int, device: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    cuda = device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers()
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
    return ort.InferenceSession(path, options, providers=providers)


def build_variants(model, x, args, workdir: str) -> tuple[dict, dict]:
    """{name: (call, input)} where call(input) -> logits, plus facts about compiling and exporting."""
    import torch

    device = torch.device(args.device)
    cl = torch.channels_last
    model = model.to(device)
    model_cl = copy.deepcopy(model).to(memory_format=cl)
    variants = {"eager": (model, x.to(device)),
                "eager channels_last": (model_cl, x.to(device).contiguous(memory_format=cl))}
    facts: dict = {}
    if args.compile:
        variants["torch.compile"] = (torch.compile(model, dynamic=False, mode=args.compile_mode), x.to(device))
    if args.onnx:
        path = str(Path(workdir) / "model.onnx")
        facts["onnx"] = export_onnx(copy.deepcopy(model).cpu(), x.cpu(), path)
        session = ort_session(path, torch.get_num_threads(), args.device)
        facts["onnx"]["providers"] = session.get_providers()
        name = session.get_inputs()[0].name
        variants["onnxruntime"] = (lambda a: session.run(None, {name: a})[0], x.cpu().numpy())
    return variants, facts


def call(variant, batch: int):
    import torch

    fn, inputs = variant
    with torch.inference_mode():
        out = fn(inputs[:batch])
    if isinstance(out, torch.Tensor) and out.is_cuda:
        torch.cuda.synchronize()  # time the work, not its launch
    return out


def timed(variant, batch: int, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call(variant, batch)
    return time.perf_counter() - start


def parity(variants: dict, batch: int) -> dict[str, float]:
    """Max abs difference of each variant's logits from eager's on the same images."""
    import numpy as np

    reference = call(variants["eager"], batch).float().cpu().numpy()
    diffs = {}
    for name, variant in variants.items():
        out = call(variant, batch)
        out = out if isinstance(out, np.ndarray) else out.float().cpu().numpy()
        diffs[name] = float(np.abs(out - reference).max())
    return diffs


def engine_worker(args: argparse.Namespace) -> dict:
    """Seconds per call of predict and evaluate through each engine (repetitions alternate the engines)."""
    import torch
    from PIL import Image

    import striate
    from striate.evaluate import evaluate_run
    from striate.export import OnnxEngine, TorchEngine, export_run, sample_inputs

    run = striate.load(args.worker)
    start = time.perf_counter()
    exported = export_run(run, dynamic_batch=True, write=False)
    export_seconds = time.perf_counter() - start
    engines = {"torch": TorchEngine(run), "onnx": OnnxEngine(run, exported.model)}
    x = sample_inputs(run, 256)
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index, image in enumerate(x):
            files.append(Path(folder) / f"{index}.png")
            Image.fromarray(image.numpy().transpose(1, 2, 0).squeeze(-1)).save(files[-1])
        tasks = {"predict 1 file": (lambda: run.predict(files[:1]), 1),
                 "predict 256 files": (lambda: run.predict(files), len(files)),
                 "predict_proba 256 samples": (lambda: run.predict_proba(x), len(x)),
                 "evaluate test split": (lambda: evaluate_run(run, engine=run.engine), None)}
        examples = len(sample_inputs(run, 10**9))
        seconds = {name: {engine: [] for engine in engines} for name in tasks}
        for _ in range(args.reps + 1):  # the first repetition warms up
            for name, (call, _) in tasks.items():
                for engine_name, engine in engines.items():
                    run.__dict__["engine"] = engine
                    start = time.perf_counter()
                    call()
                    seconds[name][engine_name].append(time.perf_counter() - start)
    samples = {name: count or examples for name, (_, count) in tasks.items()}
    return {"model": args.worker, "source": f"trained run {args.worker} ({run.info['architecture']['name']})",
            "threads": torch.get_num_threads(), "export_seconds": export_seconds, "check": exported.check.lines(),
            "samples": samples, "seconds": {n: {e: v[1:] for e, v in by.items()} for n, by in seconds.items()}}


def engine_rows(result: dict) -> list[list]:
    rows = []
    for name, by_engine in result["seconds"].items():
        torch_s, onnx_s = median(by_engine["torch"]), median(by_engine["onnx"])
        count = result["samples"][name]
        rates = [f"{s * 1000:.2f} ms" if count == 1 else f"{count / s:,.0f} samples/s" for s in (torch_s, onnx_s)]
        rows.append([f"run {Path(result['model']).name}", name, count, *rates, f"{torch_s / onnx_s:.2f}"])
    return rows


def worker(args: argparse.Namespace) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.engines:
        return engine_worker(args)
    model, x, source = load_target(args.worker, max(args.batch_sizes))
    with tempfile.TemporaryDirectory() as workdir:
        variants, facts = build_variants(model, x, args, workdir)
        facts["compile_seconds"] = {}
        for batch in args.batch_sizes:  # warm-up; the first compiled call per shape is the compilation
            for name, variant in variants.items():
                start = time.perf_counter()
                call(variant, batch)
                if name == "torch.compile":
                    facts["compile_seconds"][batch] = time.perf_counter() - start
                for _ in range(3):
                    call(variant, batch)
        facts["max_abs_diff"] = {batch: parity(variants, batch) for batch in args.batch_sizes}
        speeds = measure_speeds(variants, args)
    return {"model": args.worker, "source": source, "parameters": sum(p.numel() for p in model.parameters()),
            "threads": torch.get_num_threads(), "device": args.device, "speeds": speeds, **facts}


def measure_speeds(variants: dict, args: argparse.Namespace) -> dict[str, dict[int, list[float]]]:
    """Images/s per repetition; each repetition runs every (variant, batch) once, in turn."""
    calls = {}
    for name, variant in variants.items():
        for batch in args.batch_sizes:
            once = timed(variant, batch, 3) / 3
            calls[name, batch] = max(1, round(args.rep_seconds / max(once, 1e-7)))
    speeds: dict[str, dict[int, list[float]]] = {name: {b: [] for b in args.batch_sizes} for name in variants}
    for _ in range(args.reps):
        for (name, batch), count in calls.items():
            speeds[name][batch].append(count * batch / timed(variants[name], batch, count))
    return speeds


# --- orchestrator --------------------------------------------------------------------------------------------------


def rows_for(result: dict) -> list[list]:
    rows = []
    label = result["model"] if result["source"].startswith("fresh") else f"run {Path(result['model']).name}"
    for batch in map(int, result["speeds"]["eager"]):
        speed = {name: median(by_batch[str(batch)]) for name, by_batch in result["speeds"].items()}
        best_eager = max(speed["eager"], speed["eager channels_last"])
        for name, value in speed.items():
            rows.append([label, batch, name, f"{value:,.0f}", f"{value / speed['eager']:.2f}",
                         note(result, name, batch, value / best_eager)])
    return rows


def note(result: dict, name: str, batch: int, vs_best_eager: float) -> str:
    diff = result["max_abs_diff"][str(batch)][name]
    if name == "torch.compile":
        verdict = "does not help" if vs_best_eager < 1.05 else "helps"
        return (f"compile {result['compile_seconds'][str(batch)]:.1f} s; {verdict} ({vs_best_eager:.2f}x best "
                f"eager); max abs diff {diff:.1e}")
    if name == "onnxruntime":
        onnx = result["onnx"]
        return (f"{onnx['exporter']} export {onnx['export_seconds']:.1f} s; max abs diff {diff:.1e} "
                f"({'within' if diff <= TOLERANCE else 'EXCEEDS'} {TOLERANCE:g})")
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None,
                        help="zoo models, freshly initialised (default: lenet5, unless --runs are given)")
    parser.add_argument("--runs", nargs="*", default=[], help="trained run folders (striate train)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions (median)")
    parser.add_argument("--rep-seconds", type=float, default=0.5, help="length of one repetition per variant")
    parser.add_argument("--threads", type=int, default=None, help="torch and ONNX Runtime threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (ONNX Runtime needs its CUDA provider)")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    parser.add_argument("--no-onnx", dest="onnx", action="store_false", help="skip the ONNX export")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per worker process")
    parser.add_argument("--engines", action="store_true", help="striate's torch and onnx engines on the --runs: "
                                                               "predict and evaluate side by side")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    info = machine()
    print(f"machine: {info}", flush=True)
    forwarded = [*sys.argv[1:]]
    results, rows = [], []
    models = args.models if args.models is not None else ([] if args.runs else ["lenet5"])
    if args.engines:
        models = []
    for target in [*models, *args.runs]:
        try:
            result = run_worker(["--worker", target, *forwarded], timeout=args.timeout, script="inference.py")
        except RuntimeError as error:
            print(f"  {target} failed: {str(error).splitlines()[1:2]}", flush=True)
            continue
        results.append(result)
        if args.engines:
            rows += engine_rows(result)
            print(f"  {target}: {result['source']}, {result['threads']} threads, export and check "
                  f"{result['export_seconds']:.1f} s; " + "; ".join(result["check"]), flush=True)
            continue
        rows += rows_for(result)
        print(f"  {target}: {result['source']}, {result['parameters']:,} parameters, {result['threads']} threads"
              + (f", ONNX via {result['onnx']['exporter']} on {result['onnx']['providers'][0]}" if "onnx" in result
                 else ""), flush=True)
    headers = (["run", "command", "samples", "--engine torch", "--engine onnx", "onnx vs torch"] if args.engines
               else ["model", "batch", "backend", "images/s", "vs eager", "notes"])
    text = markdown_table(headers, rows)
    print("\n" + text)
    payload = {"args": vars(args), "machine": info, "results": results, "table": text}
    path = save("inference-engines" if args.engines else "inference", payload)
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
