"""Activation functions by name: torch's modules, looked up for configs and model specs.

Blocks that take an activation should accept a class (`act_layer=nn.ReLU`); names are for YAML configs and the CLI.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from striate.errors import ConfigError, did_you_mean

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": nn.LeakyReLU,
    "prelu": nn.PReLU,
    "rrelu": nn.RReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "celu": nn.CELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "mish": nn.Mish,
    "hardswish": nn.Hardswish,
    "hardsigmoid": nn.Hardsigmoid,
    "hardtanh": nn.Hardtanh,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "logsigmoid": nn.LogSigmoid,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "tanhshrink": nn.Tanhshrink,
    "softmax": nn.Softmax,
    "log_softmax": nn.LogSoftmax,
    "identity": nn.Identity,
}
"""Lowercase name -> torch module class; 'swish' is an alias of 'silu'."""


def get_activation(name: str, **kwargs: Any) -> nn.Module:
    """Build the activation called `name` (case-insensitive, '-' read as '_'), passing `kwargs` to its class.

    Args:
        name: A key of `ACTIVATIONS`, e.g. 'relu' or 'leaky_relu'.
        **kwargs: Arguments of the torch class, e.g. negative_slope=0.2 for 'leaky_relu'.

    Returns:
        A new module; shape-preserving: (*) -> (*).

    Raises:
        ConfigError: For an unknown name (listing the valid ones and the closest match) or arguments the class
            does not take.

    Example:
        >>> from striate.layers import get_activation
        >>> get_activation("leaky_relu", negative_slope=0.2)
        LeakyReLU(negative_slope=0.2)
    """
    key = str(name).lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ConfigError(
            f"Invalid activation `name`: expected one of {', '.join(sorted(ACTIVATIONS))}, received {name!r}."
            + did_you_mean(key, ACTIVATIONS)
        )
    try:
        return ACTIVATIONS[key](**kwargs)
    except TypeError as error:
        raise ConfigError(
            f"Invalid arguments for activation {key!r}: expected those of torch.nn.{ACTIVATIONS[key].__name__}, "
            f"received {kwargs} ({error})."
        ) from error
