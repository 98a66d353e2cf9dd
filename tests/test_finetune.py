"""Fine-tuning from a previous run: the weights that arrive, the head that is replaced, frozen parameters that stay put
(and move once unfrozen), the body's lower learning rate, the kept preprocessing, and the errors."""

from __future__ import annotations

import json

import pytest
import torch

import striate
from striate.errors import ConfigError, DataError
from striate.train.callbacks import Callback

SMALL = dict(epochs=1, batch_size=64, quiet=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """LeNet-5 after one epoch on 2,000 Fashion-MNIST images (28x28, 10 clothing classes)."""
    out = tmp_path_factory.mktemp("source")
    return striate.train(data="fashion-mnist", train_size=2000, test_size=500, out=str(out), name="src", **SMALL)


def parameters(run) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in run.model.named_parameters()}


class Snapshots(Callback):
    """The parameters after every epoch, and the learning rate of every group at the first step."""

    def __init__(self):
        self.after_epoch: list[dict[str, torch.Tensor]] = []
        self.first_lrs: list[float] | None = None

    def on_batch_end(self, trainer) -> None:
        if self.first_lrs is None:
            self.first_lrs = [group["lr"] for group in trainer.optimizer.param_groups]

    def on_epoch_end(self, trainer, metrics) -> None:
        self.after_epoch.append({n: p.detach().clone() for n, p in trainer.model.named_parameters()})


def test_digits_start_from_the_clothing_model_with_a_new_head_and_its_statistics(source, tmp_path):
    snapshots = Snapshots()
    run = striate.train(init_from=str(source.path), data="digits?size=28", out=str(tmp_path), epochs=1,
                        batch_size=64, lr=1e-9, callbacks=[snapshots], quiet=True)  # lr ~0: the weights as loaded
    before, after = parameters(source), snapshots.after_epoch[0]
    for name in before:
        if name.startswith("head."):  # digits are other classes: a fresh head, not the clothing one
            assert not torch.allclose(after[name], before[name])
        else:
            assert torch.allclose(after[name], before[name], atol=1e-6)
    assert run.info["mean"] == source.info["mean"] and run.info["std"] == source.info["std"]  # kept, not recomputed
    record = run.results["init_from"]
    assert record["new_parameters"] == ["head.bias", "head.weight"] and record["body_lr_factor"] == 1.0
    assert run.config["model"] == "lenet5" and run.config["init_from"] == str(source.path)
    recomputed = striate.train(init_from=str(source.path), data="digits?size=28", out=str(tmp_path),
                               init_preprocessing="recompute", **SMALL)
    assert recomputed.info["mean"] != source.info["mean"]


def test_the_same_classes_keep_the_head_unless_asked(source, tmp_path):
    snapshots = Snapshots()
    striate.train(init_from=str(source.path), data="fashion-mnist", train_size=256, test_size=100, lr=1e-9,
                  out=str(tmp_path), callbacks=[snapshots], **SMALL)
    assert torch.allclose(snapshots.after_epoch[0]["head.weight"], parameters(source)["head.weight"], atol=1e-6)
    fresh = Snapshots()
    striate.train(init_from=str(source.path), data="fashion-mnist", train_size=256, test_size=100, lr=1e-9,
                  reset_head=True, out=str(tmp_path), callbacks=[fresh], **SMALL)
    assert not torch.allclose(fresh.after_epoch[0]["head.weight"], parameters(source)["head.weight"])


def test_frozen_parameters_stay_put_until_unfrozen(source, tmp_path):
    snapshots = Snapshots()
    run = striate.train(init_from=str(source.path), data="digits?size=28", out=str(tmp_path), epochs=3,
                        batch_size=64, freeze_until="features.3", unfreeze_after=2, callbacks=[snapshots], quiet=True)
    start = parameters(source)
    frozen = ["features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias"]
    assert run.results["init_from"]["frozen"] == frozen
    for epoch in (0, 1):  # the first two epochs leave the frozen layers exactly as loaded, and train the rest
        assert all(torch.equal(snapshots.after_epoch[epoch][name], start[name]) for name in frozen)
        assert not torch.equal(snapshots.after_epoch[epoch]["hidden.0.weight"], start["hidden.0.weight"])
    assert all(not torch.equal(snapshots.after_epoch[2][name], start[name]) for name in frozen)  # the third trains them
    by_pattern = Snapshots()
    striate.train(init_from=str(source.path), data="digits?size=28", out=str(tmp_path), freeze=["*.bias"],
                  callbacks=[by_pattern], **SMALL)
    assert all(torch.equal(by_pattern.after_epoch[0][n], start[n]) for n in start if n.endswith(".bias") and
               not n.startswith("head."))


def test_the_body_can_learn_at_a_tenth_of_the_heads_rate(source, tmp_path):
    snapshots = Snapshots()
    striate.train(init_from=str(source.path), data="digits?size=28", out=str(tmp_path), callbacks=[snapshots],
                  body_lr_factor=0.1, **SMALL)
    lrs = snapshots.first_lrs
    assert len(lrs) == 4  # body and head, each with and without weight decay
    head = max(lrs)
    assert sorted(lrs) == pytest.approx([head * 0.1, head * 0.1, head, head], rel=1e-9)
    plain = Snapshots()
    striate.train(init_from=str(source.path), data="digits?size=28", out=str(tmp_path), callbacks=[plain],
                  **SMALL)  # one rate for all by default
    assert len(set(plain.first_lrs)) == 1


def test_a_finetuned_run_loads_and_predicts_on_its_own(source, tmp_path):
    run = striate.train(init_from=str(source.path), data="digits?size=28", out=str(tmp_path), **SMALL)
    again = striate.load(run.path)
    x = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    assert torch.allclose(again.predict_proba(x), run.predict_proba(x))
    assert again.classes == [str(d) for d in range(10)]


def test_fine_tuning_mistakes_are_one_line_errors(source, tmp_path):
    out = str(tmp_path)
    with pytest.raises(ConfigError, match=r"Invalid `init_from` '/nope': expected a finished run folder"):
        striate.train(init_from="/nope", data="digits", out=out, **SMALL)
    with pytest.raises(ConfigError, match=r"its model was trained on image inputs of shape 1x28x28, `digits` holds "
                                          r"image inputs of shape 1x8x8; give data of that shape \(e\.g\. "
                                          r"`digits\?size=28`"):
        striate.train(init_from=str(source.path), data="digits", out=out, **SMALL)
    with pytest.raises(ConfigError, match=r"Invalid `freeze` pattern 'feature\.\*': expected a glob over parameter "
                                          r"names, it matches none of features\.0\.weight"):
        striate.train(init_from=str(source.path), data="digits?size=28", freeze=["feature.*"], out=out, **SMALL)
    with pytest.raises(ConfigError, match=r"Invalid `freeze_until` 'feature\.3': expected a module name .* Did you "
                                          r"mean `features\.3`\?"):
        striate.train(init_from=str(source.path), data="digits?size=28", freeze_until="feature.3", out=out, **SMALL)
    with pytest.raises(ConfigError, match=r"Invalid `unfreeze_after` without frozen parameters"):
        striate.train(init_from=str(source.path), data="digits?size=28", unfreeze_after=1, out=out, **SMALL)
    with pytest.raises(ConfigError, match=r"parameter `head\.weight` of shape \(4, 84\) is of shape \(10, 84\) there "
                                          r"\(the head: the outputs differ"):
        striate.train(init_from=str(source.path), data="digits-attributes?size=28", reset_head=False, out=out,
                      **SMALL)
    with pytest.raises(ConfigError, match=r"parameter `features\.0\.0\.weight` of shape \(32, 1, 3, 3\) is missing "
                                          r"there; train the same architecture \(drop --model/--model-args\)"):
        striate.train(init_from=str(source.path), data="digits?size=28", model="convnet", out=out, **SMALL)
    with pytest.raises(DataError, match=r"Invalid digits option `size` 3: expected an integer from 4 to 512"):
        striate.train(data="digits?size=3", out=out, **SMALL)
    assert not [p for p in tmp_path.iterdir() if (p / "results.json").exists()]


def test_the_command_line_fine_tunes_in_one_command(source, tmp_path):
    from typer.testing import CliRunner

    from striate.cli import app

    result = CliRunner().invoke(app, ["train", "--init-from", str(source.path), "--data", "digits?size=28",
                                      "--freeze-until", "features.3", "--epochs", "4", "--out", str(tmp_path),
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "lenet5-digits" / "results.json").read_text())
    assert len(results["init_from"]["frozen"]) == 4 and results["test_accuracy"] > 0.3


def test_a_per_class_subset_takes_at_most_n_of_every_class_reproducibly():
    from striate.data import Dataset

    y = torch.tensor([0] * 7 + [1] * 3 + [2] * 12)
    data = Dataset(torch.arange(22, dtype=torch.float32).view(22, 1, 1), y, ["a", "b", "c"], input_kind="signal")
    subset = data.per_class_subset(5, seed=3)
    assert sorted(torch.bincount(subset.y).tolist()) == [3, 5, 5]  # class "b" has only 3
    assert torch.equal(subset.x, data.per_class_subset(5, seed=3).x)  # the same seed draws the same rows
    assert not torch.equal(subset.x, data.per_class_subset(5, seed=4).x)
    assert len({float(v) for v in subset.x.flatten()}) == 13  # distinct rows
    real = Dataset(torch.zeros(4, 1, 2), torch.zeros(4), None, input_kind="signal", target_kind="real")
    with pytest.raises(DataError, match=r"Invalid `train_per_class` .*expected class targets, found real targets"):
        real.per_class_subset(2, seed=0)
