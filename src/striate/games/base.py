"""The interface every board game implements, and the helpers built only on it (perft, random playouts).

A `Game` object holds the rules and their parameters (board size, komi); a state is a value that only the game
object reads. `apply` returns a new state and leaves the one it was given untouched, so tree search may keep every
node's state without copying it again. Players are numbered 0 (moves first) and 1.

Actions are ints in `range(num_actions)`, a fixed space a policy head can index. A turn may take more than one action
(a checkers multi-jump is one action per jump, the same player keeping the move); `perft` counts whole turns.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from striate.errors import ConfigError

State = Any


class Game(ABC):
    """Rules of a two-player, zero-sum board game with a fixed action space.

    Attributes:
        name: the registry name (`connect4`, `checkers`, `go`).
        engine: `striate` (striate's own code) or `openspiel` (a wrapper around OpenSpiel's C++ rules).
        num_actions: size of the action space; every legal action is in `range(num_actions)`.
        planes_shape: `(C, H, W)` of `planes(state)`.
        players: display names of players 0 and 1.
    """

    name: ClassVar[str]
    engine: ClassVar[str]
    players: ClassVar[tuple[str, str]]
    num_actions: int
    planes_shape: tuple[int, int, int]

    @abstractmethod
    def initial(self) -> State:
        """The start position."""

    @abstractmethod
    def legal_actions(self, state: State) -> tuple[int, ...]:
        """The legal actions in ascending order; empty exactly when the state is terminal."""

    @abstractmethod
    def apply(self, state: State, action: int) -> State:
        """The state after `action` (which must be legal); `state` itself is unchanged."""

    @abstractmethod
    def is_terminal(self, state: State) -> bool:
        """Whether the game is over."""

    @abstractmethod
    def returns(self, state: State) -> float:
        """The result from player 0's view: +1 win, -1 loss, 0 draw; 0 for a state that is not terminal."""

    @abstractmethod
    def to_play(self, state: State) -> int:
        """The player to act (0 or 1), or -1 for a terminal state."""

    @abstractmethod
    def planes(self, state: State) -> np.ndarray:
        """The state as float32 `(C, H, W)` planes from the view of the player to move (see the game's docstring)."""

    @abstractmethod
    def render(self, state: State) -> str:
        """A text board for a terminal, several lines, ending with whose turn it is or the result."""

    @abstractmethod
    def move_text(self, state: State, action: int) -> str:
        """How a person would write `action` in `state` (a column number, `11x18`, `D4`)."""

    @abstractmethod
    def parse_move(self, state: State, text: str) -> tuple[int, ...]:
        """The actions that make the move a person wrote, to apply in order (several for a checkers multi-jump).

        Raises:
            ConfigError: one line naming what was expected, when the text is not a legal move in `state`.
        """

    def value(self, state: State, player: int) -> float:
        """`returns(state)` from `player`'s view."""
        result = self.returns(state)
        return result if player == 0 else -result

    def legal_mask(self, state: State) -> np.ndarray:
        """`(num_actions,)` bool, True at the legal actions."""
        mask = np.zeros(self.num_actions, dtype=bool)
        mask[list(self.legal_actions(state))] = True
        return mask

    def policy_index(self, state: State, action: int) -> int:
        """The policy-head index of `action` in the frame of `planes(state)`; the identity unless the planes are
        turned for the player to move (checkers)."""
        return action

    def symmetries(self, planes: np.ndarray, policy: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Equivalent `(planes, policy)` training pairs, the given pair first.

        Args:
            planes: `(C, H, W)` from `planes(state)`. policy: `(num_actions,)` in the planes' frame.
        """
        return [(planes, policy)]

    def rollout(self, state: State, rng: random.Random) -> float:
        """Play uniformly random legal actions to the end; returns the result from player 0's view."""
        while not self.is_terminal(state):
            state = self.apply(state, rng.choice(self.legal_actions(state)))
        return self.returns(state)

    def _turn_ends(self, state: State, action: int) -> bool:
        """True when `action` surely hands the move over or ends the game (lets `perft` skip applying it)."""
        return True

    def _bad_move(self, text: str, expected: str) -> ConfigError:
        return ConfigError(f"Invalid move {text!r} for {self.describe()}: expected {expected}.")

    def describe(self) -> str:
        """A short name with the parameters, for messages (`9x9 Go, komi 7.5`)."""
        return self.name


def perft(game: Game, state: State, depth: int) -> int:
    """The number of distinct sequences of `depth` whole turns from `state` (a turn ends when the player to move
    changes or the game ends); the move-generation count chess and checkers programs publish. A game that ends
    before `depth` turns adds nothing."""
    if depth == 0:
        return 1
    player = game.to_play(state)
    total = 0
    for action in game.legal_actions(state):
        if depth == 1 and game._turn_ends(state, action):
            total += 1
            continue
        child = game.apply(state, action)
        total += perft(game, child, depth if game.to_play(child) == player else depth - 1)
    return total


def play_out(game: Game, actions: Sequence[int], state: State | None = None) -> State:
    """The state after applying `actions` in order from `state` (the start position when None)."""
    state = game.initial() if state is None else state
    for action in actions:
        state = game.apply(state, action)
    return state
