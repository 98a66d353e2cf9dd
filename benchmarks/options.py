"""Which speed options win on this machine: one training step of a zoo model under each option, side by side.

Measures microseconds per training image (forward, backward, optimizer step; median of several timed blocks after
warm-up, options interleaved round by round) for: channels-last vs contiguous memory, bfloat16 autocast vs float32,
AdamW implementations (fused, for-loop, foreach), torch.compile (its compile time reported separately), batch
size and, for the convnet, pooling before batch norm. striate's defaults follow what wins here (see the README's
Performance section).

    python benchmarks/options.py                   # lenet5 and convnet
    python benchmarks/options.py --models resnet20 --device cuda
    python benchmarks/options.py --models convnet --only conv-pool --model-args '{"widths": [32, 64], "depth": 1,
        "head": "flatten", "hidden": 128}'           # pooling before batch norm, on the speedrun network
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from _common import machine, markdown_table, median, save
from striate.models import create

OPTIONS = {
    "default (channels-last, fp32, fused AdamW, batch 128)": {},
    "contiguous (NCHW)": {"channels_last": False},
    "bf16 autocast": {"precision": "bf16"},
    "AdamW for-loop (torch's CPU default)": {"adamw": {"foreach": False}},
    "AdamW foreach": {"adamw": {"foreach": True}},
    "batch 256": {"batch_size": 256},
    "batch 64": {"batch_size": 64},
    "torch.compile": {"compile": True},
    "conv-pool-norm-act (convnet pool_first)": {"model_args": {"pool_first": True}},
}


def make_step(model_name: str, device: str, channels_last: bool = True, precision: str = "fp32",
              adamw: dict | None = None, batch_size: int = 128, compile: bool = False, model_args: dict | None = None,
              base_args: dict | None = None):
    torch.manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = create(model_name, num_classes=10, in_channels=1, input_size=(28, 28), **(base_args or {}),
                   **(model_args or {})).to(device, memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3, **(adamw or {"fused": True}))
    forward = torch.compile(model) if compile else model
    x = torch.randn(batch_size, 1, 28, 28, device=device).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch_size,), device=device)

    def step() -> None:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = F.cross_entropy(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    step()  # the first step includes compilation for torch.compile
    first = time.perf_counter() - start
    return step, batch_size, first


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(model_name: str, device: str, rounds: int, steps: int, options_wanted: list[str],
            base_args: dict) -> dict[str, dict]:
    built, first_steps = {}, {}
    for label, options in OPTIONS.items():
        if label not in options_wanted or ("model_args" in options and model_name != "convnet"):
            continue
        try:
            built[label] = make_step(model_name, device, **options, base_args=base_args)
            first_steps[label] = built[label][2]
        except Exception as error:  # an option this machine or build does not support
            print(f"  {model_name}: {label} unavailable ({type(error).__name__}: {str(error).splitlines()[0][:80]})")
    default_first = built[next(iter(OPTIONS))][2]
    slow = {label for label, (_, _, first) in built.items() if "compile" not in label and first > 20 * default_first}
    timings: dict[str, list[float]] = {label: [] for label in built}
    for label in slow:  # e.g. bf16 on a CPU without bf16 kernels: timing it fully would take many minutes
        print(f"  {model_name}: {label} is over 20x slower on its first step; timed from that step alone")
        timings[label].append(built[label][2] / built[label][1] * 1e6)
        del built[label]
    for step, _, _ in built.values():
        step()  # a second untimed step: past any one-off set-up
    for _ in range(rounds):  # interleaved, so drift hits every option alike
        for label, (step, batch, _) in built.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            sync(device)
            timings[label].append((time.perf_counter() - start) / (steps * batch) * 1e6)
    return {label: {"us_per_image": median(values), "first_step_seconds": first_steps[label]}
            for label, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet5", "convnet"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--model-args", default="{}", help="JSON of model arguments, e.g. a speedrun convnet's")
    parser.add_argument("--only", nargs="+", default=None, metavar="PREFIX",
                        help="options whose label starts with one of these (the default is always measured)")
    args = parser.parse_args()
    default = next(iter(OPTIONS))
    wanted = [label for label in OPTIONS if label == default or args.only is None
              or any(label.startswith(prefix) for prefix in args.only)]
    info = machine()
    print(f"machine: {info}", flush=True)
    results, rows = {}, []
    for model_name in args.models:
        results[model_name] = measure(model_name, args.device, args.rounds, args.steps, wanted,
                                      json.loads(args.model_args))
        base = results[model_name][next(iter(OPTIONS))]["us_per_image"]
        for label, value in results[model_name].items():
            rows.append([model_name, label, f"{value['us_per_image']:.1f}", f"{base / value['us_per_image']:.2f}",
                         f"{value['first_step_seconds']:.2f}"])
    text = markdown_table(["model", "option", "us / training image", "speed vs default", "first step s"], rows)
    print("\n" + text)
    print(f"\nsaved {save('options', {'machine': info, 'args': vars(args), 'results': results, 'table': text})}")


if __name__ == "__main__":
    main()
