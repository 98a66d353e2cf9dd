"""The part of the `Game` interface that OpenSpiel's own states answer (`pyspiel`, from the `games` extra).

A state is a `pyspiel.State`; `apply` clones it before acting, so the state given is never changed. `rollout` clones
once and then plays in place, which is where OpenSpiel's C++ rules pay off.
"""

from __future__ import annotations

import random
from typing import Any

from striate.errors import ConfigError


def load_game(short_name: str, params: dict[str, Any]):
    """`pyspiel.load_game`, with a one-line error naming the extra to install when OpenSpiel is missing."""
    try:
        import pyspiel
    except ImportError as error:
        raise ConfigError(f"The `openspiel` engine needs OpenSpiel, which is not installed ({error}): run "
                          "`pip install 'striate[games]'` or pick `engine='striate'`.") from None
    return pyspiel.load_game(short_name, params)


class SpielRules:
    """Mixin: the rules answered by a loaded OpenSpiel game in `self._spiel`."""

    engine = "openspiel"
    _spiel: Any

    def initial(self):
        return self._spiel.new_initial_state()

    def legal_actions(self, state) -> tuple[int, ...]:
        return tuple(state.legal_actions())

    def apply(self, state, action: int):
        child = state.clone()
        child.apply_action(action)
        return child

    def is_terminal(self, state) -> bool:
        return state.is_terminal()

    def returns(self, state) -> float:
        return state.returns()[0]

    def to_play(self, state) -> int:
        player = state.current_player()
        return player if player >= 0 else -1

    def rollout(self, state, rng: random.Random) -> float:
        state = state.clone()
        while not state.is_terminal():
            state.apply_action(rng.choice(state.legal_actions()))
        return state.returns()[0]
