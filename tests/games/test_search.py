"""Tree search and alpha-beta: PUCT by hand, forced wins and blocks found, root noise and temperature by hand, signs
through a checkers multi-jump, batched trees equal to single trees, and alpha-beta against plain minimax."""

from __future__ import annotations

import doctest
import math
import random
import zlib

import numpy as np
import pytest

import striate.games.mcts as mcts_module
from striate.errors import ConfigError, ShapeError
from striate.games import create
from striate.games.checkers import Checkers
from striate.games.mcts import (
    Node,
    add_dirichlet_noise,
    advance,
    default_dirichlet_alpha,
    policy_from_visits,
    puct_scores,
    rollout_evaluator,
    search,
    search_many,
    temperature_for,
    uniform_evaluator,
)
from striate.games.players import (
    KING_VALUE,
    WIN,
    alphabeta,
    area_estimate,
    connect4_windows,
    piece_count,
    static_score,
)


def play(game, moves: str, state=None):
    """Apply moves written as a person would (`4 4 3`, `11-15`, `D4`)."""
    state = game.initial() if state is None else state
    for text in moves.split():
        for action in game.parse_move(state, text):
            state = game.apply(state, action)
    return state


def diagram(text: str) -> np.ndarray:
    """An (8, 8) checkers board from rows of `.bBwW`, top row (White's home) first."""
    codes = {".": 0, "b": 1, "B": 2, "w": 3, "W": 4}
    return np.array([[codes[c] for c in row] for row in text.split()], np.int8)


def hashed_evaluator(game):
    """Deterministic priors and values that depend on each state alone (a stand-in for a network)."""
    def evaluate(states):
        priors = np.zeros((len(states), game.num_actions), np.float32)
        values = np.zeros(len(states), np.float32)
        for row, state in enumerate(states):
            rng = np.random.default_rng(zlib.crc32(game.planes(state).tobytes()))
            priors[row] = rng.random(game.num_actions) * game.legal_mask(state)
            values[row] = rng.uniform(-1, 1)
        return priors, values
    return evaluate


C4 = create("connect4")


# -- PUCT, noise, temperature by hand --------------------------------------------------------------------------------

def test_puct_scores_match_a_hand_computation():
    node = Node(C4, C4.initial())
    node.expand(np.array([1, 2, 3, 4, 0, 0, 0], np.float32), value=0.0)  # priors 0.1 0.2 0.3 0.4 0 0 0
    node.visits[:] = [2, 1, 0, 1, 0, 0, 0]
    node.value_sum[:] = [1.0, -0.5, 0.0, 0.25, 0, 0, 0]
    node.count = 5.0  # 1 + 4 edge visits
    c = 1.25 + math.log((5 + 19652) / 19652)
    expected = [1.0 / 2 + c * 0.1 * math.sqrt(5) / 3, -0.5 + c * 0.2 * math.sqrt(5) / 2,
                0.0 + c * 0.3 * math.sqrt(5) / 1, 0.25 + c * 0.4 * math.sqrt(5) / 2, 0.0, 0.0, 0.0]
    assert puct_scores(node) == pytest.approx(expected, rel=1e-12)
    assert puct_scores(node, c_puct=2.0, c_base=math.inf) == pytest.approx(
        [0.5 + 2 * 0.1 * math.sqrt(5) / 3, -0.5 + 2 * 0.2 * math.sqrt(5) / 2, 2 * 0.3 * math.sqrt(5),
         0.25 + 2 * 0.4 * math.sqrt(5) / 2, 0, 0, 0], rel=1e-12)
    # the first simulation from a fresh root follows the priors (N(s) counts the expansion)
    fresh = search(C4, C4.initial(), lambda s: (np.array([[1, 2, 9, 3, 1, 1, 1]], np.float32), np.zeros(1)), 1)
    assert fresh.visit_counts(7).tolist() == [0, 0, 1, 0, 0, 0, 0]


def test_priors_are_restricted_to_legal_actions_and_renormalised():
    state = play(C4, "1 1 1 1 1 1")  # column 1 full
    node = Node(C4, state)
    node.expand(np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05]), value=0.3)
    assert node.actions == (1, 2, 3, 4, 5, 6) and node.prior == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.1, 0.1])
    node = Node(C4, state)
    node.expand(np.zeros(7), value=0.0)  # nothing on the legal actions: uniform
    assert node.prior == pytest.approx([1 / 6] * 6)


def test_dirichlet_noise_mixes_a_quarter_and_sums_to_one():
    root = search(C4, C4.initial(), hashed_evaluator(C4), 0)
    raw = root.raw_prior.copy()
    noisy = search(C4, root, hashed_evaluator(C4), 0, noise=True, rng=np.random.default_rng(3))
    eta = np.random.default_rng(3).dirichlet(np.full(7, 1.0))
    assert noisy.prior == pytest.approx(0.75 * raw + 0.25 * eta, rel=1e-12)
    assert noisy.prior.sum() == pytest.approx(1.0) and not np.allclose(noisy.prior, raw)
    assert root.raw_prior == pytest.approx(raw)  # the next search draws afresh from the un-noised priors
    again = search(C4, root, hashed_evaluator(C4), 0, noise=True, rng=np.random.default_rng(4))
    assert again.prior == pytest.approx(0.75 * raw + 0.25 * np.random.default_rng(4).dirichlet(np.ones(7)))
    assert search(C4, root, hashed_evaluator(C4), 0).prior == pytest.approx(raw)  # without noise: the raw priors
    with pytest.raises(ConfigError, match="expected `rng`"):
        search(C4, root, hashed_evaluator(C4), 1, noise=True)
    node = Node(C4, C4.initial())
    node.expand(np.ones(7), 0.0)
    add_dirichlet_noise(node, 0.3, 0.5, np.random.default_rng(0))
    assert node.prior == pytest.approx(0.5 / 7 + 0.5 * np.random.default_rng(0).dirichlet(np.full(7, 0.3)))


def test_default_dirichlet_alpha_follows_the_number_of_moves():
    assert default_dirichlet_alpha(C4) == 1.0 and default_dirichlet_alpha(create("checkers")) == 1.0
    assert default_dirichlet_alpha(create("go", size=7)) == pytest.approx(10 / 49)
    assert default_dirichlet_alpha(create("go", size=19)) == pytest.approx(0.0277, abs=1e-4)  # AlphaZero's 0.03


def test_policy_from_visits_by_hand():
    counts = np.array([0.0, 1.0, 3.0, 4.0])
    assert policy_from_visits(counts, 1.0) == pytest.approx([0, 1 / 8, 3 / 8, 4 / 8])
    assert policy_from_visits(counts, 0.5) == pytest.approx([0, 1 / 26, 9 / 26, 16 / 26])
    assert policy_from_visits(counts, 2.0) == pytest.approx(np.sqrt(counts) / np.sqrt(counts).sum())
    assert policy_from_visits(counts, 0).tolist() == [0, 0, 0, 1]
    assert policy_from_visits(np.array([5.0, 2.0, 5.0]), 0).tolist() == [0.5, 0, 0.5]  # ties share the argmax
    assert policy_from_visits(np.array([1000.0, 500.0]), 0.01) == pytest.approx([1.0, 0.0], abs=1e-12)  # no overflow
    with pytest.raises(ConfigError, match="at least one above 0"):
        policy_from_visits(np.zeros(3), 1.0)
    with pytest.raises(ConfigError, match="Invalid `temperature`"):
        policy_from_visits(counts, -1.0)
    assert [temperature_for(ply, 2) for ply in range(4)] == [1.0, 1.0, 0.0, 0.0]


# -- forced wins -----------------------------------------------------------------------------------------------------

EVALUATORS = {"uniform": uniform_evaluator, "rollouts": lambda game: rollout_evaluator(game, rng=0)}


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_search_takes_an_immediate_win(evaluator):
    state = play(C4, "1 1 2 2 3 3")  # X to move: 4 completes the bottom row
    root = search(C4, state, EVALUATORS[evaluator](C4), 200)
    assert int(np.argmax(root.visit_counts(7))) == 3 and root.mean_value() > 0.5


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_search_blocks_the_only_threat(evaluator):
    state = play(C4, "1 2 1 2 7 2")  # O has three up column 2; every other move loses at once
    root = search(C4, state, EVALUATORS[evaluator](C4), 400)
    assert int(np.argmax(root.visit_counts(7))) == 1


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_search_finds_a_win_in_two(evaluator):
    # X on c1 d1, O on c2 d2: b1 or e1 makes an open three on the bottom row, two threats O cannot both block
    state = play(C4, "3 3 4 4")
    winning = {a for a in C4.legal_actions(state)
               if alphabeta(C4, C4.apply(state, a), 3, connect4_windows)[0] < -WIN / 2}  # O loses whatever it does
    assert winning == {1, 4}
    root = search(C4, state, EVALUATORS[evaluator](C4), 1600)
    assert int(np.argmax(root.visit_counts(7))) in winning


# -- signs, batching, reuse ------------------------------------------------------------------------------------------

def test_values_keep_their_sign_when_the_same_player_moves_twice():
    game = Checkers()
    state = game.from_board(diagram("""
        ........
        ........
        ........
        ..w.w...
        ........
        ..w.....
        .b......
        ........"""))  # Black must jump 8x15 and then jump again (15x22 or 15x24): two actions in a row

    def black_ahead(states):  # +0.5 for Black in every position, from each mover's view
        priors = np.stack([game.legal_mask(s).astype(np.float32) for s in states])
        return priors, np.array([0.5 if game.to_play(s) == 0 else -0.5 for s in states], np.float32)

    root = search(game, state, black_ahead, 2)
    middle = root.children[0]
    assert root.player == 0 and middle.player == 0 and len(root.actions) == 1
    assert root.visits.tolist() == [2] and root.value_sum.tolist() == [1.0]  # +0.5 twice, not +0.5 then -0.5
    assert middle.visits.sum() == 1 and middle.value_sum.sum() == 0.5  # White to move below: -0.5 for White
    root = search(game, root, black_ahead, 30)

    def check(node):  # every edge without a finished game below: Q = +0.5 for Black, -0.5 for White
        finished = node.terminal
        for edge, child in enumerate(node.children):
            if child is not None:
                below = check(child)
                if not below:
                    assert node.value_sum[edge] / node.visits[edge] == pytest.approx(0.5 if node.player == 0 else -0.5)
                finished = finished or below
        return finished

    check(root)


def random_positions(game, count: int, seed: int, max_moves: int = 10) -> list:
    rng, positions = random.Random(seed), []
    while len(positions) < count:
        state = game.initial()
        for _ in range(rng.randrange(max_moves)):
            if game.is_terminal(state):
                break
            state = game.apply(state, rng.choice(game.legal_actions(state)))
        if not game.is_terminal(state):
            positions.append(state)
    return positions


@pytest.mark.parametrize("name", ["connect4", "checkers"])
def test_search_many_equals_searching_each_tree_alone(name):
    game = create(name)
    evaluate, calls = hashed_evaluator(game), []

    def counted(states):
        calls.append(len(states))
        return evaluate(states)

    roots = random_positions(game, 5, seed=1)
    together = search_many(game, roots, counted, 40)
    alone = [search(game, root, evaluate, 40) for root in roots]
    for a, b in zip(together, alone, strict=True):
        assert np.array_equal(a.visit_counts(game.num_actions), b.visit_counts(game.num_actions))
        assert np.array_equal(a.value_sum, b.value_sum)
    assert calls[0] == 5 and max(calls) == 5 and len(calls) <= 41  # one batched call per round


def test_several_leaves_per_tree_with_virtual_loss():
    roots = [*random_positions(C4, 4, seed=2), play(C4, "1 1 2 2 3 3")]
    calls = []

    def counted(states):
        calls.append(len(states))
        return uniform_evaluator(C4)(states)

    trees = search_many(C4, roots, counted, 64, leaves_per_round=8)
    assert all(tree.visits.sum() == 64 and tree.count == 65 for tree in trees)  # virtual losses all removed
    assert max(calls) > 5 and len(calls) < 40
    assert int(np.argmax(trees[-1].visit_counts(7))) == 3  # still takes the win


def test_advance_keeps_the_subtree_for_the_next_search():
    root = search(C4, C4.initial(), hashed_evaluator(C4), 60)
    best = int(np.argmax(root.visit_counts(7)))
    child = advance(C4, root, best)
    assert child is root.children[root.actions.index(best)] and child.count == root.visits[root.actions.index(best)]
    kept = child.visits.sum()
    assert search(C4, child, hashed_evaluator(C4), 10).visits.sum() == kept + 10
    unexplored = advance(C4, Node(C4, C4.initial()), 0)
    assert not unexplored.expanded and unexplored.player == 1
    with pytest.raises(ConfigError, match="Invalid `action` for advance"):
        advance(C4, Node(C4, play(C4, "1 1 1 1 1 1")), 0)


def test_rollout_evaluator_priors_and_sign():
    state = play(C4, "1 1 1 1 1 1 2 7 3 7")  # X to move, column 1 full, X threatens 4 (b1 c1 + d1)
    priors, values = rollout_evaluator(C4, rollouts=300, rng=0)([state, C4.apply(state, 6)])
    assert priors.shape == (2, 7) and priors.dtype == np.float32
    assert priors[0].tolist() == [0] + [pytest.approx(1 / 6)] * 6
    assert values[0] > 0.2  # good for X, the mover
    assert values[1] < -0.2  # after X's quiet move O is to move, facing the same threat


def test_evaluator_output_and_roots_are_checked():
    with pytest.raises(ShapeError, match=r"expected priors \(1, 7\) and values \(1,\), received \(1, 6\)"):
        search(C4, C4.initial(), lambda s: (np.ones((1, 6)), np.zeros(1)), 5)
    with pytest.raises(ConfigError, match="probabilities >= 0"):
        search(C4, C4.initial(), lambda s: (-np.ones((1, 7)), np.zeros(1)), 5)
    with pytest.raises(ConfigError, match="received a finished game"):
        search(C4, play(C4, "1 2 1 2 1 2 1"), uniform_evaluator(C4), 5)
    with pytest.raises(ConfigError, match="Invalid `simulations`"):
        search(C4, C4.initial(), uniform_evaluator(C4), -1)


def test_module_examples_run():
    assert doctest.testmod(mcts_module, verbose=False).failed == 0


# -- alpha-beta ------------------------------------------------------------------------------------------------------

def minimax(game, state, depth: int, heuristic, viewer: int, ply: int = 0) -> float:
    """Plain minimax from `viewer`'s view, every branch searched: the obviously correct reference."""
    if depth == 0 or game.is_terminal(state):
        return static_score(game, state, viewer, heuristic, ply)
    scores = [minimax(game, game.apply(state, a), depth - 1, heuristic, viewer, ply + 1)
              for a in game.legal_actions(state)]
    return max(scores) if game.to_play(state) == viewer else min(scores)


@pytest.mark.parametrize(("name", "options", "depth", "positions"), [
    ("connect4", {}, 3, 12), ("checkers", {}, 3, 8), ("go", {"size": 4}, 2, 4)])
def test_alphabeta_equals_minimax(name, options, depth, positions):
    game = create(name, **options)
    heuristic = {"connect4": connect4_windows, "checkers": piece_count, "go": area_estimate}[name]
    for state in random_positions(game, positions, seed=5, max_moves=30):
        viewer = game.to_play(state)
        score, action = alphabeta(game, state, depth, heuristic, random.Random(0))
        assert score == minimax(game, state, depth, heuristic, viewer)
        child = game.apply(state, action)
        assert minimax(game, child, depth - 1, heuristic, viewer, 1) == score  # the move it picks reaches it


def test_alphabeta_sees_multi_jumps_as_one_side_moving_twice():
    game = Checkers()
    state = game.from_board(diagram("""
        ........
        ........
        ........
        ..w.w...
        ........
        ..w.....
        .b......
        ........"""))
    score, _ = alphabeta(game, state, 2, piece_count)
    assert score == minimax(game, state, 2, piece_count, 0) == 1 - 1  # both plies are Black's: two captures


def test_heuristics_by_hand():
    state = play(C4, "4")  # one X disc on d1: on 4 lines across, 1 up and 2 diagonals, each weighing 1
    assert connect4_windows(C4, state, 0) == 7.0 and connect4_windows(C4, state, 1) == -7.0
    # X d1 d2, O a1. X: d1's lines across b1-e1, c1-f1, d1-g1 (a1-d1 is shared with O), d1-d4 holds two (3),
    # two diagonals from d1; d2's lines: 4 across, d2-d5 up, 2 diagonals each way = 3 + 3 + 2 + 9 = 17.
    # O: a1-a4 and a1-d4 = 2.
    state = play(C4, "4 1 4")
    assert connect4_windows(C4, state, 0) == 17.0 - 2.0 and connect4_windows(C4, state, 1) == -15.0
    game = Checkers()
    position = game.from_board(diagram("........ ....w.w. ...B.... ........ ........ ........ .....b.. ........"))
    assert piece_count(game, position, 0) == KING_VALUE + 1 - 2 and piece_count(game, position, 1) == -0.5
    go = create("go", size=5, komi=0.5)
    state = play(go, "C3")  # Black's stone owns the whole empty board under area scoring
    assert area_estimate(go, state, 0) == 24.5 and area_estimate(go, state, 1) == -24.5
