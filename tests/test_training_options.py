"""Regularizers, losses and early stopping as `striate train` options, end to end on the digits."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import striate
from striate.errors import ConfigError
from striate.tasks import Classification
from striate.train.callbacks import EarlyStopping


def quick(tmp_path, **options):
    return striate.train(data="digits", batch_size=64, out=str(tmp_path), quiet=True, **{"epochs": 2, **options})


def neuron_norms(model: nn.Module) -> list[torch.Tensor]:
    norms = []
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            norms.append(module.weight.detach().flatten(1).norm(dim=1))
    return norms


def test_max_norm_option_bounds_every_neuron(tmp_path):
    run = quick(tmp_path, max_norm=0.5)
    assert all(float(n.max()) <= 0.5 + 1e-5 for n in neuron_norms(run.model))
    free = quick(tmp_path, seed=0)
    assert max(float(n.max()) for n in neuron_norms(free.model)) > 0.5  # the bound was active, not vacuous


def test_l1_penalty_sparsifies_and_l2_shrinks(tmp_path):
    def weights(run):
        return torch.cat([p.detach().flatten() for name, p in run.model.named_parameters() if name.endswith("weight")])

    base = weights(quick(tmp_path))
    l1 = weights(quick(tmp_path, l1=1e-3))
    l2 = weights(quick(tmp_path, l2=1e-2))
    assert float((l1.abs() < 1e-3).float().mean()) > 2 * float((base.abs() < 1e-3).float().mean())
    assert float(l2.norm()) < 0.8 * float(base.norm())


def test_loss_options_match_their_formulas():
    logits, target = torch.randn(6, 4, dtype=torch.float64), torch.tensor([0, 3, 1, 1, 2, 0])
    one_hot = torch.eye(4, dtype=torch.float64)[target]
    sigmoid = Classification(4, loss="sigmoid_cross_entropy").loss(logits, target)
    expected = -(one_hot * torch.log(torch.sigmoid(logits)) + (1 - one_hot) * torch.log(1 - torch.sigmoid(logits)))
    assert torch.allclose(sigmoid, expected.mean(), atol=1e-12)
    euclid = Classification(4, loss="euclidean").loss(logits, target)
    assert torch.allclose(euclid, ((logits - one_hot) ** 2).mean(), atol=1e-12)
    weighted = Classification(4, class_weights=[1.0, 2.0, 1.0, 0.5], label_smoothing=0.0).loss(logits, target)
    w = torch.tensor([1.0, 2.0, 1.0, 0.5], dtype=torch.float64)[target]
    reference = -(w * F.log_softmax(logits, dim=1)[torch.arange(6), target]).sum() / w.sum()
    assert torch.allclose(weighted, reference, atol=1e-12)
    with pytest.raises(ConfigError, match="apply to the softmax loss only"):
        Classification(4, loss="euclidean", label_smoothing=0.1)


def test_euclidean_loss_trains_from_the_cli_options(tmp_path):
    run = quick(tmp_path, loss="euclidean", epochs=3)
    assert run.results["test_accuracy"] > 0.5  # chance is 0.1


def fake_trainer(model: nn.Module):
    return SimpleNamespace(model=model, should_stop=False, stop_reason="", history=[], restored_epoch=None)


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model = nn.Linear(2, 1)
    trainer = fake_trainer(model)
    stopper = EarlyStopping("val_loss", patience=2, min_delta=0.01)
    for epoch, loss in enumerate([1.0, 0.5, 0.495, 0.7], start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)
        trainer.history.append({"epoch": epoch, "val_loss": loss})
        stopper.on_epoch_end(trainer, trainer.history[-1])
        if trainer.should_stop:
            break
    assert epoch == 4 and stopper.best_epoch == 2
    assert "val_loss did not improve by more than 0.01 for 2 epochs (best 0.5000 at epoch 2)" in trainer.stop_reason
    stopper.on_train_end(trainer)
    assert float(model.weight[0, 0]) == 2.0 and trainer.restored_epoch == 2
    restored = EarlyStopping("val_loss", patience=2)
    restored.load_state_dict(stopper.state_dict())
    assert (restored.best, restored.best_epoch, restored.wait) == (0.5, 2, 2)


def test_early_stopping_modes_and_missing_metric():
    assert EarlyStopping("val_accuracy").mode == "max" and EarlyStopping("train_loss").mode == "min"
    with pytest.raises(ConfigError, match=r"monitors `val_acc`.*expected one of epoch, val_accuracy.*"
                                          r"Did you mean `val_accuracy`\?"):
        EarlyStopping("val_acc").on_epoch_end(fake_trainer(nn.Linear(1, 1)), {"epoch": 1, "val_accuracy": 0.5})


def test_early_stopping_in_a_run_records_where_and_why(tmp_path):
    run = quick(tmp_path, epochs=10, patience=2, min_delta=10.0, monitor="val_loss")  # nothing improves by 10
    results = json.loads((run.path / "results.json").read_text())
    assert results["epochs_completed"] == 3 and results["weights_from_epoch"] == 1
    assert results["stop_reason"].startswith("early stopping at epoch 3: val_loss")
    with pytest.raises(ConfigError, match="val_split` is 0"):
        quick(tmp_path, patience=2, val_split=0.0)
    with pytest.raises(ConfigError, match=r"Invalid `monitor` 'val_acc'.*Did you mean `val_accuracy`\?"):
        quick(tmp_path, patience=2, monitor="val_acc")


def test_class_weights_of_the_wrong_length_fail_before_training(tmp_path):
    with pytest.raises(ConfigError, match=r"expected one value per class \(10\), received 2 values"):
        quick(tmp_path, class_weights=[1.0, 2.0])
    assert not list(tmp_path.iterdir())  # no run folder for a run that could not start


def test_augment_option_writes_a_picture(tmp_path):
    run = quick(tmp_path, augment=["crop", {"affine": {"degrees": 10}}], epochs=1)
    assert (run.path / "augmentations.png").stat().st_size > 1000


def test_adamw_is_the_fused_implementation_with_decay_on_weights_only():
    from striate.config import RunConfig
    from striate.models import create
    from striate.train.job import make_optimizer

    model = create("convnet", widths=(4, 8), depth=1)
    optimizer = make_optimizer(RunConfig(weight_decay=0.1).resolved(), model)
    assert optimizer.defaults["fused"] is True
    decays = {p.dim(): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    assert decays == {4: 0.1, 2: 0.1, 1: 0.0}  # conv and linear weights decay; biases and batch norm do not
