"""Monte Carlo tree search in the AlphaZero style (PUCT), advancing many trees at once with one evaluation per round.

Why hand-written: OpenSpiel's `MCTSBot` searches one tree at a time, calls its evaluator once per leaf and works on
`pyspiel` states only. Self-play needs the opposite shape: K games in one process, one leaf from each tree per round,
and all K leaves evaluated by the network in ONE batched call; and it must run on striate's own engines too (Connect
Four's is the faster one). `search_many` does that; `search` is the one-tree case.

The search (Silver et al. 2017/2018, with the choices below stated because papers and programs differ):

- Selection: the edge maximising `Q(s, a) + U(s, a)`, with
  `U(s, a) = c(s) * P(s, a) * sqrt(N(s)) / (1 + N(s, a))` and AlphaZero's slowly growing
  `c(s) = c_puct + log((N(s) + c_base) / c_base)` (`c_puct` 1.25, `c_base` 19,652 as in the AlphaZero pseudo-code;
  below ~1,000 simulations `c(s)` stays within 0.05 of `c_puct`; `c_base=math.inf` gives a constant).
  `N(s)` counts the visits of the node itself, the evaluation that expanded it included, so it is
  `1 + sum_a N(s, a)`: the first choice at a fresh node then follows the priors instead of the action order.
  `Q(s, a)` is the mean backed-up value of the edge from the view of the player to move in `s`; an unvisited
  edge has `Q = 0` (a draw), AlphaZero's first-play value.
- Expansion and evaluation: a new leaf gets the evaluator's priors restricted to its legal actions and
  renormalised (uniform when they sum to zero) and the evaluator's value; a terminal leaf gets the game's result.
- Backup, signed by who moves, never by alternation: the leaf's value is turned into player 0's view, and each edge
  on the path adds it from the view of the player to move at the edge's parent. A checkers multi-jump (the same
  player acting twice in a row) therefore backs up with the right sign.
- Root noise (self-play only): `P = (1 - noise_fraction) * P + noise_fraction * Dir(alpha)` over the legal actions,
  drawn afresh at each search from the root's un-noised priors.
- Several leaves per tree per round (`leaves_per_round > 1`) use a virtual loss: each edge on a pending path counts
  one extra visit with value -1 until its leaf is backed up. A descent that reaches a leaf already waiting for its
  evaluation stops that tree's collection for the round.

The evaluator is any callable `evaluate(states) -> (priors, values)`: `priors` float `(B, num_actions)`, indexed by
action (a network whose policy head works in the `policy_index` frame maps back first), `values` float `(B,)` from
the view of each state's player to move. It is never given a terminal state.

    >>> from striate.games import create
    >>> game = create("connect4")
    >>> root = search(game, game.initial(), uniform_evaluator(game), simulations=50)
    >>> int(root.visit_counts(game.num_actions).sum())
    50
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import numpy as np

from striate.errors import ConfigError, ShapeError
from striate.games.base import Game, State

Evaluator = Callable[[list], tuple[np.ndarray, np.ndarray]]
"""`evaluate(states) -> (priors (B, num_actions), values (B,))`, values from each state's player to move."""

C_PUCT = 1.25
C_BASE = 19652.0
NOISE_FRACTION = 0.25
_VIRTUAL_LOSS = 1.0


def default_dirichlet_alpha(game: Game) -> float:
    """Root-noise concentration: about 10 / the typical number of legal moves, the scaling behind AlphaZero's 0.3
    (chess), 0.15 (shogi) and 0.03 (19x19 Go). 1.0 for Connect Four (7 columns) and checkers (about 8 moves), and
    `10 / size**2` for Go (0.2 on 7x7, 0.12 on 9x9)."""
    if game.name == "go":
        return 10.0 / (game.size * game.size)
    return 1.0


class Node:
    """A position in a search tree; the statistics of its outgoing edges live on it as arrays over `actions`.

    Attributes:
        state: the game state. player: `to_play(state)`, -1 when terminal. actions: the legal actions, `(K,)`.
        terminal: whether the game is over. result: the game's result from player 0's view when terminal.
        prior: `(K,)` float64 priors of the edges (noise mixed in at a root); raw_prior: the same without noise.
        visits: `(K,)` edge visit counts N(s, a). value_sum: `(K,)` summed values W(s, a) from `player`'s view.
        children: `K` child nodes, None until first selected. count: N(s), `1 + visits.sum()` once expanded.
        value: the evaluator's value of this node from `player`'s view.
    """

    __slots__ = ("actions", "children", "count", "player", "prior", "raw_prior", "result", "state", "terminal",
                 "value", "value_sum", "visits")

    def __init__(self, game: Game, state: State):
        self.state = state
        self.terminal = game.is_terminal(state)
        self.player = game.to_play(state)
        self.actions = game.legal_actions(state)
        self.result = game.returns(state) if self.terminal else 0.0
        self.prior = self.raw_prior = self.visits = self.value_sum = None
        self.children: list[Node | None] = []
        self.count = 0.0
        self.value = 0.0

    @property
    def expanded(self) -> bool:
        return self.prior is not None

    def expand(self, priors: np.ndarray, value: float) -> None:
        """Attach the evaluator's output: `priors` `(num_actions,)` over the whole action space, `value` from the view
        of the player to move."""
        prior = np.asarray(priors, np.float64)[list(self.actions)]
        total = prior.sum()
        if not (total > 0 and math.isfinite(total)):
            prior, total = np.ones(len(self.actions)), float(len(self.actions))
        self.prior = self.raw_prior = prior / total
        self.visits, self.value_sum = np.zeros(len(self.actions)), np.zeros(len(self.actions))
        self.children = [None] * len(self.actions)
        self.count, self.value = 1.0, float(value)

    def visit_counts(self, num_actions: int) -> np.ndarray:
        """`(num_actions,)` float64 edge visit counts, zero for illegal and unexpanded actions."""
        counts = np.zeros(num_actions)
        if self.expanded:
            counts[list(self.actions)] = self.visits
        return counts

    def mean_value(self) -> float:
        """The node's value from `player`'s view, averaged over its own evaluation and every simulation below it."""
        if not self.expanded:
            return self.value
        return (self.value + self.value_sum.sum()) / self.count


def puct_scores(node: Node, c_puct: float = C_PUCT, c_base: float = C_BASE) -> np.ndarray:
    """`(K,)` selection scores `Q + U` of an expanded node's edges (formula in the module docstring)."""
    visits = node.visits
    c = c_puct + math.log1p(node.count / c_base)  # log((N + c_base) / c_base), 0 for c_base = inf
    q = np.divide(node.value_sum, visits, out=np.zeros_like(visits), where=visits > 0)
    return q + (c * math.sqrt(node.count)) * node.prior / (1.0 + visits)


def add_dirichlet_noise(node: Node, alpha: float, fraction: float, rng: np.random.Generator) -> None:
    """Mix `Dir(alpha)` noise into an expanded node's priors: `(1 - fraction) * raw_prior + fraction * noise`."""
    noise = rng.dirichlet(np.full(len(node.actions), alpha))
    node.prior = (1.0 - fraction) * node.raw_prior + fraction * noise


def search(game: Game, root: Node | State, evaluate: Evaluator, simulations: int, **options) -> Node:
    """`search_many` with one tree; returns its root."""
    return search_many(game, [root], evaluate, simulations, **options)[0]


def search_many(game: Game, roots: Sequence[Node | State], evaluate: Evaluator, simulations: int, *,
                c_puct: float = C_PUCT, c_base: float = C_BASE, noise: bool = False,
                dirichlet_alpha: float | None = None, noise_fraction: float = NOISE_FRACTION,
                rng: np.random.Generator | None = None, leaves_per_round: int = 1) -> list[Node]:
    """Run `simulations` more simulations in each tree, evaluating one leaf per tree per round in one batched call.

    Args:
        roots: states (a new tree each) or nodes (a tree kept from an earlier search, see `advance`); none terminal.
        evaluate: `evaluate(states) -> (priors (B, num_actions), values (B,))`, B <= `len(roots) * leaves_per_round`.
        simulations: simulations added to each tree (an unexpanded root first costs one evaluation more).
        noise: mix Dirichlet noise into each root's priors (self-play); needs `rng`.
        dirichlet_alpha: the noise concentration; None takes `default_dirichlet_alpha(game)`.
        leaves_per_round: leaves collected per tree per round, with a virtual loss when above 1.

    Returns:
        The root nodes, in order; read `visit_counts(num_actions)` and `mean_value()` from them.

    With `leaves_per_round=1` and an evaluator that depends on each state alone, every tree gets exactly the visit
    counts `search` would give it alone: the trees never see each other, only the evaluation is shared.
    """
    _check_options(simulations, leaves_per_round, noise, rng, noise_fraction)
    trees = [root if isinstance(root, Node) else Node(game, root) for root in roots]
    if any(tree.terminal for tree in trees):
        raise ConfigError("Invalid root for search: expected positions where the game goes on, received a finished "
                          "game; check `is_terminal` before searching.")
    fresh = [tree for tree in trees if not tree.expanded]
    if fresh:
        priors, values = _evaluate(game, evaluate, [tree.state for tree in fresh])
        for tree, prior, value in zip(fresh, priors, values, strict=True):
            tree.expand(prior, value)
    alpha = default_dirichlet_alpha(game) if dirichlet_alpha is None else dirichlet_alpha
    for tree in trees:
        if noise:
            add_dirichlet_noise(tree, alpha, noise_fraction, rng)
        else:
            tree.prior = tree.raw_prior
    remaining = [simulations] * len(trees)
    while any(remaining):
        leaves = _collect(game, trees, remaining, leaves_per_round, c_puct, c_base)
        if not leaves:
            continue  # every descent this round ended in a terminal state and was backed up already
        priors, values = _evaluate(game, evaluate, [leaf.state for _, leaf, _ in leaves])
        for (owner, leaf, path), prior, value in zip(leaves, priors, values, strict=True):
            if leaves_per_round > 1:
                _add_to_path(path, -_VIRTUAL_LOSS, _VIRTUAL_LOSS)
            leaf.expand(prior, value)
            _backup(path, value if leaf.player == 0 else -value)
            remaining[owner] -= 1
    return trees


def _check_options(simulations: int, leaves_per_round: int, noise: bool, rng, noise_fraction: float) -> None:
    if not isinstance(simulations, int) or simulations < 0:
        raise ConfigError(f"Invalid `simulations` for search: expected an int >= 0, received {simulations!r}.")
    if not isinstance(leaves_per_round, int) or leaves_per_round < 1:
        raise ConfigError(f"Invalid `leaves_per_round` for search: expected an int >= 1, received "
                          f"{leaves_per_round!r}.")
    if noise and rng is None:
        raise ConfigError("Invalid root noise for search: expected `rng` (a numpy Generator) with `noise=True`, "
                          "received None; pass `rng=np.random.default_rng(seed)`.")
    if not 0.0 <= noise_fraction <= 1.0:
        raise ConfigError(f"Invalid `noise_fraction` for search: expected a number in [0, 1], received "
                          f"{noise_fraction!r}.")


def _collect(game: Game, trees: list[Node], remaining: list[int], leaves_per_round: int, c_puct: float,
             c_base: float) -> list[tuple[int, Node, list]]:
    """One round: up to `leaves_per_round` new leaves per tree as `(tree index, leaf, path)`; terminal leaves are
    backed up at once (they need no evaluation) and count as simulations."""
    leaves, waiting = [], set()
    for owner, tree in enumerate(trees):
        budget = min(leaves_per_round, remaining[owner])
        while budget > 0:
            leaf, path = _descend(game, tree, c_puct, c_base)
            budget -= 1
            if leaf.terminal:
                _backup(path, leaf.result)
                remaining[owner] -= 1
            elif id(leaf) in waiting:
                break  # reached a leaf already waiting for its evaluation this round
            else:
                if leaves_per_round > 1:
                    _add_to_path(path, _VIRTUAL_LOSS, -_VIRTUAL_LOSS)
                waiting.add(id(leaf))
                leaves.append((owner, leaf, path))
    return leaves


def _descend(game: Game, node: Node, c_puct: float, c_base: float) -> tuple[Node, list[tuple[Node, int]]]:
    """Follow the best edges to a terminal or unexpanded node (creating it on its first visit); returns it and the
    `(node, edge)` path."""
    path = []
    while node.expanded and not node.terminal:
        edge = int(np.argmax(puct_scores(node, c_puct, c_base)))
        path.append((node, edge))
        child = node.children[edge]
        if child is None:
            child = node.children[edge] = Node(game, game.apply(node.state, node.actions[edge]))
        node = child
    return node, path


def _backup(path: list[tuple[Node, int]], value: float) -> None:
    """Add one visit and `value` (player 0's view) to every edge of `path`, signed for each parent's mover."""
    for node, edge in path:
        node.visits[edge] += 1.0
        node.value_sum[edge] += value if node.player == 0 else -value
        node.count += 1.0


def _add_to_path(path: list[tuple[Node, int]], visits: float, value: float) -> None:
    """Add `visits` and `value` (each parent's own view) to every edge of `path`: applies or removes a virtual loss."""
    for node, edge in path:
        node.visits[edge] += visits
        node.value_sum[edge] += value
        node.count += visits


def _evaluate(game: Game, evaluate: Evaluator, states: list) -> tuple[np.ndarray, np.ndarray]:
    priors, values = evaluate(states)
    priors, values = np.asarray(priors), np.asarray(values).reshape(-1)
    expected = (len(states), game.num_actions)
    if priors.shape != expected or values.shape != (len(states),):
        raise ShapeError(f"Invalid evaluator output for {game.describe()}: expected priors {expected} and values "
                         f"({len(states)},), received {tuple(priors.shape)} and {tuple(values.shape)}.")
    if not (np.all(priors >= 0) and np.all(np.isfinite(values))):
        raise ConfigError(f"Invalid evaluator output for {game.describe()}: expected probabilities >= 0 (after a "
                          "softmax) and finite values, received negative priors or non-finite values.")
    return priors, values


def advance(game: Game, root: Node, action: int) -> Node:
    """The subtree after `action`, to reuse as the next search's root (its statistics kept), or a fresh node."""
    if action not in root.actions:
        raise ConfigError(f"Invalid `action` for advance in {game.describe()}: expected one of {root.actions}, "
                          f"received {action!r}.")
    if root.expanded:
        child = root.children[root.actions.index(action)]
        if child is not None:
            return child
    return Node(game, game.apply(root.state, action))


def policy_from_visits(counts: np.ndarray, temperature: float) -> np.ndarray:
    """Move probabilities `counts ** (1 / temperature)`, normalised; float64, same shape as `counts`.

    `temperature=0` gives the argmax, split evenly between tied counts. Computed in log space, so a small
    temperature (0.01) cannot overflow.

        >>> policy_from_visits(np.array([0.0, 1.0, 3.0]), 1.0).tolist()
        [0.0, 0.25, 0.75]
    """
    counts = np.asarray(counts, np.float64)
    if temperature < 0 or not math.isfinite(temperature):
        raise ConfigError(f"Invalid `temperature`: expected a number >= 0, received {temperature!r}.")
    if counts.size == 0 or counts.max() <= 0 or (counts < 0).any():
        raise ConfigError("Invalid visit counts: expected counts >= 0 with at least one above 0, received "
                          f"{counts.tolist()}; run at least one simulation.")
    if temperature == 0:
        best = counts == counts.max()
        return best / best.sum()
    logs = np.log(counts, out=np.full_like(counts, -np.inf), where=counts > 0)
    weights = np.exp((logs - logs.max()) / temperature)
    return weights / weights.sum()


def temperature_for(ply: int, temperature_moves: int, temperature: float = 1.0) -> float:
    """AlphaZero's schedule: `temperature` for the first `temperature_moves` actions of a game, then 0 (argmax)."""
    return temperature if ply < temperature_moves else 0.0


def sample_action(root: Node, num_actions: int, temperature: float, rng: np.random.Generator) -> int:
    """An action drawn from `policy_from_visits(root.visit_counts(num_actions), temperature)`; at temperature 0
    a random one of the most visited."""
    policy = policy_from_visits(root.visit_counts(num_actions), temperature)
    return int(rng.choice(num_actions, p=policy))


def uniform_evaluator(game: Game) -> Evaluator:
    """Uniform priors over the legal actions and value 0: search guided by terminal results alone."""
    def evaluate(states: list) -> tuple[np.ndarray, np.ndarray]:
        priors = np.zeros((len(states), game.num_actions), np.float32)  # (B, num_actions)
        for row, state in enumerate(states):
            legal = list(game.legal_actions(state))
            priors[row, legal] = 1.0 / len(legal)
        return priors, np.zeros(len(states), np.float32)
    return evaluate


def rollout_evaluator(game: Game, rollouts: int = 1, rng: random.Random | int | None = None) -> Evaluator:
    """Uniform priors over the legal actions; the value is the mean result of `rollouts` uniformly random playouts
    (`Game.rollout`), from the view of the state's player to move. Classic "MCTS with random rollouts".

    Args:
        rng: a `random.Random` (shared, so successive calls differ) or a seed.
    """
    if not isinstance(rollouts, int) or rollouts < 1:
        raise ConfigError(f"Invalid `rollouts`: expected an int >= 1, received {rollouts!r}.")
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)

    def evaluate(states: list) -> tuple[np.ndarray, np.ndarray]:
        priors = np.zeros((len(states), game.num_actions), np.float32)  # (B, num_actions)
        values = np.zeros(len(states), np.float32)  # (B,)
        for row, state in enumerate(states):
            legal = list(game.legal_actions(state))
            priors[row, legal] = 1.0 / len(legal)
            mean = sum(game.rollout(state, rng) for _ in range(rollouts)) / rollouts  # player 0's view
            values[row] = mean if game.to_play(state) == 0 else -mean
        return priors, values
    return evaluate


__all__ = ["C_BASE", "C_PUCT", "NOISE_FRACTION", "Evaluator", "Node", "add_dirichlet_noise", "advance",
           "default_dirichlet_alpha", "policy_from_visits", "puct_scores", "rollout_evaluator", "sample_action",
           "search", "search_many", "temperature_for", "uniform_evaluator"]
