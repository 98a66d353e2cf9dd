"""What a user would otherwise write: an idiomatic PyTorch tutorial pipeline and Keras 3 `fit`, plus striate itself.

Each `run_*` function trains one model on Fashion-MNIST in the current process and returns a dict of measurements
(per-epoch seconds, evaluation images/s, final test accuracy). The benchmarks call them in fresh subprocesses
(`python benchmarks/peers.py CONTENDER MODEL ...`), so every contender starts cold and peak memory is its own.

With `--eval-each-epoch` every contender also runs the test set after each epoch and records
`epoch_evals = [{"epoch", "time" (absolute time.time()), "test_accuracy"}]` (time_to_accuracy.py). striate always
records `epoch_stats = [{"epoch", "time", "rss_mb", "hwm_mb"}]` at each epoch end through a Callback (scaling.py),
and with `--config configs/speedrun-90.yaml` it trains a shipped recipe instead of the throughput settings.

The three architectures are written out here for each framework, as a user would, and match striate's zoo models
layer for layer (same parameter counts; every result reports its `parameters` so a mismatch shows).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

FASHION = Path(os.environ.get("STRIATE_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
MEAN, STD = 0.2860, 0.3530
MODELS = ("lenet5", "convnet", "resnet20")


def read_fashion(train_size: int | None = None):
    """The four IDX files as numpy arrays, read the way a tutorial would (gzip + frombuffer)."""
    def read(name: str, offset: int) -> np.ndarray:
        with gzip.open(FASHION / name, "rb") as handle:
            return np.frombuffer(handle.read(), np.uint8, offset=offset)

    x = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    y = read("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    tx = read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    ty = read("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return (x[:train_size], y[:train_size], tx, ty) if train_size else (x, y, tx, ty)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def memory_mb() -> dict[str, float]:
    """Resident memory now (VmRSS) and its high-water mark so far (VmHWM); the peak for both without /proc."""
    found = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            field, _, value = line.partition(":")
            if field in ("VmRSS", "VmHWM"):
                found[field] = int(value.split()[0]) / 1024  # kB
    except OSError:
        pass
    return {"rss_mb": found.get("VmRSS", peak_rss_mb()), "hwm_mb": found.get("VmHWM", peak_rss_mb())}


def eval_record(epoch: int, accuracy: float) -> dict:
    return {"epoch": epoch, "time": time.time(), "test_accuracy": accuracy}


def cosine_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


# --- idiomatic PyTorch -------------------------------------------------------------------------------------------


CONVNET = {"widths": (32, 64, 128), "depth": 2, "head": "avg", "hidden": 0, "dropout": 0.1, "pool_first": False}


def convnet_args(model_args: dict | None) -> dict:
    """striate's convnet `model_args` (widths, depth, head, hidden, dropout) with its defaults filled in."""
    unknown = set(model_args or {}) - set(CONVNET)
    if unknown:
        raise SystemExit(f"peers.py writes out convnet arguments {sorted(CONVNET)}; received {sorted(unknown)}")
    return {**CONVNET, **(model_args or {})}


def torch_model(name: str, model_args: dict | None = None):
    """`model_args` are the convnet's (striate's `model_args: {widths: [...], depth: 1, head: flatten, ...}`)."""
    import torch.nn as nn
    import torch.nn.functional as F

    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                             nn.ReLU(), nn.Linear(84, 10))
    if name == "convnet":
        arch = convnet_args(model_args)
        layers, cin, size = [], 1, 28
        for stage, width in enumerate(arch["widths"]):
            pooled = stage < len(arch["widths"]) - 1 or arch["head"] == "flatten"
            for index in range(arch["depth"]):
                layers.append(nn.Conv2d(cin, width, 3, padding=1, bias=False))
                if arch["pool_first"] and pooled and index == arch["depth"] - 1:
                    layers.append(nn.MaxPool2d(2))  # conv-pool-norm-act
                layers += [nn.BatchNorm2d(width), nn.ReLU()]
                cin = width
            if pooled and not arch["pool_first"]:
                layers.append(nn.MaxPool2d(2))
            size //= 2 if pooled else 1
        if arch["head"] == "avg":
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            features = cin
        else:
            layers.append(nn.Flatten())
            features = cin * size * size
        if arch["hidden"]:
            layers += [nn.Linear(features, arch["hidden"]), nn.ReLU()]
            features = arch["hidden"]
        return nn.Sequential(*layers, nn.Dropout(arch["dropout"]), nn.Linear(features, 10))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.stride, self.extra = stride, cout - cin

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            shortcut = x
            if self.stride != 1 or self.extra:  # option A: subsample and zero-pad the channels
                shortcut = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, 0, self.extra))
            return F.relu(out + shortcut)

    layers, cin = [nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for stage, width in enumerate((16, 32, 64)):
        for index in range(3):
            layers.append(Block(cin, width, 2 if stage > 0 and index == 0 else 1))
            cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def torch_accuracy(model, loader, device: str = "cpu") -> float:
    import torch

    model.eval()
    correct = total = 0
    with torch.no_grad():
        for inputs, targets in loader:
            correct += (model(inputs.to(device)).argmax(1).cpu() == targets).sum().item()
            total += len(targets)
    return correct / total


def run_pytorch(model_name: str, epochs: int, batch_size: int, lr: float, workers: int,
                train_size: int | None = None, *, device: str = "cpu", eval_each_epoch: bool = False,
                model_args: dict | None = None) -> dict:
    """A tutorial pipeline: a map-style Dataset that builds one normalised sample at a time (through PIL, as
    torchvision's FashionMNIST + ToTensor + Normalize do), a shuffling DataLoader, and the standard loop.
    `eval_each_epoch` runs the test loader after every epoch (not counted in `epoch_seconds`)."""
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    class FashionMNIST(Dataset):
        def __init__(self, images, labels):
            self.images, self.labels = images, labels

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, index):
            image = Image.fromarray(self.images[index], mode="L")
            x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).unsqueeze(0)  # ToTensor: (1, 28, 28)
            return (x - MEAN) / STD, int(self.labels[index])  # Normalize

    torch.manual_seed(0)
    x, y, tx, ty = read_fashion(train_size)
    train = DataLoader(FashionMNIST(x, y), batch_size=batch_size, shuffle=True, num_workers=workers)
    test = DataLoader(FashionMNIST(tx, ty), batch_size=1000, num_workers=workers)
    model = torch_model(model_name, model_args).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    total = epochs * len(train)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_factor(s, total, int(0.2 * total)))
    criterion = torch.nn.CrossEntropyLoss()
    epoch_seconds, epoch_evals = [], []
    for epoch in range(epochs):
        model.train()
        start = time.perf_counter()
        for inputs, targets in train:
            optimizer.zero_grad()
            loss = criterion(model(inputs.to(device)), targets.to(device))
            loss.backward()
            optimizer.step()
            scheduler.step()
        if device != "cpu":
            torch.cuda.synchronize()  # the epoch is over when the device has finished it
        epoch_seconds.append(time.perf_counter() - start)
        if eval_each_epoch:
            epoch_evals.append(eval_record(epoch + 1, torch_accuracy(model, test, device)))
    start = time.perf_counter()
    accuracy = torch_accuracy(model, test, device)
    eval_seconds = time.perf_counter() - start
    return {"epoch_seconds": epoch_seconds, "train_images": len(y), "eval_images_per_second": len(ty) / eval_seconds,
            "test_accuracy": accuracy, "parameters": sum(p.numel() for p in model.parameters()),
            "epoch_evals": epoch_evals, "device": device}


# --- Keras 3 -----------------------------------------------------------------------------------------------------


def keras_model(name: str, model_args: dict | None = None):
    import keras
    from keras import layers, ops

    inputs = keras.Input((28, 28, 1))
    if name == "lenet5":
        x = layers.Conv2D(6, 5, padding="same", activation="relu")(inputs)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(16, 5, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(120, activation="relu")(x)
        x = layers.Dense(84, activation="relu")(x)
        return keras.Model(inputs, layers.Dense(10)(x))

    def conv_bn(x, filters, strides=1, relu=True):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(x)
        return layers.ReLU()(x) if relu else x

    if name == "convnet":
        arch, x = convnet_args(model_args), inputs
        for stage, width in enumerate(arch["widths"]):
            pooled = stage < len(arch["widths"]) - 1 or arch["head"] == "flatten"
            for index in range(arch["depth"]):
                if arch["pool_first"] and pooled and index == arch["depth"] - 1:  # conv-pool-norm-act
                    x = layers.MaxPooling2D(2)(layers.Conv2D(width, 3, padding="same", use_bias=False)(x))
                    x = layers.ReLU()(layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(x))
                else:
                    x = conv_bn(x, width)
            if pooled and not arch["pool_first"]:
                x = layers.MaxPooling2D(2)(x)
        x = layers.GlobalAveragePooling2D()(x) if arch["head"] == "avg" else layers.Flatten()(x)
        if arch["hidden"]:
            x = layers.Dense(arch["hidden"], activation="relu")(x)
        x = layers.Dropout(arch["dropout"])(x)
        return keras.Model(inputs, layers.Dense(10)(x))

    x, channels = conv_bn(inputs, 16), 16
    for stage, width in enumerate((16, 32, 64)):
        for index in range(3):
            stride = 2 if stage > 0 and index == 0 else 1
            out = conv_bn(conv_bn(x, width, stride), width, relu=False)
            if stride != 1 or width != channels:  # option A: subsample and zero-pad the channels
                extra = width - channels
                x = layers.Lambda(lambda t, s=stride, e=extra: ops.pad(t[:, ::s, ::s, :], [[0, 0], [0, 0], [0, 0],
                                                                                         [0, e]]))(x)
            x, channels = layers.ReLU()(layers.Add()([out, x])), width
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10)(x))


def run_keras(model_name: str, epochs: int, batch_size: int, lr: float, train_size: int | None = None, *,
              eval_each_epoch: bool = False, model_args: dict | None = None) -> dict:
    """Keras 3 `fit` on normalised float arrays, AdamW with warm-up plus cosine decay, the backend from
    KERAS_BACKEND. `eval_each_epoch` passes the test set as `validation_data`, the idiomatic Keras way."""
    import keras

    keras.utils.set_random_seed(0)
    x, y, tx, ty = read_fashion(train_size)
    x = ((x.astype(np.float32) / 255 - MEAN) / STD)[..., None]  # (N, 28, 28, 1)
    tx = ((tx.astype(np.float32) / 255 - MEAN) / STD)[..., None]
    steps = epochs * math.ceil(len(y) / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps - int(0.2 * steps), warmup_target=lr,
                                                      warmup_steps=int(0.2 * steps))
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=0.05)
    model = keras_model(model_name, model_args)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.seconds = time.perf_counter(), None

        def on_test_begin(self, logs=None):  # fit's validation pass: this epoch's training is over
            if self.seconds is None:  # JAX dispatches asynchronously: wait for the last update to land
                keras.ops.convert_to_numpy(self.model.trainable_variables[-1])
                self.seconds = time.perf_counter() - self.start

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(self.seconds if self.seconds is not None else time.perf_counter() - self.start)
            if logs and "val_accuracy" in logs:
                epoch_evals.append(eval_record(epoch + 1, float(logs["val_accuracy"])))

    epoch_seconds: list[float] = []
    epoch_evals: list[dict] = []
    validation = {"validation_data": (tx, ty), "validation_batch_size": 1000} if eval_each_epoch else {}
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[Timer()], shuffle=True, **validation)
    start = time.perf_counter()
    _, accuracy = model.evaluate(tx, ty, batch_size=1000, verbose=0)
    eval_seconds = time.perf_counter() - start
    return {"epoch_seconds": epoch_seconds, "train_images": len(y), "eval_images_per_second": len(ty) / eval_seconds,
            "test_accuracy": float(accuracy), "parameters": int(model.count_params()), "epoch_evals": epoch_evals,
            "device": keras_device()}


def keras_device() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return str(jax.devices()[0].platform)
    return keras.backend.backend()


# --- striate -----------------------------------------------------------------------------------------------------


def epoch_recorder(test=None, channels_last: bool = True):
    """A striate Callback that records, at each epoch end, the absolute time, the resident memory and (given a test
    `Dataset`) the test accuracy, through `trainer.evaluate` on a `BatchLoader` of batch 1024."""
    from striate.data import BatchLoader
    from striate.train.callbacks import Callback

    class EpochRecorder(Callback):
        def __init__(self):
            self.stats: list[dict] = []
            self.evals: list[dict] = []
            self.loader = None

        def on_train_start(self, trainer) -> None:
            if test is not None:  # copied to the device once, not every epoch
                self.loader = BatchLoader(test, 1024, device=trainer.device, channels_last=channels_last)

        def on_epoch_end(self, trainer, metrics: dict[str, float]) -> None:
            self.stats.append({"epoch": metrics["epoch"], "time": time.time(), **memory_mb()})
            if self.loader is not None:
                accuracy = trainer.evaluate(self.loader)["accuracy"]  # reading it synchronises with the device
                self.evals.append(eval_record(metrics["epoch"], accuracy))

    return EpochRecorder()


def run_striate(model_name: str, epochs: int, batch_size: int, lr: float, train_size: int | None = None,
                **options) -> dict:
    """`striate.train` with the same optimizer, schedule and batch size; its own defaults for everything else."""
    recorder = epoch_recorder()
    result = _striate_job(dict(model=model_name, epochs=epochs, batch_size=batch_size, lr=lr, optimizer="adamw",
                               schedule="cosine", warmup=0.2, val_split=0.0, train_size=train_size, **options),
                          recorder)
    return {**result, "epoch_stats": recorder.stats}


def run_striate_recipe(config: str, train_size: int | None = None, eval_each_epoch: bool = False,
                       **overrides) -> dict:
    """`striate.train(config)`: a shipped recipe (a YAML run config), trained on all training images (no validation
    split). `eval_each_epoch` adds the test accuracy after each epoch; the seconds spent loading the test set for it
    are reported as `harness_seconds`, since striate itself would not spend them."""
    from striate.config import read_yaml_mapping
    from striate.data import load_data

    recipe = read_yaml_mapping(config)
    test, harness = None, 0.0
    if eval_each_epoch:
        start = time.perf_counter()
        test = load_data(recipe.get("data", "fashion-mnist")).test
        harness = time.perf_counter() - start
    recorder = epoch_recorder(test, recipe.get("channels_last", True))
    options = {"val_split": 0.0, "train_size": train_size, **{k: v for k, v in overrides.items() if v is not None}}
    result = _striate_job(options, recorder, config)
    return {**result, "epoch_stats": recorder.stats, "epoch_evals": recorder.evals, "harness_seconds": harness,
            "recipe": recipe}


def _striate_job(options: dict, recorder, config: str | None = None) -> dict:
    import tempfile

    import striate
    from striate.data import load_fashion_mnist

    with tempfile.TemporaryDirectory() as out:
        run = striate.train(config, callbacks=[recorder], out=out, quiet=True, **options)
        rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    test = load_fashion_mnist().test
    start = time.perf_counter()
    run.predict_proba(test.x, batch_size=1000)
    eval_seconds = time.perf_counter() - start
    return {"epoch_seconds": [row["epoch_seconds"] for row in rows], "train_images": run.results["train_examples"],
            "eval_images_per_second": len(test) / eval_seconds, "test_accuracy": run.results["test_accuracy"],
            "parameters": run.results["parameters"], "device": run.results["device"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contender", choices=["striate", "pytorch", "keras"])
    parser.add_argument("model", choices=MODELS)
    parser.add_argument("--epochs", type=int, default=None, help="default 3; with --config: the recipe's")
    parser.add_argument("--batch-size", type=int, default=None, help="default 128; with --config: the recipe's")
    parser.add_argument("--lr", type=float, default=None, help="default 3e-3; with --config: the recipe's")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (pytorch)")
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--options", default="{}", help="JSON of extra striate.train options")
    parser.add_argument("--config", default=None, help="striate: train this YAML run config (a recipe)")
    parser.add_argument("--eval-each-epoch", action="store_true", help="test accuracy and time after each epoch")
    parser.add_argument("--device", default=None, help="pytorch: cpu (default) or cuda; striate: its `device`")
    parser.add_argument("--model-args", default="{}", help="JSON of convnet arguments: widths, depth, head, hidden, "
                        "dropout, pool_first (striate's `model_args`)")
    args = parser.parse_args(argv)
    result = _dispatch(parser, args)
    result["peak_rss_mb"] = peak_rss_mb()
    result.update(_cuda_peak())
    print(json.dumps(result))


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    if args.config:
        from striate.config import read_yaml_mapping

        if args.contender != "striate":
            parser.error(f"--config is a striate recipe; received contender {args.contender!r}")
        recipe_model = read_yaml_mapping(args.config).get("model", "lenet5")
        if recipe_model != args.model:
            parser.error(f"--config {args.config} trains {recipe_model!r}; received model {args.model!r}")
        return run_striate_recipe(args.config, args.train_size, args.eval_each_epoch, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, device=args.device,
                                  **json.loads(args.options))
    common = (args.model, args.epochs or 3, args.batch_size or 128, args.lr or 3e-3)
    model_args = json.loads(args.model_args)
    if args.contender == "pytorch":
        return run_pytorch(*common, workers=args.workers, train_size=args.train_size, device=args.device or "cpu",
                           eval_each_epoch=args.eval_each_epoch, model_args=model_args)
    if args.contender == "keras":
        return run_keras(*common, train_size=args.train_size, eval_each_epoch=args.eval_each_epoch,
                         model_args=model_args)
    if args.eval_each_epoch:
        parser.error("--eval-each-epoch for striate needs --config (a recipe)")
    options = {**({"device": args.device} if args.device else {}), **json.loads(args.options)}
    if model_args:
        options["model_args"] = model_args
    return run_striate(*common, train_size=args.train_size, **options)


def _cuda_peak() -> dict:
    """Peak CUDA memory of this process, when it used a GPU through torch."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {}
    return {"cuda_peak_mb": torch.cuda.max_memory_allocated() / 2**20}


if __name__ == "__main__":
    sys.exit(main())
