"""Board games for tree search and self-play: the rules engines of Connect Four, checkers and small-board Go.

Every game implements the `Game` interface (`striate.games.base`): `initial`, `legal_actions`, `apply` (a new state,
the old one untouched), `is_terminal`, `returns`, `to_play`, `planes` for a CNN, `render`, `parse_move` and
`move_text` for people. Each game has two engines that play exactly the same game: striate's own (Python-int
bitboards, no dependency) and a wrapper around OpenSpiel's C++ rules (the `games` extra). `create` picks the one that
was faster inside tree search (`benchmarks/game_engines.py`; the numbers are in each game's module docstring):
striate's own for Connect Four, OpenSpiel for checkers and Go, falling back to striate's own when OpenSpiel is not
installed.

    >>> from striate.games import create
    >>> game = create("go", size=7)
    >>> state = game.apply(game.initial(), game.parse_move(game.initial(), "D4")[0])
    >>> game.planes(state).shape
    (5, 7, 7)

Nothing heavy is imported here: a game module (numpy) and OpenSpiel load when a game is created.
"""

from __future__ import annotations

import importlib
import importlib.util

from striate.errors import ConfigError, did_you_mean
from striate.games.base import Game, perft, play_out

# name -> module, striate's class, OpenSpiel's class, options the constructor takes
_ENGINES = {
    "connect4": ("striate.games.connect4", "ConnectFour", "SpielConnectFour", ()),
    "checkers": ("striate.games.checkers", "Checkers", "SpielCheckers", ()),
    "go": ("striate.games.go", "Go", "SpielGo", ("size", "komi", "max_length")),
}
GAMES = tuple(_ENGINES)
# the engine `create` picks: the faster one in benchmarks/game_engines.py
FASTEST = {"connect4": "striate", "checkers": "openspiel", "go": "openspiel"}


def create(name: str, engine: str = "auto", **options) -> Game:
    """The rules of game `name` (`connect4`, `checkers`, `go`).

    Args:
        engine: `striate` (striate's own), `openspiel` (needs the `games` extra) or `auto` (the faster of the two,
            `FASTEST[name]`, or striate's own when OpenSpiel is not installed).
        options: for `go`: `size` (default 9), `komi` (default 7.5; 9 on 7x7), `max_length` (actions before the game
            is scored as it stands; default `2 * size * size`).

    Raises:
        ConfigError: an unknown game, engine or option, or OpenSpiel missing for `engine="openspiel"`.
    """
    if name not in _ENGINES:
        raise ConfigError(f"Unknown game {name!r}: expected one of {', '.join(GAMES)}.{did_you_mean(name, GAMES)}")
    if engine not in ("auto", "striate", "openspiel"):
        raise ConfigError(f"Invalid `engine` for {name}: expected `auto`, `striate` or `openspiel`, "
                          f"received {engine!r}.")
    module_name, own_class, spiel_class, accepted = _ENGINES[name]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        expected = f"only {', '.join(accepted)}" if accepted else "no options"
        raise ConfigError(f"Unknown option {unknown[0]!r} for {name}: expected {expected}."
                          f"{did_you_mean(unknown[0], accepted)}")
    if engine == "auto":
        engine = FASTEST[name] if FASTEST[name] == "striate" or _has_openspiel() else "striate"
    module = importlib.import_module(module_name)
    return getattr(module, own_class if engine == "striate" else spiel_class)(**options)


def _has_openspiel() -> bool:
    return importlib.util.find_spec("pyspiel") is not None


__all__ = ["FASTEST", "GAMES", "Game", "create", "perft", "play_out"]
