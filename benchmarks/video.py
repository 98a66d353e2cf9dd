"""Video benchmark: moving Fashion-MNIST items, and in-memory against streamed clips.

1. Accuracy: C3D, CNN+LSTM and the two-stream network trained on `moving-fashion` labelled by item class (10 classes,
   chance 0.10) and by direction of motion (4 classes, chance 0.25; a model blind to frame order stays at chance).
2. Input modes: the same clips written as MPEG-4 files, read by `clips:DIR?mode=memory` (decoded once, held as a
   tensor) and `mode=stream` (decoded per batch, a background thread one batch ahead): training clips/s and the
   process's peak resident memory, each mode in a fresh process.

    python benchmarks/video.py                      # full: 2,000 clips, 3 epochs
    python benchmarks/video.py --size 600 --epochs 2 --stream-clips 300   # a few minutes on 2 CPU cores

Results go to benchmarks/results/video.json and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, markdown_table, run_worker, save

MODELS = {"c3d": {"hidden": 256}, "cnn_lstm": {"widths": [16, 32, 64], "hidden_size": 64},
          "two_stream": {"widths": [16, 32, 64], "fusion": "concat"}}
CHANCE = {"class": 0.10, "direction": 0.25}


def accuracy_rows(size: int, epochs: int, models: list[str]) -> list[dict]:
    import striate

    rows = []
    for model in models:
        for labels in ("class", "direction"):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                run = striate.train(data=f"moving-fashion?labels={labels}&size={size}", model=model, epochs=epochs,
                                    batch_size=32, lr=0.003 if model == "c3d" else 0.01, model_args=MODELS[model],
                                    val_split=0.0, out=out, quiet=True, seed=0)
                rows.append({"model": model, "labels": labels, "test_accuracy": run.results["test_accuracy"],
                             "chance": CHANCE[labels], "parameters": run.results["parameters"],
                             "seconds": time.perf_counter() - start})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def write_videos(folder: Path, clips: int) -> None:
    """Moving-fashion clips (direction labels) at 3x16x64x64 as MPEG-4 files, one sub-folder per direction."""
    import av
    import torch

    from striate.data.clips import DIRECTIONS, moving_items
    from striate.data.sources import load_fashion_mnist

    images = load_fashion_mnist().train.x[:2000]
    x, _, directions, _ = moving_items(images, clips, 16, 64, torch.Generator().manual_seed(0))
    for name in DIRECTIONS:
        (folder / name).mkdir(parents=True)
    for i, (clip, direction) in enumerate(zip(x, directions, strict=True)):
        frames = clip[0].numpy()  # (T, H, W)
        with av.open(str(folder / DIRECTIONS[int(direction)] / f"{i}.mp4"), "w") as container:
            stream = container.add_stream("mpeg4", rate=16)
            stream.height, stream.width, stream.pix_fmt = 64, 64, "yuv420p"
            for frame in frames:
                rgb = frame[:, :, None].repeat(3, axis=2)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            container.mux(stream.encode())


def mode_worker(folder: str, mode: str, epochs: int) -> None:
    """One training run on the video folder in `mode`; prints clips/s and peak memory as a JSON line."""
    import striate

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run = striate.train(data=f"clips:{folder}?mode={mode}", model="cnn_lstm", epochs=epochs, batch_size=32,
                            model_args=MODELS["cnn_lstm"], val_split=0.0, out=out, quiet=True, seed=0)
        rates = [json.loads(line).get("train_samples_per_second") for line in
                 (Path(run.path) / "metrics.jsonl").read_text().splitlines()]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux -> MB
    print(json.dumps({"mode": mode, "train_clips_per_second": max(filter(None, rates)), "peak_rss_mb": peak,
                      "test_accuracy": run.results["test_accuracy"], "seconds": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000, help="moving-fashion training clips")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--stream-clips", type=int, default=800, help="video files for the input-mode comparison")
    parser.add_argument("--worker", nargs=3, metavar=("FOLDER", "MODE", "EPOCHS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return mode_worker(args.worker[0], args.worker[1], int(args.worker[2]))
    accuracy = accuracy_rows(args.size, args.epochs, args.models)
    with tempfile.TemporaryDirectory() as tmp:
        write_videos(Path(tmp), args.stream_clips)
        modes = [run_worker(["--worker", tmp, mode, "1"], script="video.py") for mode in ("memory", "stream")]
    save("video", {"machine": machine(), "size": args.size, "epochs": args.epochs, "accuracy": accuracy,
                   "modes": modes})
    print(markdown_table(["model", "labels", "test accuracy", "chance", "parameters", "seconds"],
                         [[r["model"], r["labels"], f"{r['test_accuracy']:.3f}", f"{r['chance']:.2f}",
                           f"{r['parameters']:,}", f"{r['seconds']:.0f}"] for r in accuracy]))
    print()
    print(markdown_table(["input mode", "training clips/s", "peak RSS (MB)", "seconds"],
                         [[m["mode"], f"{m['train_clips_per_second']:.0f}", f"{m['peak_rss_mb']:.0f}",
                           f"{m['seconds']:.0f}"] for m in modes]))


if __name__ == "__main__":
    main()
