"""Self-play in the style of AlphaZero: many games at once in one process, their searches sharing one batched network
evaluation per round, and several such processes side by side.

`play_games` plays `games` games of the network against itself: every move is a PUCT search (`mcts.search_many`
over all unfinished games, Dirichlet noise at the roots), the move is drawn from the visit counts at temperature 1
for the first `temperature_moves` actions and is the most visited one after that, and the searched tree below the
chosen move is kept for the next search. Each position becomes a training example: the planes, the visit
distribution (in the policy head's frame) and, once the game is over, its result from the view of the player who
moved there, with every symmetry of the board (`Game.symmetries`).

Playout cap randomisation (Wu 2019, KataGo), on when `fast_simulations` > 0: each move is a full search (with
`simulations` and root noise) with probability `full_fraction` (the first move of a game always), and a fast one
(`fast_simulations`, no noise) otherwise; only the positions of full searches become examples. Games then cost
about `full_fraction + (1 - full_fraction) * fast / full` as much, so more finished games (the value head's only
signal) come from the same time, while every policy target still comes from a full search.

`SelfPlayPool` runs `play_games` in `workers` processes (spawned, one PyTorch thread each), each with its own copy
of the network, sent as a dict of arrays at every iteration.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from striate.games import create
from striate.games.mcts import advance, sample_action, search_many, temperature_for
from striate.games.network import PolicyValueNet, evaluator, policy_target


@dataclass
class Examples:
    """Training examples: planes `(N, C, H, W)` float32, policies `(N, A)` float32 (visit distributions in the
    policy head's frame), values `(N,)` float32 (results from the view of the player to move)."""

    planes: np.ndarray
    policies: np.ndarray
    values: np.ndarray

    @staticmethod
    def concatenate(parts: list[Examples]) -> Examples:
        return Examples(np.concatenate([p.planes for p in parts]), np.concatenate([p.policies for p in parts]),
                        np.concatenate([p.values for p in parts]))

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class SelfPlayStats:
    """What a batch of self-play games did: results from player 0's view, lengths in actions, positions."""

    results: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def merge(self, other: SelfPlayStats) -> None:
        self.results += other.results
        self.lengths += other.lengths


def play_games(game, evaluate, games: int, *, simulations: int, temperature_moves: int, rng: np.random.Generator,
               dirichlet_alpha: float | None = None, symmetries: bool = True, max_actions: int | None = None,
               fast_simulations: int = 0, full_fraction: float = 0.25) -> tuple[Examples, SelfPlayStats]:
    """Play `games` self-play games at once; see the module docstring.

    Args:
        game: the rules. evaluate: `evaluate(states) -> (priors, values)` (see `network.evaluator`).
        simulations: searches per move. temperature_moves: actions drawn in proportion to visit counts at the start
        of each game. rng: moves and noise. dirichlet_alpha: root noise (None: the game's default).
        symmetries: add every symmetric copy of each position. max_actions: stop a game there as a draw.
        fast_simulations: above 0, playout cap randomisation (module docstring) with full searches at a rate of
        `full_fraction`.
    """
    trees = [None] * games
    states = [game.initial() for _ in range(games)]
    plies = [0] * games
    records: list[list[tuple[np.ndarray, np.ndarray, int]]] = [[] for _ in range(games)]
    results: list[float | None] = [None] * games
    while True:
        active = [g for g in range(games) if results[g] is None]
        if not active:
            break
        full = [fast_simulations <= 0 or plies[g] == 0 or rng.random() < full_fraction for g in active]
        roots: dict[int, Any] = {}
        for chosen, count, noise in ((True, simulations, True), (False, fast_simulations, False)):
            group = [g for g, f in zip(active, full, strict=True) if f == chosen]
            if group:
                found = search_many(game, [trees[g] if trees[g] is not None else states[g] for g in group],
                                    evaluate, count, noise=noise, dirichlet_alpha=dirichlet_alpha, rng=rng)
                roots.update(zip(group, found, strict=True))
        for g, recorded in zip(active, full, strict=True):
            root, state = roots[g], states[g]
            if recorded:
                visits = root.visit_counts(game.num_actions)
                records[g].append((game.planes(state), policy_target(game, state, visits), game.to_play(state)))
            action = sample_action(root, game.num_actions, temperature_for(plies[g], temperature_moves), rng)
            trees[g] = advance(game, root, action)
            states[g], plies[g] = trees[g].state, plies[g] + 1
            if game.is_terminal(states[g]):
                results[g] = float(game.returns(states[g]))
            elif max_actions is not None and plies[g] >= max_actions:
                results[g] = 0.0
    planes, policies, values = [], [], []
    for g in range(games):
        for board, policy, player in records[g]:
            outcome = results[g] if player == 0 else -results[g]
            pairs = game.symmetries(board, policy) if symmetries else [(board, policy)]
            for p, q in pairs:
                planes.append(p)
                policies.append(q)
                values.append(outcome)
    examples = Examples(np.stack(planes).astype(np.float32), np.stack(policies).astype(np.float32),
                        np.asarray(values, np.float32))
    return examples, SelfPlayStats(list(results), plies)


# --- worker processes ---------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(game_name: str, game_options: dict, network_config: dict) -> None:
    torch.set_num_threads(1)
    game = create(game_name, **game_options)
    network = PolicyValueNet(**network_config)
    _WORKER.update(game=game, network=network, evaluate=evaluator(network, game))


def _work(weights: dict[str, np.ndarray], games: int, seed: int, options: dict) -> tuple[Examples, SelfPlayStats]:
    network = _WORKER["network"]
    network.load_state_dict({key: torch.from_numpy(value) for key, value in weights.items()})
    return play_games(_WORKER["game"], _WORKER["evaluate"], games, rng=np.random.default_rng(seed), **options)


class SelfPlayPool:
    """`workers` processes playing self-play games with the weights they are sent (`workers=0`: in this process).

    Each process plays `games_per_worker` games at once per call, so one network evaluation serves that many
    searches; more processes use more cores.
    """

    def __init__(self, game_name: str, game_options: dict, network_config: dict, workers: int):
        self.workers = int(workers)
        self.game_name, self.game_options, self.network_config = game_name, game_options, network_config
        self._executor = None
        if self.workers > 0:
            context = multiprocessing.get_context("spawn")  # no fork: the parent's threads and RNGs stay its own
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                                 initargs=(game_name, game_options, network_config))
        else:
            _init_worker(game_name, game_options, network_config)

    def play(self, network: torch.nn.Module, games: int, seed: int, options: dict) -> tuple[Examples, SelfPlayStats]:
        """Play `games` games split over the workers; examples in a fixed order (by worker), whatever finishes first."""
        weights = {key: value.detach().cpu().numpy().copy() for key, value in network.state_dict().items()}
        shares = [games // max(self.workers, 1) + (1 if w < games % max(self.workers, 1) else 0)
                  for w in range(max(self.workers, 1))]
        if self._executor is None:
            return _work(weights, games, seed, options)
        futures = [self._executor.submit(_work, weights, share, seed * 1_000 + w, options)
                   for w, share in enumerate(shares) if share]
        parts = [future.result() for future in futures]
        stats = SelfPlayStats()
        for _, part in parts:
            stats.merge(part)
        return Examples.concatenate([examples for examples, _ in parts]), stats

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None
