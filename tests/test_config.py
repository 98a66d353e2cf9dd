"""Run configuration: defaults, YAML files, CLI-style overrides and the wording of errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from striate.config import RunConfig, load_config, make_config
from striate.errors import ConfigError


def test_defaults_resolve_per_optimizer():
    assert make_config().resolved().lr == 3e-3
    sgd = make_config(optimizer="sgd").resolved()
    assert (sgd.lr, sgd.weight_decay) == (0.05, 5e-4)
    assert make_config(optimizer="sgd", lr=0.2).resolved().lr == 0.2


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: convnet\nepochs: 4\nbatch_size: 64\n")
    config = load_config(path, epochs=2, batch_size=None)
    assert (config.model, config.epochs, config.batch_size) == ("convnet", 2, 64)


def test_unknown_key_names_it_and_suggests(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown config key `epoch`: expected one of .*Did you mean `epochs`\?"):
        make_config(epoch=3)
    path = tmp_path / "bad.yaml"
    path.write_text("batchsize: 3\n")
    with pytest.raises(ConfigError, match="Did you mean `batch_size`"):
        load_config(path)


def test_wrong_type_names_key_expectation_and_value():
    with pytest.raises(ConfigError, match=r"Invalid config key `epochs` .*: expected a valid integer.*received 'ten'"):
        make_config(epochs="ten")
    with pytest.raises(ConfigError, match=r"`optimizer` .*: expected 'adamw' or 'sgd', received 'adam'"):
        make_config(optimizer="adam")
    with pytest.raises(ConfigError, match=r"`val_split` .*less than 1, received 1.5"):
        make_config(val_split=1.5)


def test_yaml_that_is_not_a_mapping_or_not_yaml(tmp_path):
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping of keys to values, found list"):
        load_config(listing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("epochs: [1, 2\n")
    with pytest.raises(ConfigError, match="Cannot parse config"):
        load_config(broken)
    with pytest.raises(ConfigError, match="Config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_every_field_is_described():
    assert all(field.description for field in RunConfig.model_fields.values())


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parents[1].glob("configs/*.yaml")),
                         ids=lambda path: path.name)
def test_every_shipped_recipe_is_valid_and_builds_for_fashion_mnist(path):
    import torch

    from striate.models.resolve import model_for_data

    cfg = load_config(path)
    model, _ = model_for_data(cfg.model, (1, 28, 28), 10, cfg.model_args)
    assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert cfg.name == path.stem  # the run folder is named after the recipe
