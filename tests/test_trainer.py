"""The Trainer: hook order, complete state capture/restore, penalties and constraints."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from striate.data import BatchLoader, load_data
from striate.tasks import Classification
from striate.train import Callback, Trainer


def tiny_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Dropout(0.2), nn.Flatten(), nn.Linear(256, 10))


def make(seed: int, callbacks=(), **kwargs) -> tuple[Trainer, BatchLoader]:
    torch.manual_seed(seed)
    splits = load_data("digits")
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.5)
    trainer = Trainer(model, Classification(10), optimizer, scheduler, epochs=3, callbacks=list(callbacks),
                      generator=torch.Generator().manual_seed(seed), **kwargs)
    return trainer, BatchLoader(splits.train, 64, shuffle=True)


class Recorder(Callback):
    def __init__(self):
        self.calls: list[str] = []

    def on_train_start(self, trainer):
        self.calls.append("train_start")

    def on_epoch_start(self, trainer):
        self.calls.append("epoch_start")

    def on_batch_end(self, trainer):
        if trainer.batch_in_epoch == 1:
            self.calls.append("batch_end")

    def on_epoch_end(self, trainer, metrics):
        self.calls.append(f"epoch_end:{metrics['epoch']}")

    def on_train_end(self, trainer):
        self.calls.append("train_end")

    def state_dict(self):
        return {"calls": list(self.calls)}

    def load_state_dict(self, state):
        self.calls = list(state["calls"])


def test_hooks_fire_on_the_grid():
    recorder = Recorder()
    trainer, loader = make(0, [recorder])
    trainer.epochs = 2
    trainer.fit(loader)
    assert recorder.calls == ["train_start", "epoch_start", "batch_end", "epoch_end:1", "epoch_start", "batch_end",
                              "epoch_end:2", "train_end"]


def test_training_learns_digits():
    trainer, loader = make(0)
    history = trainer.fit(loader)
    assert history[-1]["train_accuracy"] > 0.8 and history[-1]["train_loss"] < history[0]["train_loss"]


def test_state_dict_resumes_bit_for_bit():
    """Three epochs straight equal one epoch, a save into fresh objects, and two more epochs."""
    straight, loader = make(0, [Recorder()])
    straight.fit(loader)

    first, loader1 = make(0, [Recorder()])
    first.epochs = 1
    first.fit(loader1)
    saved = copy.deepcopy(first.state_dict())
    torch.manual_seed(123)  # disturb the global RNG: the restore must bring it back
    resumed, loader2 = make(99, [Recorder()])
    resumed.load_state_dict(saved)
    resumed.fit(loader2)

    assert resumed.epoch == straight.epoch == 3 and resumed.step == straight.step
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    drop_time = [{k: v for k, v in row.items() if "second" not in k} for row in straight.history]
    assert drop_time == [{k: v for k, v in row.items() if "second" not in k} for row in resumed.history]
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]


def test_penalties_enter_the_objective_and_constraints_run_after_each_step():
    calls = []

    def constraint(model):
        calls.append(1)
        with torch.no_grad():
            model[0].weight.clamp_(-0.01, 0.01)

    plain, loader = make(0)
    plain.epochs = 1
    plain.fit(loader)
    penalised, loader = make(0, constraints=[constraint], penalties=[lambda model: model[-1].weight.pow(2).sum()])
    penalised.epochs = 1
    penalised.fit(loader)
    assert len(calls) == len(loader)
    assert float(penalised.model[0].weight.detach().abs().max()) <= 0.01
    shrunk = penalised.model[-1].weight.detach().norm() / plain.model[-1].weight.detach().norm()
    assert shrunk < 0.5  # the L2 penalty pulled the classifier's weights towards zero


def test_progress_off_a_terminal_is_one_whole_line_per_epoch(tmp_path):
    import io
    import re

    from rich.console import Console

    import striate

    stream = io.StringIO()
    striate.train(data="digits", epochs=2, batch_size=64, train_size=256, test_size=64, out=str(tmp_path),
                  console=Console(file=stream, width=40))  # narrower than a line: nothing may be cut or wrapped
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2
    for number, line in enumerate(lines, start=1):
        assert re.fullmatch(rf"epoch {number}/2 loss \d\.\d{{4}} accuracy \d\.\d{{4}} [\d,]+ samples/s "
                            r"val_accuracy \d\.\d{4} \d+\.\d s", line), line
    assert "━" not in stream.getvalue()  # no bar

