"""The article's "over 100 layers": CIFAR-style ResNet-110 (He et al. 2015) trained on Fashion-MNIST with striate.

On two CPU cores a full 60,000-image epoch of ResNet-110 takes a long time, so by default it trains on a seeded
subset; pass --train-size 60000 on a bigger machine or a GPU (--device cuda).

    python benchmarks/resnet110.py                           # 8,000 images, 3 epochs
    python benchmarks/resnet110.py --train-size 60000 --epochs 10 --device cuda
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch.nn as nn

import striate
from _common import machine, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet110")
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        run = striate.train(model=args.model, epochs=args.epochs, batch_size=args.batch_size, device=args.device,
                            train_size=args.train_size, val_split=0.0, out=out)
        history = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    weighted = sum(1 for m in run.model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))  # 109 conv + 1 FC
    result = {"model": args.model, "weight_layers": weighted, "parameters": run.results["parameters"],
              "train_images": run.results["train_examples"], "epochs": args.epochs,
              "test_accuracy": run.results["test_accuracy"], "wall_seconds": time.perf_counter() - start,
              "train_loss_per_epoch": [row["train_loss"] for row in history], "machine": machine()}
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"saved {save(args.model, result)}")


if __name__ == "__main__":
    main()
