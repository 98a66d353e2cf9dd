"""Players for matches and for people: random, alpha-beta with a heuristic, MCTS (random rollouts or any evaluator),
a network scaffold, and a person at a terminal. GNU Go over GTP lives in `striate.games.gtp`.

Every player meets one contract (`Player`): `reset(seed)` before each game, `choose(game, state)` when it is to move,
and `observe(game, state, action)` after every action of either side (a tree-reusing or external player keeps its
own position in step). `play_match` (`striate.games.match`) drives them. A player gives up by raising `Resignation`.

Why hand-written: the baselines must run on striate's `Game` interface (both engines) and be reproducible from a
seed; OpenSpiel's bots work on `pyspiel` states only, and its minimax does no move ordering.

Alpha-beta is written in minimax form (a maximising and a minimising side, decided by `to_play`) rather than
negamax, because a checkers multi-jump lets the same player act twice in a row; its depth counts actions, so each
jump of a multi-jump is one ply. Terminal positions score `+-(WIN - ply)`, so a quicker win (and a later loss) is
preferred; heuristics must stay far below `WIN`.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable
from typing import Protocol, TextIO, runtime_checkable

import numpy as np

from striate.errors import ConfigError
from striate.games.base import Game, State
from striate.games.mcts import (
    C_BASE,
    C_PUCT,
    Evaluator,
    Node,
    advance,
    rollout_evaluator,
    sample_action,
    search,
)

Heuristic = Callable[[Game, State, int], float]
"""`heuristic(game, state, player) -> score` of a non-terminal state from `player`'s view (larger is better)."""

WIN = 1_000_000.0
ROLLOUT_C_PUCT = 5.0  # MCTSPlayer's exploration constant with random rollouts (see its docstring)
_NEXT = object()  # MCTSPlayer: the kept tree stands for whatever state the caller passes next


class Resignation(Exception):
    """Raised by `Player.choose` to give the game up; `play_match` scores it as a loss for that player."""

    def __init__(self, player: str, reason: str):
        super().__init__(f"{player} resigned: {reason}")
        self.player, self.reason = player, reason


@runtime_checkable
class Player(Protocol):
    """What `play_match` needs from a player."""

    name: str

    def reset(self, seed: int) -> None:
        """Start a new game; `seed` makes the player's random choices repeatable."""

    def choose(self, game: Game, state: State) -> int:
        """A legal action for the player to move in `state` (or raise `Resignation`)."""

    def observe(self, game: Game, state: State, action: int) -> None:
        """`action` was played in `state` (by either side, this player's own actions included)."""


class BasePlayer:
    """No-op `reset` and `observe`, for players that keep no position of their own."""

    name = "player"

    def reset(self, seed: int) -> None:
        pass

    def observe(self, game: Game, state: State, action: int) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class RandomPlayer(BasePlayer):
    """Uniformly random legal actions, repeatable from the seed given to `reset`."""

    def __init__(self, seed: int = 0, name: str = "random"):
        self.name, self._rng = name, random.Random(seed)

    def reset(self, seed: int) -> None:
        self._rng.seed(seed)

    def choose(self, game: Game, state: State) -> int:
        return self._rng.choice(game.legal_actions(state))


# -- heuristics ------------------------------------------------------------------------------------------------------

def _connect4_windows() -> np.ndarray:
    """`(69, 4)` flat cell indices of the `(6, 7)` board's lines of four: 24 across, 21 up, 24 diagonal."""
    windows = []
    for row in range(6):
        for column in range(7):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (-1, 1)):
                cells = [(row + k * dr, column + k * dc) for k in range(4)]
                if all(0 <= r < 6 and 0 <= c < 7 for r, c in cells):
                    windows.append([r * 7 + c for r, c in cells])
    return np.array(windows)


_WINDOWS = _connect4_windows()
_WINDOW_WEIGHT = np.array([0.0, 1.0, 3.0, 9.0, 0.0])  # by discs in a window that holds one colour only


def connect4_windows(game: Game, state: State, player: int) -> float:
    """Connect Four window score: over the 69 lines of four, `+w[k]` for each holding `k` of `player`'s discs and
    none of the opponent's, `-w[k]` the other way round, with `w = 1, 3, 9` for 1, 2, 3 discs (open twos and threes
    weigh most; central cells lie on more lines)."""
    cells = game.board(state).reshape(-1)[_WINDOWS]  # (69, 4): 0 empty, 1 player 0, 2 player 1
    own, other = (cells == 1 + player).sum(1), (cells == 2 - player).sum(1)
    return float(_WINDOW_WEIGHT[own][other == 0].sum() - _WINDOW_WEIGHT[other][own == 0].sum())


KING_VALUE = 1.5


def piece_count(game: Game, state: State, player: int) -> float:
    """Checkers material: men 1, kings `KING_VALUE` (1.5), `player`'s minus the opponent's."""
    counts = np.bincount(game.board(state).reshape(-1), minlength=5)  # empty, man, king, man, king
    first = counts[1] + KING_VALUE * counts[2]
    second = counts[3] + KING_VALUE * counts[4]
    return float(first - second if player == 0 else second - first)


def area_estimate(game: Game, state: State, player: int) -> float:
    """Go: the area score of the board as it stands (stones plus surrounded empty regions, komi to White), from
    `player`'s view; dead stones are not removed, so it is an estimate."""
    score = game.score(state)
    return float(score if player == 0 else -score)


HEURISTICS: dict[str, Heuristic] = {"connect4": connect4_windows, "checkers": piece_count, "go": area_estimate}


def default_heuristic(game: Game) -> Heuristic:
    """The game's heuristic in `HEURISTICS`."""
    if game.name not in HEURISTICS:
        raise ConfigError(f"No default heuristic for {game.describe()}: expected one of {', '.join(HEURISTICS)}; "
                          "pass `evaluator=`.")
    return HEURISTICS[game.name]


# -- alpha-beta ------------------------------------------------------------------------------------------------------

def static_score(game: Game, state: State, viewer: int, heuristic: Heuristic, ply: int) -> float:
    """The leaf score alpha-beta uses, from `viewer`'s view: `+-(WIN - ply)` or 0 for a finished game, else the
    heuristic."""
    if game.is_terminal(state):
        return game.value(state, viewer) * (WIN - ply)
    return heuristic(game, state, viewer)


def alphabeta(game: Game, state: State, depth: int, heuristic: Heuristic,
              rng: random.Random | None = None) -> tuple[float, int]:
    """Fixed-depth alpha-beta from `state`: `(score from the mover's view, best action)`.

    Equal to plain minimax with `static_score` at the leaves (the tests check this). Children are ordered by
    `static_score` where two or more plies remain, so cut-offs come early; `rng` shuffles the root's actions first,
    so that among equally good moves a random one is chosen.
    """
    if depth < 1:
        raise ConfigError(f"Invalid `depth` for alpha-beta: expected an int >= 1, received {depth!r}.")
    viewer = game.to_play(state)
    if viewer < 0:
        raise ConfigError("Invalid position for alpha-beta: expected a game that goes on, received a finished one.")
    actions = list(game.legal_actions(state))
    if rng is not None:
        rng.shuffle(actions)
    best, best_action, alpha = -math.inf, actions[0], -math.inf
    for action, child in _ordered(game, state, actions, depth, viewer, heuristic, 1):
        score = _value(game, child, depth - 1, alpha, math.inf, 1, viewer, heuristic)
        if score > best:
            best, best_action, alpha = score, action, max(alpha, score)
    return best, best_action


def _ordered(game: Game, state: State, actions: list[int], depth: int, viewer: int, heuristic: Heuristic,
             ply: int) -> list[tuple[int, State]]:
    """`(action, child)` pairs, the mover's likely best first when the children will be searched further."""
    children = [(action, game.apply(state, action)) for action in actions]
    if depth >= 2:
        sign = 1.0 if game.to_play(state) == viewer else -1.0
        children.sort(key=lambda pair: -sign * static_score(game, pair[1], viewer, heuristic, ply))
    return children


def _value(game: Game, state: State, depth: int, alpha: float, beta: float, ply: int, viewer: int,
           heuristic: Heuristic) -> float:
    """The minimax value of `state` from `viewer`'s view, exact when it lies inside `(alpha, beta)`."""
    if depth == 0 or game.is_terminal(state):
        return static_score(game, state, viewer, heuristic, ply)
    maximising = game.to_play(state) == viewer
    best = -math.inf if maximising else math.inf
    for _, child in _ordered(game, state, list(game.legal_actions(state)), depth, viewer, heuristic, ply + 1):
        score = _value(game, child, depth - 1, alpha, beta, ply + 1, viewer, heuristic)
        if maximising:
            best, alpha = max(best, score), max(alpha, score)
        else:
            best, beta = min(best, score), min(beta, score)
        if alpha >= beta:
            break
    return best


class AlphaBetaPlayer(BasePlayer):
    """Fixed-depth alpha-beta with a heuristic (`default_heuristic(game)` when None); ties broken by a seeded rng.

    Args:
        depth: plies searched (actions; a checkers multi-jump's jumps count one each).
        evaluator: `heuristic(game, state, player) -> float`, e.g. `piece_count`.
    """

    def __init__(self, depth: int = 4, evaluator: Heuristic | None = None, seed: int = 0, name: str | None = None):
        if not isinstance(depth, int) or depth < 1:
            raise ConfigError(f"Invalid `depth` for AlphaBetaPlayer: expected an int >= 1, received {depth!r}.")
        self.depth, self.evaluator, self._rng = depth, evaluator, random.Random(seed)
        self.name = name or f"alphabeta-{depth}"

    def reset(self, seed: int) -> None:
        self._rng.seed(seed)

    def choose(self, game: Game, state: State) -> int:
        heuristic = self.evaluator or default_heuristic(game)
        return alphabeta(game, state, self.depth, heuristic, self._rng)[1]


# -- tree search -----------------------------------------------------------------------------------------------------

class MCTSPlayer(BasePlayer):
    """PUCT tree search (`striate.games.mcts`) with `simulations` per action; random rollouts by default.

    Args:
        evaluator: `evaluate(states) -> (priors, values)`; None uses `rollout_evaluator(game, rollouts)` with the
            player's seeded rng.
        c_puct: None takes `ROLLOUT_C_PUCT` (5) with rollouts and `C_PUCT` (1.25) with an evaluator. Uniform priors
            over ~7 moves and one-rollout values need the larger constant: `c_puct * P` near 0.7 is UCT's usual
            exploration, and at Connect Four with 200 simulations it won 22 of 60 games against alpha-beta depth 2
            where 1.25 won 10 (both beat random 20 of 20).
        temperature: 0 plays the most visited action (ties at random); above 0 samples the visit policy.
        reuse_tree: keep the subtree of the actions played (`observe`) for the next search.
    """

    def __init__(self, simulations: int = 200, evaluator: Evaluator | None = None, *, rollouts: int = 1,
                 c_puct: float | None = None, c_base: float = C_BASE, temperature: float = 0.0, reuse_tree: bool = True,
                 seed: int = 0, name: str | None = None):
        if not isinstance(simulations, int) or simulations < 1:
            raise ConfigError(f"Invalid `simulations` for MCTSPlayer: expected an int >= 1, received {simulations!r}.")
        self.simulations, self.evaluator, self.rollouts = simulations, evaluator, rollouts
        if c_puct is None:
            c_puct = C_PUCT if evaluator is not None else ROLLOUT_C_PUCT
        self.c_puct, self.c_base, self.temperature, self.reuse_tree = c_puct, c_base, temperature, reuse_tree
        self._random, self._numpy = random.Random(seed), np.random.default_rng(seed)
        self._evaluators: dict[int, Evaluator] = {}
        self._root: Node | None = None
        self._position: object = None  # the caller's state object that `_root` stands for
        self.name = name or f"mcts-{simulations}" + ("" if evaluator is not None else "-rollouts")

    def reset(self, seed: int) -> None:
        self._random.seed(seed)
        self._numpy = np.random.default_rng(seed)
        self._root = self._position = None

    def _evaluator(self, game: Game) -> Evaluator:
        if self.evaluator is not None:
            return self.evaluator
        if id(game) not in self._evaluators:
            self._evaluators[id(game)] = rollout_evaluator(game, self.rollouts, self._random)
        return self._evaluators[id(game)]

    def _kept_root(self, state: State) -> Node | None:
        """The kept tree when it stands for `state`: the one searched from this very object, or the subtree of the
        last observed action (the caller's next state object, whichever arrives first, is that position)."""
        if self._root is not None and (self._position is state or self._position is _NEXT):
            self._position = state
            return self._root
        return None

    def choose(self, game: Game, state: State) -> int:
        kept = self._kept_root(state)
        self._root = search(game, state if kept is None else kept, self._evaluator(game), self.simulations,
                            c_puct=self.c_puct, c_base=self.c_base)
        self._position = state
        return sample_action(self._root, game.num_actions, self.temperature, self._numpy)

    def observe(self, game: Game, state: State, action: int) -> None:
        kept = self._kept_root(state)
        if self.reuse_tree and kept is not None:
            self._root, self._position = advance(game, kept, action), _NEXT
        else:
            self._root = self._position = None


class NetworkPlayer(MCTSPlayer):
    """A policy/value network behind an `evaluate(states) -> (priors, values)` callable: PUCT search with
    `simulations` per action, or the network's own most probable legal action when `simulations=0`."""

    def __init__(self, evaluate: Evaluator, simulations: int = 100, *, c_puct: float = C_PUCT,
                 c_base: float = C_BASE, temperature: float = 0.0, reuse_tree: bool = True, seed: int = 0,
                 name: str = "network"):
        super().__init__(max(simulations, 1), evaluate, c_puct=c_puct, c_base=c_base, temperature=temperature,
                         reuse_tree=reuse_tree, seed=seed, name=name)
        if not isinstance(simulations, int) or simulations < 0:
            raise ConfigError(f"Invalid `simulations` for NetworkPlayer: expected an int >= 0, received "
                              f"{simulations!r}.")
        self.simulations = simulations

    def choose(self, game: Game, state: State) -> int:
        if self.simulations > 0:
            return super().choose(game, state)
        priors, _ = self.evaluator([state])
        legal = list(game.legal_actions(state))
        row = np.asarray(priors)[0, legal]  # (num_legal,)
        return legal[int(self._numpy.choice(np.flatnonzero(row == row.max())))]


# -- people ----------------------------------------------------------------------------------------------------------

class HumanPlayer(BasePlayer):
    """A person typing moves (`parse_move`'s notation; `resign` or end of input gives up); a bad move gets its
    one-line reason and the question again. A checkers multi-jump typed at once (`9x18x27`) is played jump by jump.

    Args:
        input, output: text streams; None reads `sys.stdin` and writes `sys.stdout` (looked up at each move).
        show_board: print `render(state)` before asking.
    """

    def __init__(self, name: str = "human", input: TextIO | None = None, output: TextIO | None = None,
                 show_board: bool = True):
        self.name, self._input, self._output, self.show_board = name, input, output, show_board
        self._queued: list[int] = []

    def reset(self, seed: int) -> None:
        self._queued = []

    def choose(self, game: Game, state: State) -> int:
        if self._queued:
            return self._queued.pop(0)
        source, sink = self._input or sys.stdin, self._output or sys.stdout
        if self.show_board:
            print(game.render(state), file=sink)
        while True:
            print(f"{self.name} ({game.players[game.to_play(state)]}), your move: ", end="", file=sink, flush=True)
            line = source.readline()
            if not line:
                raise Resignation(self.name, "the input ended")
            text = line.strip()
            if text.lower() == "resign":
                raise Resignation(self.name, "resigned at the prompt")
            try:
                actions = game.parse_move(state, text)
            except ConfigError as error:
                print(error, file=sink)
                continue
            self._queued = list(actions[1:])
            return actions[0]


__all__ = ["HEURISTICS", "KING_VALUE", "ROLLOUT_C_PUCT", "WIN", "AlphaBetaPlayer", "BasePlayer", "Heuristic",
           "HumanPlayer", "MCTSPlayer", "NetworkPlayer", "Player", "RandomPlayer", "Resignation", "alphabeta",
           "area_estimate", "connect4_windows", "default_heuristic", "piece_count", "static_score"]
