"""Blondie24: a checkers evaluator evolved by co-evolution, with no gradients and no human games.

Chellapilla and Fogel (IEEE Trans. Neural Networks 1999; IEEE Trans. Evolutionary Computation 2001) evolved the
weights of a neural network that scores checkers boards, using only the win/draw/loss totals of games the networks
played against each other with a minimax search. This module is that experiment, small enough for a laptop.

The evaluator (`BlondieNet`), from the view of the player it plays for:

- input `(N, 32)`: the 32 playable squares, +1 an own man, +K an own king, -1/-K the opponent's, 0 empty, with the
  board turned 180 degrees for player 1 so that own men always move up the board (K evolves, starts at 2.0);
- a spatial preprocessing layer of 91 tanh units, one for each square sub-board of sizes 3x3 to 8x8
  (36 + 25 + 16 + 9 + 4 + 1), each connected only to the playable squares inside its sub-board (`SUB_BOARDS`);
- two fully connected tanh layers of 40 and 10 units and one tanh output unit in (-1, 1);
- the piece difference (the sum of the 32 inputs, kings counted K) fed straight to the output unit with its own
  weight.

Weights: 854 sub-board connections + 91 biases, 91*40 + 40, 40*10 + 10, 10 + 1 = 5,046 (`NUM_WEIGHTS`), exactly the
papers' figure, which counts weights and biases but not the piece-difference connection. The papers give that
connection no count of its own, so it looks fixed; here it is one more evolved gene (`NUM_GENES` = 5,047), started
like every other weight, so evolution can scale or ignore the only hand-made feature. K is evolved beside the genes.

Evolution (`evolve`, `generation_step`), as in the papers:

- 15 parents (`size`); weights and biases drawn uniformly from [-0.2, 0.2], every gene with its own step size
  sigma = 0.05, K = 2.0;
- each parent makes one offspring by self-adaptive mutation: sigma' = sigma * exp(tau * N(0, 1)) and
  w' = w + sigma' * N(0, 1) per gene, tau = 1 / sqrt(2 * sqrt(n)) with n the number of genes; K' = K *
  exp(N(0, 1) / sqrt(2)) kept in [1, 3] (the 2001 rule as we read it; the 1999 paper stepped K by -0.1, 0 or
  +0.1);
- each of the 2 * size players plays `games` (5) games as the first player against opponents drawn at random
  from the others; every game scores both players, +1 a win, 0 a draw, -2 a loss;
- the `size` best totals survive (ties broken at random) and become the next parents.

Search (`AlphaBetaPlayer`): fail-soft alpha-beta over whole turns (a checkers multi-jump, several actions of the
`Game` interface, is one move), evaluated at a fixed depth from the view of the player searching, as the papers do
(their minimax scored every leaf from the searcher's side). The papers searched 4 ply, extended after forced jumps;
here `extend` whole turns are searched past a leaf where the side to move must capture (0 by default), and the
default depth is 2 turns, so that a generation of 30 players takes seconds to minutes on a laptop core. Games
end drawn after `max_turns` (100) turns, the papers' cap.

What a laptop budget buys (`benchmarks/games_evolve.py`, 8 minutes on one core): at depth 1, 716 generations lift
the best network's score against piece-count alpha-beta of the same depth from 0.50 to 0.64-0.71 (100 games); at
depth 2, 93 generations show no gain over the noise, with most tournament games drawn by the 40-action rule, and
190 generations in 50 minutes with the search extended 2 turns after forced jumps show none either.

Why hand-written, and why numpy: neither PyTorch nor OpenSpiel ship a Blondie24 evaluator or an evolution strategy,
and evaluation sits inside the alpha-beta loop, called once per frontier node with that node's few children. One
call takes 11 us for 1 board and 16 us for 10 in numpy, against 41 and 57 us for the same network as a float64
`torch.nn.Module` on one CPU thread, where each small operation pays PyTorch's dispatch cost (`python
benchmarks/games_evolve.py --measure-forward`, two busy Xeon cores); gradients are never needed. The batch is the
children of one frontier node, the only batch alpha-beta offers.

    >>> from striate.games.evolve import BlondieNet, NUM_WEIGHTS
    >>> import numpy as np
    >>> net = BlondieNet.random(np.random.default_rng(0))
    >>> net(np.zeros((3, 32), np.int8)).shape, NUM_WEIGHTS
    ((3,), 5046)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from striate._io import atomic_write_bytes, atomic_write_json
from striate.errors import ConfigError, DataError
from striate.games.base import Game, State
from striate.games.checkers import CheckersState
from striate.games.players import BasePlayer

SIZE = 8
# the playable (dark) squares as `row * 8 + column`, row 0 at the top, in ascending order; turning the board
# 180 degrees maps square s to 63 - s, which reverses this order
PLAYABLE = tuple(8 * r + c for r in range(SIZE) for c in range(SIZE) if (r + c) % 2 == 1)
SUB_BOARD_SIZES = (3, 4, 5, 6, 7, 8)


def sub_boards() -> tuple[tuple[int, ...], ...]:
    """The 91 square sub-boards, as the indices (into `PLAYABLE`) of the playable squares each covers.

    Ordered by size (3x3 first), then by the row and column of the top-left corner.
    """
    found = []
    for k in SUB_BOARD_SIZES:
        for top in range(SIZE - k + 1):
            for left in range(SIZE - k + 1):
                found.append(tuple(i for i, s in enumerate(PLAYABLE)
                                   if top <= s // SIZE < top + k and left <= s % SIZE < left + k))
    return tuple(found)


SUB_BOARDS = sub_boards()
HIDDEN = (len(SUB_BOARDS), 40, 10)  # 91, 40, 10
NUM_CONNECTIONS = sum(len(members) for members in SUB_BOARDS)  # 854


def count_weights(hidden: Sequence[int] = HIDDEN, connections: int = NUM_CONNECTIONS) -> int:
    """Weights and biases of the network, the quantity the papers report (5,046): the sub-board connections and
    biases, then each fully connected layer's weights and biases, down to the one output."""
    sizes = [*hidden, 1]
    return connections + hidden[0] + sum(a * b + b for a, b in pairwise(sizes))


NUM_WEIGHTS = count_weights()  # 5046
NUM_GENES = NUM_WEIGHTS + 1  # and the piece-difference weight
KING_RANGE = (1.0, 3.0)
WIN = 1000.0  # a won game's value: above any evaluator's output (the network's is in (-1, 1))

_ROWS = np.array([i for members in SUB_BOARDS for i in members])  # input index of each connection
_COLS = np.repeat(np.arange(len(SUB_BOARDS)), [len(members) for members in SUB_BOARDS])  # its sub-board unit


class BlondieNet:
    """The Blondie24 evaluator (module docstring) as plain numpy arrays.

    Genes, in order (`NUM_GENES` = 5,047): the 854 sub-board connections (sub-board by sub-board, squares in
    `PLAYABLE` order), the 91 sub-board biases, the 91x40 weights (row-major, input by output) and 40 biases, the
    40x10 weights and 10 biases, the 10 output weights and the output bias, then the piece-difference weight.

    Args:
        genes: `(NUM_GENES,)`. king: the value K of a king (a man is 1).

    Call with boards `(N, 32)` int8 (`encode`: +1/+2 own man/king, -1/-2 the opponent's, 0 empty) ->
    `(N,)` float64 in (-1, 1), higher is better for the side the boards are seen from.
    """

    def __init__(self, genes: np.ndarray, king: float = 2.0):
        genes = np.asarray(genes, np.float64)
        if genes.shape != (NUM_GENES,):
            raise ConfigError(f"Invalid `genes` for BlondieNet: expected shape ({NUM_GENES},), received "
                              f"{genes.shape}; build one with BlondieNet.random or load_network.")
        if not KING_RANGE[0] <= king <= KING_RANGE[1]:
            raise ConfigError(f"Invalid `king` for BlondieNet: expected a value in [1, 3], received {king!r}.")
        self.genes, self.king = genes, float(king)
        parts = np.split(genes, np.cumsum([NUM_CONNECTIONS, 91, 91 * 40, 40, 40 * 10, 10, 10, 1]))
        self.spatial = np.zeros((32, 91))  # (32, 91), zero outside each unit's sub-board
        self.spatial[_ROWS, _COLS] = parts[0]
        self.spatial_bias = parts[1]
        self.hidden1, self.hidden1_bias = parts[2].reshape(91, 40), parts[3]  # (91, 40)
        self.hidden2, self.hidden2_bias = parts[4].reshape(40, 10), parts[5]  # (40, 10)
        self.output, self.output_bias = parts[6], float(parts[7][0])  # (10,)
        self.piece_weight = float(parts[8][0])
        self._values = np.array([-self.king, -1.0, 0.0, 1.0, self.king])  # code + 2 -> input value

    @classmethod
    def random(cls, rng: np.random.Generator, scale: float = 0.2, king: float = 2.0) -> BlondieNet:
        """Genes uniform in [-scale, scale], the papers' start."""
        return cls(rng.uniform(-scale, scale, NUM_GENES), king)

    def inputs(self, boards: np.ndarray) -> np.ndarray:
        """`(N, 32)` codes -> `(N, 32)` float64 input values (kings worth `king`)."""
        return self._values[np.asarray(boards, np.intp) + 2]

    def __call__(self, boards: np.ndarray) -> np.ndarray:
        x = self.inputs(boards)  # (N, 32)
        h = np.tanh(x @ self.spatial + self.spatial_bias)  # (N, 91)
        h = np.tanh(h @ self.hidden1 + self.hidden1_bias)  # (N, 40)
        h = np.tanh(h @ self.hidden2 + self.hidden2_bias)  # (N, 10)
        return np.tanh(h @ self.output + self.output_bias + self.piece_weight * x.sum(axis=1))  # (N,)


def piece_count(boards: np.ndarray, king: float = 1.5) -> np.ndarray:
    """A material evaluator for the same search: own men + `king` * own kings minus the opponent's.

    `(N, 32)` codes -> `(N,)` float64. The usual baseline for an evolved evaluator.
    """
    values = np.array([-king, -1.0, 0.0, 1.0, king])
    return values[np.asarray(boards, np.intp) + 2].sum(axis=1)


# -- boards of game states ------------------------------------------------------------------------------------------

_SPIEL_OFFSETS = np.array([(s // SIZE) * (SIZE + 2) + 1 + s % SIZE for s in PLAYABLE])  # "8.+.+.+.+\n" per row
_SPIEL_CODES = np.zeros(256, np.int8)
for _symbol, _code in zip(b"o8+*", (1, 2, -1, -2), strict=True):  # OpenSpiel's player 0 "o" (king "8"), 1 "+"
    _SPIEL_CODES[_symbol] = _code
_BOARD_CODES = np.array([0, 1, 2, -1, -2], np.int8)  # `Game.board` code -> signed code from player 0's view


def encode(game: Game, states: Sequence[State], player: int) -> np.ndarray:
    """The boards of checkers `states` seen by `player`, the network's input codes.

    Returns `(N, 32)` int8 over `PLAYABLE`: +1 a man of `player`, +2 a king, -1 and -2 the opponent's, 0 empty,
    turned 180 degrees when `player` is 1 (own men then move towards row 0, as in `planes`).

    Reads the bitboards of striate's engine and OpenSpiel's text board directly (several boards per numpy call);
    any other engine goes through `game.board`.
    """
    if not states:
        return np.zeros((0, 32), np.int8)
    codes = _from_player0(game, states)  # (N, 32), +1/+2 player 0's pieces
    return codes if player == 0 else -codes[:, ::-1]


def _from_player0(game: Game, states: Sequence[State]) -> np.ndarray:
    if isinstance(states[0], CheckersState):  # striate's engine: Python-int bitboards
        words = np.array([(s.pieces[0], s.pieces[1], s.kings) for s in states], np.uint64)  # (N, 3)
        bits = np.unpackbits(words.view(np.uint8).reshape(len(states), 3, 8), axis=2, bitorder="little")
        bits = bits[:, :, PLAYABLE].astype(np.int8)  # (N, 3, 32): player 0, player 1, kings
        return (bits[:, 0] - bits[:, 1]) * (1 + bits[:, 2])
    if game.engine == "openspiel":
        text = b"".join(str(s).encode()[:SIZE * (SIZE + 2)] for s in states)
        if len(text) == len(states) * SIZE * (SIZE + 2):
            rows = np.frombuffer(text, np.uint8).reshape(len(states), -1)  # (N, 80): 8 rows of "8.+.+.+.+\n"
            return _SPIEL_CODES[rows[:, _SPIEL_OFFSETS]]
    return np.stack([_BOARD_CODES[game.board(s).reshape(-1)[list(PLAYABLE)]] for s in states])


# -- search ---------------------------------------------------------------------------------------------------------

Evaluator = Callable[[np.ndarray], np.ndarray]


def whole_turns(game: Game, state: State) -> list[tuple[int, State]]:
    """Every whole turn from `state` as (its first action, the state after it): a multi-jump is followed to its
    end, so each entry hands the move over (or ends the game)."""
    player, found = game.to_play(state), []
    for action in game.legal_actions(state):
        child = game.apply(state, action)
        if game.to_play(child) == player:
            found.extend((action, end) for _, end in whole_turns(game, child))
        else:
            found.append((action, child))
    return found


class AlphaBetaPlayer(BasePlayer):
    """A fixed-depth alpha-beta player for checkers with any board evaluator (a `Player` for `play_match`).

    Args:
        evaluate: `(N, 32)` codes (`encode`) -> `(N,)` scores, higher better for the side the boards are seen from;
            called with the children of each frontier node at once. depth: whole turns searched (>= 1).
        name: shown in match tables. seed: when given, moves of equal value are chosen at random (a seeded
            generator shuffles the root moves); otherwise the first in action order, so the player is deterministic.
        extend: extra whole turns searched past `depth` while the side to move at a leaf must capture (the papers'
            search extension after forced jumps); 0 scores such leaves as they stand.

    `choose(game, state)` returns one action; during a multi-jump the next call searches again from the new state.
    Leaves are scored from the view of the player searching (as the papers' minimax did); a won game is worth
    `WIN` plus the depth left, so nearer wins are preferred and losses put off.
    """

    def __init__(self, evaluate: Evaluator, depth: int = 2, name: str | None = None, seed: int | None = None,
                 extend: int = 0):
        if not isinstance(depth, int) or depth < 1:
            raise ConfigError(f"Invalid `depth` for an alpha-beta player: expected an integer >= 1 (whole turns), "
                              f"received {depth!r}.")
        if not isinstance(extend, int) or extend < 0:
            raise ConfigError(f"Invalid `extend` for an alpha-beta player: expected an integer >= 0 (whole turns "
                              f"after forced jumps), received {extend!r}.")
        self.evaluate, self.depth, self.extend = evaluate, depth, extend
        self.name = name or f"alphabeta-d{depth}"
        self._seeded = seed is not None
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def reset(self, seed: int) -> None:
        """A match's new game: a seeded player draws its tie-breaks afresh; an unseeded one stays deterministic."""
        if self._seeded:
            self._rng = np.random.default_rng(seed)

    def choose(self, game: Game, state: State) -> int:
        turns = whole_turns(game, state)
        if len({action for action, _ in turns}) == 1:
            return turns[0][0]
        if self._rng is not None:
            turns = [turns[i] for i in self._rng.permutation(len(turns))]
        root = game.to_play(state)
        if self.depth == 1:
            values = self._frontier(game, [s for _, s in turns], root, root, -math.inf, math.inf, self.extend)
            return turns[int(np.argmax(values))][0]
        best, best_action = -math.inf, turns[0][0]
        for action, child in turns:
            value = self._value(game, child, root, root, self.depth - 1, best, math.inf, self.extend)
            if value > best:
                best, best_action = value, action
        return best_action

    def _value(self, game: Game, state: State, mover: int, root: int, depth: int, alpha: float,
               beta: float, extra: int) -> float:
        """The value for `mover` of moving into `state` (fail-soft: exact inside (alpha, beta))."""
        if game.is_terminal(state):
            return game.value(state, mover) * (WIN + depth)
        return -self._search(game, state, root, depth, -beta, -alpha, extra)

    def _search(self, game: Game, state: State, root: int, depth: int, alpha: float, beta: float,
                extra: int) -> float:
        """Negamax value of a live `state` for the player to move in it."""
        mover = game.to_play(state)
        children = [child for _, child in whole_turns(game, state)]
        if depth == 1:  # every child is a leaf: score the quiet ones in one batch
            return float(self._frontier(game, children, mover, root, alpha, beta, extra).max())
        best = -math.inf
        for child in children:
            best = max(best, self._value(game, child, mover, root, depth - 1, max(alpha, best), beta, extra))
            if best >= beta:
                break
        return best

    def _frontier(self, game: Game, states: list[State], mover: int, root: int, alpha: float, beta: float,
                  extra: int) -> np.ndarray:
        """`(len(states),)` values for `mover` of the positions after its turns: game results where the game is
        over; one more turn of search where the opponent must capture and `extra` turns are left; the evaluator
        (seen from `root`) elsewhere, all in one call. Searched leaves get fail-soft bounds outside (alpha, beta)."""
        values = np.empty(len(states))
        quiet, pending = [], []
        for i, state in enumerate(states):
            if game.is_terminal(state):
                values[i] = game.value(state, mover) * WIN
            elif extra > 0 and must_capture(game, state):
                pending.append(i)
            else:
                quiet.append(i)
        if quiet:
            scores = np.asarray(self.evaluate(encode(game, [states[i] for i in quiet], root)), np.float64)
            values[quiet] = scores if mover == root else -scores
        best = values[[i for i in range(len(states)) if i not in pending]].max(initial=-math.inf)
        for i in pending:
            if best >= beta:  # cut off: the rest cannot change the caller's choice
                values[i] = -math.inf
                continue
            values[i] = -self._search(game, states[i], root, 1, -beta, -max(alpha, best), extra - 1)
            best = max(best, values[i])
        return values


def must_capture(game: Game, state: State) -> bool:
    """Whether the player to move in a live checkers `state` must jump (captures are forced, so then every legal
    action is a jump: kind bit 1 of the action)."""
    legal = game.legal_actions(state)
    return bool(legal) and bool(legal[0] & 1)


class EvolvedPlayer(AlphaBetaPlayer):
    """Alpha-beta with an evolved `BlondieNet` as its evaluator (deterministic unless `seed` is given)."""

    def __init__(self, network: BlondieNet, depth: int = 2, name: str | None = None, seed: int | None = None,
                 extend: int = 0):
        super().__init__(network, depth, name or f"evolved-d{depth}", seed, extend)
        self.network = network


def play_game(game: Game, players: Sequence[Any], max_turns: int = 100, state: State | None = None) -> float:
    """Play one game between `players[0]` (moves first) and `players[1]`; each has `choose(game, state)`.

    Returns the result from player 0's view (+1, 0, -1); a game still going after `max_turns` whole turns (both
    sides counted) is a draw, the papers' cap.
    """
    state = game.initial() if state is None else state
    turns, mover = 0, game.to_play(state)
    while not game.is_terminal(state):
        state = game.apply(state, players[mover].choose(game, state))
        if game.to_play(state) != mover:
            turns, mover = turns + 1, game.to_play(state)
            if turns >= max_turns and not game.is_terminal(state):
                return 0.0
    return game.returns(state)


# -- evolution ------------------------------------------------------------------------------------------------------

class Individual(NamedTuple):
    """One member of a population: `genes` `(n,)` and its king value."""

    genes: np.ndarray
    king: float


PlayFn = Callable[[Individual, Individual], float]  # (first, second) -> result for `first`: +1, 0 or -1
POINTS = {1.0: 1.0, 0.0: 0.0, -1.0: -2.0}  # a win, a draw, a loss


@dataclass
class Population:
    """Parents of one generation.

    Attributes:
        genes: `(P, n)` float64. sigmas: `(P, n)` float64, each gene's mutation step. kings: `(P,)` in [1, 3].
        scores: `(P,)` tournament points that won each parent its place (zeros before the first tournament), best
            first. generation: completed generations. seed: the seed of `evolve`'s random numbers.
        history: one `GenerationStats` dict per completed generation.
    """

    genes: np.ndarray
    sigmas: np.ndarray
    kings: np.ndarray
    scores: np.ndarray
    generation: int = 0
    seed: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def random(cls, size: int = 15, num_genes: int = NUM_GENES, seed: int = 0, scale: float = 0.2,
               sigma: float = 0.05, king: float = 2.0) -> Population:
        """The papers' start: genes uniform in [-scale, scale], every sigma `sigma`, K = `king`."""
        if not isinstance(size, int) or size < 2:
            raise ConfigError(f"Invalid population `size`: expected an integer >= 2 (parents), received {size!r}.")
        rng = np.random.default_rng((seed, 0))
        genes = rng.uniform(-scale, scale, (size, num_genes))
        return cls(genes, np.full_like(genes, sigma), np.full(size, king), np.zeros(size), seed=seed)

    @property
    def size(self) -> int:
        return len(self.genes)

    def individual(self, index: int) -> Individual:
        return Individual(self.genes[index], float(self.kings[index]))

    def best(self) -> BlondieNet:
        """The network of the parent with the most points (the first one before any tournament)."""
        return BlondieNet(self.genes[0], float(self.kings[0]))


def mutate(genes: np.ndarray, sigmas: np.ndarray, kings: np.ndarray,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Self-adaptive mutation, one offspring per parent.

    Args:
        genes, sigmas: `(P, n)`. kings: `(P,)`.

    Returns `(genes', sigmas', kings')` of the offspring: sigma' = sigma * exp(tau * N(0,1)) with
    tau = 1 / sqrt(2 * sqrt(n)), then genes' = genes + sigma' * N(0,1), both per gene; K' = K * exp(N(0,1) / sqrt(2))
    clipped to [1, 3].
    """
    tau = 1.0 / math.sqrt(2.0 * math.sqrt(genes.shape[1]))
    new_sigmas = sigmas * np.exp(tau * rng.standard_normal(sigmas.shape))
    new_genes = genes + new_sigmas * rng.standard_normal(genes.shape)
    new_kings = np.clip(kings * np.exp(rng.standard_normal(kings.shape) / math.sqrt(2.0)), *KING_RANGE)
    return new_genes, new_sigmas, new_kings


def tournament(players: Sequence[Individual], play: PlayFn, games: int,
               rng: np.random.Generator) -> tuple[np.ndarray, list[float]]:
    """Each player plays `games` games as the first player against opponents drawn uniformly from the others.

    Returns `(points (len(players),), results)`: both players of every game score it (+1 win, 0 draw, -2 loss);
    `results` are the games' results for their first players, in order.
    """
    count = len(players)
    points, results = np.zeros(count), []
    for first in range(count):
        for _ in range(games):
            second = int(rng.integers(count - 1))
            second += second >= first  # anyone but `first`
            result = float(play(players[first], players[second]))
            points[first] += POINTS[result]
            points[second] += POINTS[-result]
            results.append(result)
    return points, results


def select(points: np.ndarray, keep: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the `keep` highest `points`, best first; ties in random order."""
    order = np.lexsort((rng.permutation(len(points)), -np.asarray(points)))
    return order[:keep]


@dataclass
class GenerationStats:
    """What one generation did: `points` of the survivors (best first), the best's `king`, the first players'
    wins/draws/losses over all games, and the wall seconds."""

    generation: int
    points: list[float]
    king: float
    wins: int
    draws: int
    losses: int
    seconds: float

    @property
    def best(self) -> float:
        return self.points[0]


def generation_step(population: Population, play: PlayFn, games: int = 5) -> tuple[Population, GenerationStats]:
    """One generation: every parent makes an offspring, all 2P play the tournament, the best P survive.

    The random numbers come from `default_rng((seed, 1, generation))`, so a run resumed from a saved population
    continues exactly as it would have.
    """
    start, rng = time.perf_counter(), np.random.default_rng((population.seed, 1, population.generation))
    genes, sigmas, kings = mutate(population.genes, population.sigmas, population.kings, rng)
    genes, sigmas = np.concatenate([population.genes, genes]), np.concatenate([population.sigmas, sigmas])
    kings = np.concatenate([population.kings, kings])
    points, results = tournament([Individual(g, float(k)) for g, k in zip(genes, kings, strict=True)], play, games,
                                 rng)
    keep = select(points, population.size, rng)
    stats = GenerationStats(population.generation + 1, points[keep].tolist(), float(kings[keep[0]]),
                            results.count(1.0), results.count(0.0), results.count(-1.0),
                            time.perf_counter() - start)
    survivors = Population(genes[keep], sigmas[keep], kings[keep], points[keep], population.generation + 1,
                           population.seed, [*population.history, asdict(stats)])
    return survivors, stats


def evolve(population: Population, play: PlayFn, generations: int, games: int = 5,
           callback: Callable[[Population, GenerationStats], None] | None = None) -> Population:
    """Run `generations` generations from `population` (see `generation_step`); `callback(population, stats)` after
    each (save, print, stop by raising)."""
    if not isinstance(generations, int) or generations < 0:
        raise ConfigError(f"Invalid `generations`: expected an integer >= 0, received {generations!r}.")
    if not isinstance(games, int) or games < 1:
        raise ConfigError(f"Invalid `games`: expected an integer >= 1 (games per player), received {games!r}.")
    for _ in range(generations):
        population, stats = generation_step(population, play, games)
        if callback is not None:
            callback(population, stats)
    return population


class CheckersMatch:
    """The fitness game of the checkers experiment: `(first, second) -> result for first`, two `EvolvedPlayer`s of
    depth `depth` playing one game of at most `max_turns` turns from the start position."""

    def __init__(self, depth: int = 2, max_turns: int = 100, game: Game | None = None, extend: int = 0):
        from striate.games import create

        if not isinstance(max_turns, int) or max_turns < 1:
            raise ConfigError(f"Invalid `max_turns`: expected an integer >= 1, received {max_turns!r}.")
        self.game = create("checkers") if game is None else game
        if self.game.name != "checkers":
            raise ConfigError(f"Invalid `game` for Blondie24 evolution: expected checkers, received {self.game.name}.")
        AlphaBetaPlayer(piece_count, depth, extend=extend)  # checks the search now rather than in the first game
        self.depth, self.max_turns, self.extend = depth, max_turns, extend

    def __call__(self, first: Individual, second: Individual) -> float:
        players = [EvolvedPlayer(BlondieNet(member.genes, member.king), self.depth, extend=self.extend)
                   for member in (first, second)]
        return play_game(self.game, players, self.max_turns)


def evolve_checkers(generations: int = 10, size: int = 15, depth: int = 2, games: int = 5, max_turns: int = 100,
                    seed: int = 0, out: str | Path | None = None, start: Population | None = None,
                    callback: Callable[[Population, GenerationStats], None] | None = None,
                    game: Game | None = None, extend: int = 0) -> Population:
    """Evolve checkers evaluators (the module docstring's experiment) and return the last parents.

    Args:
        generations: generations to run (more from `start` when given). size: parents (the papers' 15).
        depth: alpha-beta depth of the players in whole turns. games: games each player starts per generation.
        max_turns: turns before a game is drawn. seed: seeds everything; the same arguments give the same run.
        out: a folder where `save_population` writes the population and the best network after every generation.
        start: a population to continue (`load_population`); `size` and `seed` then come from it.
        callback: `callback(population, stats)` after each generation (after saving).
        game: the checkers engine (default `create("checkers")`). extend: whole turns searched past `depth` while
            a capture is forced (`AlphaBetaPlayer`).
    """
    match = CheckersMatch(depth, max_turns, game, extend)
    population = Population.random(size, seed=seed) if start is None else start
    settings = {"depth": depth, "extend": extend, "games": games, "max_turns": max_turns}

    def after(current: Population, stats: GenerationStats) -> None:
        if out is not None:
            save_population(current, out, settings)
        if callback is not None:
            callback(current, stats)

    return evolve(population, match, generations, games, after)


# -- files ----------------------------------------------------------------------------------------------------------

FORMAT = "striate.blondie24"


def save_population(population: Population, folder: str | Path, settings: dict[str, Any] | None = None) -> Path:
    """Write `population.safetensors` + `population.json` and `best.safetensors` + `best.json` to `folder`.

    Each file is written atomically (a reader never sees half a file; an interrupted save leaves the previous
    generation's files). No pickle: arrays in safetensors, the rest in JSON.
    """
    from safetensors.numpy import save

    folder = Path(folder)
    arrays = {"genes": population.genes, "sigmas": population.sigmas, "kings": population.kings,
              "scores": population.scores}
    atomic_write_bytes(folder / "population.safetensors", save({k: np.ascontiguousarray(v, np.float64)
                                                                 for k, v in arrays.items()}))
    atomic_write_json(folder / "population.json", {
        "format": FORMAT, "generation": population.generation, "seed": population.seed, "size": population.size,
        "num_genes": population.genes.shape[1], "settings": settings or {}, "history": population.history})
    best = population.best()
    save_network(best, folder / "best.safetensors", {"generation": population.generation,
                                                     "points": float(population.scores[0]), **(settings or {})})
    return folder


def save_network(network: BlondieNet, path: str | Path, record: dict[str, Any] | None = None) -> Path:
    """Write `network` to `path` (safetensors: `genes` and `king`) and a readable `.json` beside it."""
    from safetensors.numpy import save

    path = Path(path)
    atomic_write_bytes(path, save({"genes": network.genes, "king": np.array([network.king])},
                                  metadata={"format": FORMAT}))
    atomic_write_json(path.with_suffix(".json"), {"format": FORMAT, "king": network.king,
                                                  "num_weights": NUM_WEIGHTS, "num_genes": NUM_GENES,
                                                  **(record or {})})
    return path


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    try:
        return load(path.read_bytes())
    except FileNotFoundError:
        raise DataError(f"Cannot load {path}: expected a file written by striate's Blondie24 evolution, found "
                        "nothing; pass the folder given as `out`.") from None
    except Exception as error:  # safetensors' own errors for a damaged file
        raise DataError(f"Cannot load {path}: expected safetensors arrays ({str(error).splitlines()[0]}).") from None


def load_network(path: str | Path) -> BlondieNet:
    """A network saved by `save_network` (a `best.safetensors`, or a folder holding one)."""
    path = Path(path)
    path = path / "best.safetensors" if path.is_dir() else path
    arrays = _read_arrays(path)
    genes, king = arrays.get("genes"), arrays.get("king")
    if genes is None or king is None or genes.shape != (NUM_GENES,) or king.shape != (1,):
        raise DataError(f"Cannot load {path}: expected `genes` ({NUM_GENES},) and `king` (1,), found "
                        f"{ {k: v.shape for k, v in arrays.items()} }.")
    return BlondieNet(genes, float(king[0]))


def load_population(folder: str | Path) -> Population:
    """The population saved in `folder` by `save_population`, ready to continue with `evolve_checkers(start=...)`."""
    folder = Path(folder)
    try:
        record = json.loads((folder / "population.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"Cannot read {folder / 'population.json'}: expected the JSON a Blondie24 evolution writes "
                        f"({error}).") from None
    arrays = _read_arrays(folder / "population.safetensors")
    size, genes = record.get("size"), record.get("num_genes")
    shapes = {"genes": (size, genes), "sigmas": (size, genes), "kings": (size,), "scores": (size,)}
    found = {k: arrays[k].shape if k in arrays else None for k in shapes}
    if record.get("format") != FORMAT or found != shapes:
        raise DataError(f"Cannot load the population in {folder}: expected format {FORMAT!r} with arrays {shapes}, "
                        f"found {record.get('format')!r} with {found}.")
    return Population(arrays["genes"], arrays["sigmas"], arrays["kings"], arrays["scores"],
                      int(record["generation"]), int(record["seed"]), list(record.get("history", [])))
