"""Plumbing shared by the layers: checking and normalising int and int-or-tuple arguments."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from striate.errors import ConfigError


def _ntuple(value: int | Sequence[int], n: int, name: str, minimum: int | None = None) -> tuple[int, ...]:
    """Return `value` as a tuple of `n` ints: an int is repeated, a sequence must have length `n`.

    Args:
        value: An int, or a tuple or list of `n` ints.
        n: The length of the result (the number of spatial dimensions).
        name: The argument's name, used in the error message.
        minimum: If given, every entry must be at least this.

    Raises:
        ConfigError: When `value` is not an int or a sequence of `n` ints, or an entry is below `minimum`.
    """
    if _is_int(value):
        result = (int(value),) * n
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == n and all(map(_is_int, value)):
        result = tuple(int(v) for v in value)
    else:
        raise ConfigError(f"Invalid `{name}`: expected an int or a tuple of {n} ints, received {value!r}.")
    if minimum is not None and min(result) < minimum:
        raise ConfigError(f"Invalid `{name}`: expected every entry to be at least {minimum}, received {value!r}.")
    return result


def _is_int(value: object) -> bool:
    # Integral admits numpy ints; bool is Integral too, but `kernel_size=True` is a mistake, not a 1.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_int(value: int, name: str) -> int:
    """Return `value` as an int, raising ConfigError unless it is an int of at least 1 (a channel or feature count)."""
    if not _is_int(value) or value < 1:
        raise ConfigError(f"Invalid `{name}`: expected an int of at least 1, received {value!r}.")
    return int(value)
