"""Checkpoints and resume: the state survives safetensors + JSON exactly, damage is refused by name, and a run killed
at any moment resumes to the same weights, bit for bit, as a run that was never stopped."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import striate
from striate.errors import ConfigError, RunFolderError
from striate.runs import INCOMPLETE
from striate.train.checkpoint import flatten, latest_checkpoint, load_checkpoint, save_checkpoint, unflatten

OPTIONS = dict(data="digits", epochs=3, batch_size=32, checkpoint_every=7, augment=["pad_crop"], quiet=True)
"""41 steps an epoch, a checkpoint every 7 steps; shifts draw random numbers every batch, dropout-free LeNet-5."""


def test_state_round_trips_exactly_through_safetensors_and_json(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "python": random.getstate(),
             "numpy": np.random.get_state(), "torch": torch.get_rng_state(), "none": None, "values": [1.5, "a"],
             "infinite": float("-inf"), "ints": {3: "three"}, "nested": ({"x": (1, 2)},)}
    path = save_checkpoint(tmp_path, state, epoch=1, step=9)
    loaded, manifest = load_checkpoint(path)
    assert manifest["step"] == 9 and path.name == "step-00000009"
    assert loaded["python"] == state["python"] and loaded["ints"] == {3: "three"}
    assert loaded["nested"] == ({"x": (1, 2)},) and loaded["infinite"] == float("-inf") and loaded["none"] is None
    for saved, back in zip(state["numpy"], loaded["numpy"], strict=True):
        assert np.array_equal(saved, back) if isinstance(saved, np.ndarray) else saved == back
    assert loaded["numpy"][1].dtype == np.uint32
    assert torch.equal(loaded["torch"], state["torch"])
    for key, value in model.state_dict().items():
        assert torch.equal(loaded["model"][key], value) and loaded["model"][key].dtype == value.dtype
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-2)
    fresh.load_state_dict(loaded["optimizer"])
    assert fresh.state_dict()["param_groups"] == optimizer.state_dict()["param_groups"]
    tensors, skeleton = flatten({"a": [torch.ones(2)]})
    assert skeleton == {"a": [{"__tensor__": "t0"}]}
    assert torch.equal(unflatten(tensors, skeleton)["a"][0], torch.ones(2))


def test_a_truncated_or_altered_checkpoint_is_refused_by_name(tmp_path):
    path = save_checkpoint(tmp_path, {"w": torch.arange(100.0)}, epoch=1, step=1)
    weights = path / "state.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-10])
    with pytest.raises(RunFolderError, match=r"Corrupted checkpoint file .*state\.safetensors: expected [\d,]+ bytes "
                                             r"with the manifest's SHA-256, found [\d,]+ bytes;"):
        load_checkpoint(path)
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one flipped bit, same size
    with pytest.raises(RunFolderError, match=r"found [\d,]+ bytes with a different checksum"):
        load_checkpoint(path)


def test_only_the_newest_complete_checkpoint_is_kept(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, {"step": step}, epoch=0, step=step)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-00000003"]


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    """A child Python with one thread (so that every run here repeats the same float operations)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def test_a_kill_during_the_checkpoint_write_leaves_the_previous_one_loadable(tmp_path):
    done = run_python(f"""
        import os, signal, torch
        from striate.train import checkpoint
        checkpoint.save_checkpoint({str(tmp_path)!r}, {{"w": torch.zeros(3)}}, epoch=1, step=10)
        real = checkpoint.write_synced
        def write_then_die(path, data):
            real(path, data[: len(data) // 2])  # half of the first file is on disk when the process is killed
            os.kill(os.getpid(), signal.SIGKILL)
        checkpoint.write_synced = write_then_die
        checkpoint.save_checkpoint({str(tmp_path)!r}, {{"w": torch.ones(3)}}, epoch=2, step=20)
    """)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert (tmp_path / "checkpoints" / ".step-00000020.tmp").is_dir()  # the interrupted write's temporary
    latest = latest_checkpoint(tmp_path)
    assert latest.name == "step-00000010"
    state, _ = load_checkpoint(latest)
    assert torch.equal(state["w"], torch.zeros(3))
    save_checkpoint(tmp_path, {"w": torch.ones(3)}, epoch=2, step=20)  # the next write cleans the temporary up
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-00000020"]


STOP_AT_STEP = """
    import os, signal, sys, striate
    from striate.train.callbacks import Callback
    class StopAt(Callback):
        def on_batch_end(self, trainer):
            if trainer.step == {step}:
                os.kill(os.getpid(), signal.{signal})
    striate.train(**{options}, out={out!r}, name="run", callbacks=[StopAt()])
"""


def reference_weights(tmp_path) -> bytes:
    done = run_python(f"import striate; striate.train(**{OPTIONS}, out={str(tmp_path / 'reference')!r}, name='run')")
    assert done.returncode == 0, done.stderr
    return (tmp_path / "reference" / "run" / "model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> bytes:
    return reference_weights(tmp_path_factory.mktemp("uninterrupted"))


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_bit_for_bit(tmp_path, uninterrupted):
    out = tmp_path / "killed"
    done = run_python(STOP_AT_STEP.format(step=60, signal="SIGKILL", options=OPTIONS, out=str(out)))
    assert done.returncode == -signal.SIGKILL  # killed in epoch 2, 4 steps after the checkpoint at step 56
    run = out / "run"
    assert (run / INCOMPLETE).is_file() and latest_checkpoint(run).name == "step-00000056"
    state, manifest = load_checkpoint(latest_checkpoint(run))
    assert manifest["epoch"] == 1 and state["position"]["batch_in_epoch"] == 15  # mid-epoch
    resumed = run_python(f"import striate; striate.train(resume={str(run)!r}, quiet=True)")
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "model.safetensors").read_bytes() == uninterrupted
    assert not (run / INCOMPLETE).exists()
    epochs = [line for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    assert len(epochs) == 3  # the logger's lines came back with the checkpoint: none lost, none repeated


def test_sigterm_finishes_the_step_checkpoints_and_says_how_to_resume(tmp_path, uninterrupted):
    out = tmp_path / "terminated"
    flags = ["--data", "digits", "--epochs", "3", "--batch-size", "32", "--checkpoint-every", "7", "--augment",
             "pad_crop", "--quiet", "--out", str(out), "--name", "run"]
    done = run_python(f"""
        import os, signal, sys
        from striate.cli import main
        from striate.train.trainer import Trainer
        step = Trainer.training_step
        def terminated_at_45(self, x, y):  # as a scheduler's SIGTERM arriving during step 45
            if self.step == 44:
                os.kill(os.getpid(), signal.SIGTERM)
            return step(self, x, y)
        Trainer.training_step = terminated_at_45
        sys.argv = ["striate", "train", *{flags}]
        main()
    """)
    assert done.returncode == 143, done.stderr  # 128 + SIGTERM, as shells report it
    assert done.stderr.strip().splitlines() == [
        f"error: Interrupted by SIGTERM at step 45 (epoch 2): a checkpoint was written; resume with `striate train "
        f"--resume {out / 'run'}`."]
    assert latest_checkpoint(out / "run").name == "step-00000045"
    resumed = run_python(f"""
        import sys
        from striate.cli import main
        sys.argv = ["striate", "train", "--resume", {str(out / "run")!r}, "--quiet"]
        main()
    """)
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "run" / "model.safetensors").read_bytes() == uninterrupted


def test_extending_a_finished_run_continues_it_and_says_what_it_did(tmp_path):
    from io import StringIO

    from rich.console import Console

    first = striate.train(data="digits", epochs=2, out=str(tmp_path), name="run", quiet=True)
    stream = StringIO()
    run = striate.train(resume=first.path, epochs=4, console=Console(file=stream, width=300))
    text = stream.getvalue()
    assert "extending the run from 2 to 4 epochs: the onecycle schedule is recomputed over 44 steps and continues at " \
           "step 22" in text
    assert run.results["epochs_completed"] == 4 and len(run.path.joinpath("metrics.jsonl").read_text().split()) >= 4
    assert latest_checkpoint(run.path).name == "step-00000044-epoch"
    with pytest.raises(ConfigError, match=r"has already trained 4 epochs; give --epochs larger than 4"):
        striate.train(resume=run.path, quiet=True)
    with pytest.raises(ConfigError, match=r"Invalid `lr` with --resume: a resumed run keeps its own config; only "
                                          r"--epochs, --checkpoint-every, --device, --nproc, --max-restarts, "
                                          r"--dist-timeout may be given"):
        striate.train(resume=run.path, epochs=5, lr=0.1, quiet=True)


def test_resume_needs_a_run_folder_with_a_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match=r"Invalid `--resume` .*: expected a run folder written by `striate train`"):
        striate.train(resume=tmp_path / "nothing", quiet=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("data: digits\n")
    with pytest.raises(RunFolderError, match=r"has no checkpoint to resume from"):
        striate.train(resume=tmp_path / "run", quiet=True)


def test_a_diverged_run_keeps_the_checkpoint_from_before_it(tmp_path):
    from striate.errors import TrainingError

    with pytest.raises(TrainingError, match=r"Training diverged at step \d+ .*The last checkpoint, if any, is from "
                                            r"before it"):
        striate.train(data="digits", epochs=1, batch_size=32, lr=1e30, optimizer="sgd", momentum=0.0,
                      checkpoint_every=1, out=str(tmp_path), name="run", quiet=True)
    state, manifest = load_checkpoint(latest_checkpoint(tmp_path / "run"))
    assert all(torch.isfinite(value).all() for value in state["model"].values())
    assert manifest["step"] == 1  # step 2's loss was the first that was not finite: nothing after it was saved


def test_gradient_clipping_bounds_the_update():
    from striate.tasks import create_task
    from striate.train.trainer import Trainer

    def update_norm(clip):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2)
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        trainer = Trainer(model, create_task("classification", ["a", "b"]),
                          torch.optim.SGD(model.parameters(), lr=1.0), epochs=1, clip_grad_norm=clip)
        trainer.training_step(torch.randn(8, 4) * 100, torch.randint(0, 2, (8,)))
        return float((torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm())

    assert update_norm(None) > 1.0  # plain SGD with lr 1 on large inputs moves far
    assert update_norm(0.01) == pytest.approx(0.01, rel=1e-4)  # clipped: lr 1 times a gradient of norm 0.01
