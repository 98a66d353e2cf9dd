"""Serving under load: `striate serve` (each engine, with and without dynamic batching) against the FastAPI + PyTorch
handler a user would otherwise write, on loopback, with a fixed number of requests from a fixed number of clients.

    python benchmarks/serve.py [--run RUN] [--requests 2000] [--clients 1 16]

Each server runs in its own process with no access log; each configuration gets 100 warm-up requests, then single
Fashion-MNIST test images as multipart uploads (the page's and curl's way). Reported: requests/s, p50 and p99 latency
of the valid requests, inputs per forward pass, errors, and the server's resident memory before and after. A last run
mixes 20% malformed requests (undecodable images, wrong shapes, broken JSON, wrong media types, too many inputs) into
the heaviest load: every malformed one must get a 4xx and every valid one its right answer.

Without `--run`, LeNet-5 is trained on Fashion-MNIST for 3 epochs first (about 2 minutes on two cores).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from fastapi import FastAPI, File, UploadFile

import striate
from striate.serve.loadtest import Body, malformed_bodies, multipart, png, run_load, start_server, stop_server

FASHION = Path("/usr/share/datasets/fashion-mnist")


def stats(url: str) -> dict:
    connection = http.client.HTTPConnection(*url.removeprefix("http://").split(":"), timeout=5)
    connection.request("GET", "/v1/stats")
    response = connection.getresponse()
    return json.loads(response.read()) if response.status == 200 else {}


def test_images(count: int) -> list[np.ndarray]:
    with gzip.open(FASHION / "t10k-images-idx3-ubyte.gz", "rb") as handle:
        return list(np.frombuffer(handle.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:count])


# --- the server a user would otherwise write ------------------------------------------------------------------------


def baseline_app(run_path: str):
    """A plain FastAPI endpoint around the PyTorch model: decode with Pillow, run the model in the handler (a sync
    endpoint, so Starlette runs it on its thread pool), return the top 5."""
    import torch
    from PIL import Image

    run = striate.load(run_path)
    model, classes = run.pipeline.eval(), run.classes
    app = FastAPI()

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/v1/predict")
    def predict(files: list[UploadFile] = File(...)):  # noqa: B008 (FastAPI's way)
        x = torch.stack([torch.from_numpy(np.array(Image.open(f.file).convert("L").resize((28, 28))))[None]
                         for f in files])
        with torch.inference_mode():
            p = model(x).softmax(1)
        values, indices = p.topk(5)
        return {"predictions": [{"top": [{"label": classes[i], "probability": float(v)}
                                         for v, i in zip(vs.tolist(), ix.tolist(), strict=True)]}
                                for vs, ix in zip(values, indices, strict=True)]}

    return app


# --- the benchmark --------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="a Fashion-MNIST image run [trains LeNet-5 for 3 epochs]")
    parser.add_argument("--requests", type=int, default=2000, help="requests per configuration and load")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16], help="concurrent clients")
    parser.add_argument("--baseline-server", metavar="RUN", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        import uvicorn

        uvicorn.run(baseline_app(args.baseline_server), host="127.0.0.1", port=args.port, access_log=False,
                    log_level="warning")
        return
    run_path = args.run or str(striate.train(model="lenet5", epochs=3, out=tempfile.mkdtemp(), quiet=True).path)
    run = striate.load(run_path)
    images = test_images(64)
    from PIL import Image

    tops = [p["top"][0][0] for p in run.predict([Image.fromarray(image) for image in images], top_k=1)]
    valid = [Body(*multipart([(f"{i}.png", png(image))]), top=top) for i, (image, top) in
             enumerate(zip(images, tops, strict=True))]
    python = sys.executable
    configurations = {  # each command takes `--port PORT` last (`start_server` adds it)
        "FastAPI + PyTorch handler (baseline)": [python, __file__, "--baseline-server", run_path],
        **{f"striate serve, {engine}, {'batching' if batching else 'no batching'}": [
            python, "-m", "striate", "serve", run_path, "--engine", engine, "--no-access-log",
            *([] if batching else ["--max-batch", "1"])]
           for engine in ("torch", "onnx") for batching in (False, True)},
    }
    print(f"run {run_path}: {run.info['architecture']['name']}, {os.cpu_count()} cores, {args.requests} requests "
          f"per row, single-image multipart uploads", flush=True)
    print("| server | clients | requests/s | p50 ms | p99 ms | inputs/pass | errors | RSS MiB before -> after |")
    print("|---|---|---|---|---|---|---|---|")
    Path("/tmp/QUIET").touch()
    try:
        for name, argv in configurations.items():
            process, url = start_server(argv=argv, timeout=120)
            try:
                run_load(url, valid, requests=100, clients=4)  # warm-up
                for clients in args.clients:
                    before = stats(url)
                    result = run_load(url, valid, requests=args.requests, clients=clients,
                                      pid=process.pid)
                    after = stats(url)
                    per_pass = ((after["inputs"] - before["inputs"]) / max(1, after["passes"] - before["passes"])
                                if after else float("nan"))
                    rss = f"{result.rss_mb[0]:.0f} -> {result.rss_mb[1]:.0f}"
                    print(f"| {name} | {clients} | {result.per_second:,.0f} | {result.percentile(50):.2f} | "
                          f"{result.percentile(99):.2f} | {per_pass:.1f} | {len(result.wrong)} | {rss} |", flush=True)
                if name == "striate serve, onnx, batching":
                    mixed = run_load(url, valid, malformed_bodies((1, 28, 28), 64),
                                     requests=args.requests, clients=max(args.clients), malformed_share=0.2,
                                     pid=process.pid)
                    refused = sum(n for status, n in mixed.statuses.items() if 400 <= status < 500)
                    print(f"\nwith 20% malformed ({mixed.malformed} of {mixed.requests}, {max(args.clients)} clients):"
                          f" {refused} answered 4xx, {mixed.statuses[200]} valid answered 200, "
                          f"{len(mixed.wrong)} wrong answers; {mixed.per_second:,.0f} requests/s, p99 of the valid "
                          f"{mixed.percentile(99):.2f} ms; statuses {dict(sorted(mixed.statuses.items()))}\n",
                          flush=True)
            finally:
                stop_server(process)
    finally:
        Path("/tmp/QUIET").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
