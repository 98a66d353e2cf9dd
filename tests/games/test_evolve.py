"""Blondie24 co-evolution: the evaluator against slow references (sub-boards, weight count, forward pass), the
search against plain minimax, the evolution strategy's statistics and selection, evolution improving a population on
a toy game, and a short real checkers run that saves, loads and resumes exactly."""

from __future__ import annotations

import importlib.util
import math
import random

import numpy as np
import pytest

from striate.errors import ConfigError, DataError
from striate.games import create
from striate.games.checkers import Checkers
from striate.games.evolve import (
    NUM_GENES,
    NUM_WEIGHTS,
    PLAYABLE,
    POINTS,
    SUB_BOARDS,
    WIN,
    AlphaBetaPlayer,
    BlondieNet,
    EvolvedPlayer,
    Individual,
    Population,
    count_weights,
    encode,
    evolve,
    evolve_checkers,
    load_network,
    load_population,
    mutate,
    piece_count,
    play_game,
    save_network,
    select,
    tournament,
    whole_turns,
)

HAS_OPENSPIEL = importlib.util.find_spec("pyspiel") is not None
ENGINES = ["striate", pytest.param("openspiel", marks=pytest.mark.skipif(not HAS_OPENSPIEL, reason="no OpenSpiel"))]


def random_positions(game, count: int, seed: int) -> list:
    """Live positions from random games, at whole-turn boundaries and in the middle of multi-jumps alike."""
    rng, found = random.Random(seed), []
    while len(found) < count:
        state = game.initial()
        while not game.is_terminal(state) and len(found) < count:
            if rng.random() < 0.05:
                found.append(state)
            state = game.apply(state, rng.choice(game.legal_actions(state)))
    return found


# -- the evaluator --------------------------------------------------------------------------------------------------

def reference_sub_boards() -> list[tuple[int, ...]]:
    """Each k x k window drawn on an 8x8 array of zeros, then read at the dark squares in `PLAYABLE` order."""
    dark = [(r, c) for r in range(8) for c in range(8) if (r + c) % 2 == 1]
    found = []
    for k in range(3, 9):
        for top in range(9 - k):
            for left in range(9 - k):
                window = np.zeros((8, 8), bool)
                window[top:top + k, left:left + k] = True
                found.append(tuple(i for i, (r, c) in enumerate(dark) if window[r, c]))
    return found


def test_sub_boards_match_a_drawn_reference():
    assert list(SUB_BOARDS) == reference_sub_boards()
    assert len(SUB_BOARDS) == 36 + 25 + 16 + 9 + 4 + 1 == 91
    sizes = [len(members) for members in SUB_BOARDS]
    # a k x k window holds k*k/2 dark squares when k is even, (k*k +- 1)/2 when odd (half of them start on a dark one)
    assert sizes[:36].count(5) == sizes[:36].count(4) == 18
    assert set(sizes[36:61]) == {8} and sorted(set(sizes[61:77])) == [12, 13] and set(sizes[77:86]) == {18}
    assert sorted(sizes[86:90]) == [24, 24, 25, 25] and sizes[90] == 32
    assert sum(sizes) == 162 + 200 + 200 + 162 + 98 + 32 == 854
    assert len(PLAYABLE) == 32 and all((s // 8 + s % 8) % 2 == 1 for s in PLAYABLE)


def test_weight_count_matches_the_papers_5046():
    by_hand = (854 + 91) + (91 * 40 + 40) + (40 * 10 + 10) + (10 + 1)
    assert NUM_WEIGHTS == count_weights() == by_hand == 5046
    assert NUM_GENES == 5047  # and the evolved piece-difference weight
    assert count_weights((40, 10), 32 * 40) == 1741  # the 1999 paper's 32-40-10-1 network, by the same rule


def slow_forward(genes: np.ndarray, king: float, board: np.ndarray) -> float:
    """The evaluator unit by unit in Python floats, reading the gene layout the class documents."""
    value = {0: 0.0, 1: 1.0, 2: king, -1: -1.0, -2: -king}
    x = [value[int(code)] for code in board]
    position, spatial = 0, []
    for unit, members in enumerate(reference_sub_boards()):
        total = 0.0
        for square in members:
            total += genes[position] * x[square]
            position += 1
        spatial.append(total + genes[854 + unit])
    spatial = [math.tanh(v) for v in spatial]
    offset, layers = 945, []
    for inputs, outputs in ((91, 40), (40, 10)):
        previous = layers[-1] if layers else spatial
        layers.append([math.tanh(sum(previous[i] * genes[offset + i * outputs + j] for i in range(inputs))
                                 + genes[offset + inputs * outputs + j]) for j in range(outputs)])
        offset += inputs * outputs + outputs
    out = sum(layers[-1][i] * genes[offset + i] for i in range(10)) + genes[offset + 10] + genes[offset + 11] * sum(x)
    assert offset + 12 == NUM_GENES
    return math.tanh(out)


def test_forward_matches_a_unit_by_unit_reference():
    rng = np.random.default_rng(0)
    net = BlondieNet(rng.normal(0, 0.5, NUM_GENES), king=1.7)
    boards = rng.integers(-2, 3, (6, 32)).astype(np.int8)
    boards[0] = 0
    out = net(boards)
    assert out.shape == (6,) and out.dtype == np.float64
    np.testing.assert_allclose(out, [slow_forward(net.genes, 1.7, b) for b in boards], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(net(boards[2:3]), out[2:3], rtol=1e-12)  # a batch of one gives the same value


def test_piece_count_and_bad_arguments():
    boards = np.array([[1, 2, -1, 0] + [0] * 28, [-2, -2, 1, 0] + [0] * 28], np.int8)
    np.testing.assert_allclose(piece_count(boards), [1.5, -2.0])
    with pytest.raises(ConfigError, match=r"Invalid `genes` for BlondieNet: expected shape \(5047,\), received \(3,\)"):
        BlondieNet(np.zeros(3))
    with pytest.raises(ConfigError, match=r"Invalid `king` for BlondieNet: expected a value in \[1, 3\], received 4"):
        BlondieNet(np.zeros(NUM_GENES), king=4)
    with pytest.raises(ConfigError, match=r"Invalid `depth` for an alpha-beta player: expected an integer >= 1"):
        AlphaBetaPlayer(piece_count, depth=0)
    with pytest.raises(ConfigError, match=r"Invalid `depth` for an alpha-beta player: .* received 0"):
        evolve_checkers(generations=1, size=2, depth=0)
    with pytest.raises(ConfigError, match=r"Invalid population `size`: expected an integer >= 2"):
        evolve_checkers(generations=1, size=1)


@pytest.mark.parametrize("engine", ENGINES)
def test_encode_reads_the_board_from_either_side(engine):
    game = create("checkers", engine=engine)
    states = random_positions(game, 40, seed=1)
    reference = np.stack([np.array([0, 1, 2, -1, -2])[game.board(s).reshape(-1)[list(PLAYABLE)]] for s in states])
    np.testing.assert_array_equal(encode(game, states, 0), reference)
    np.testing.assert_array_equal(encode(game, states, 1), -reference[:, ::-1])  # turned 180 degrees, sides swapped
    assert encode(game, [], 0).shape == (0, 32)


def test_encode_of_a_position_set_up_by_hand():
    board = np.zeros((8, 8), np.int8)
    board[7, 0], board[0, 7], board[3, 2] = 1, 4, 2  # player 0's man on a1 (square 4), White's king on h8, ...
    state = Checkers().from_board(board)
    codes = encode(Checkers(), [state], 0)[0]
    assert codes[PLAYABLE.index(56)] == 1 and codes[PLAYABLE.index(7)] == -2 and codes[PLAYABLE.index(26)] == 2
    assert encode(Checkers(), [state], 1)[0][31 - PLAYABLE.index(7)] == 2  # White's king, seen by White


# -- search ---------------------------------------------------------------------------------------------------------

def forced_jump(game, state) -> bool:
    """Whether the player to move jumps, read from the move text (`9x18`) rather than the action's bits."""
    return any("x" in game.move_text(state, action) for action in game.legal_actions(state))


def leaf(game, child, depth: int, mover: int, root: int, evaluate, extra: int) -> float:
    """A child at the search's edge: the result, one more turn while a capture is forced, or the evaluator."""
    if game.is_terminal(child):
        return game.value(child, mover) * (WIN + depth - 1)
    if depth == 1 and extra > 0 and forced_jump(game, child):
        return -minimax(game, child, 1, root, evaluate, extra - 1)
    if depth == 1:
        score = float(evaluate(encode(game, [child], root))[0])
        return score if mover == root else -score
    return -minimax(game, child, depth - 1, root, evaluate, extra)


def minimax(game, state, depth: int, root: int, evaluate, extra: int = 0) -> float:
    """Plain minimax over whole turns for the player to move, no pruning; same leaf and terminal values."""
    mover = game.to_play(state)
    return max(leaf(game, child, depth, mover, root, evaluate, extra) for _, child in whole_turns(game, state))


def minimax_choice(game, state, depth: int, evaluate, extra: int = 0) -> int:
    root, best, choice = game.to_play(state), -math.inf, None
    for action, child in whole_turns(game, state):
        value = leaf(game, child, depth, root, root, evaluate, extra)
        if value > best:
            best, choice = value, action
    return choice


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_alpha_beta_chooses_what_plain_minimax_chooses(depth):
    game = create("checkers")
    net = BlondieNet.random(np.random.default_rng(depth))
    for evaluate in (net, piece_count):  # the network has no ties, piece count has many
        player = AlphaBetaPlayer(evaluate, depth)
        for state in random_positions(game, 30 if depth < 3 else 8, seed=depth):
            assert player.choose(game, state) == minimax_choice(game, state, depth, evaluate)


@pytest.mark.parametrize("depth, extend", [(1, 1), (1, 3), (2, 2)])
def test_search_extended_after_forced_jumps_chooses_what_extended_minimax_chooses(depth, extend):
    game = create("checkers")
    net = BlondieNet.random(np.random.default_rng(10 + depth))
    positions = [s for s in random_positions(game, 60, seed=depth + extend) if
                 any(forced_jump(game, child) for _, child in whole_turns(game, s))][:12]
    assert len(positions) >= 6  # positions where an extension changes what the leaves are
    for evaluate in (net, piece_count):
        player = AlphaBetaPlayer(evaluate, depth, extend=extend)
        for state in positions:
            assert player.choose(game, state) == minimax_choice(game, state, depth, evaluate, extend)


def test_whole_turns_follow_multi_jumps_to_the_end():
    board = np.zeros((8, 8), np.int8)
    board[5, 0], board[4, 1], board[2, 3], board[0, 7] = 1, 3, 3, 3  # Black's a3 can take b4 and d6 in one turn
    game = Checkers()
    turns = whole_turns(game, game.from_board(board))
    assert len(turns) == 1 and game.to_play(turns[0][1]) == 1
    assert encode(game, [turns[0][1]], 0)[0].tolist().count(-1) == 1  # two of White's three men taken


def test_depth_two_sees_the_capture_that_depth_one_walks_into():
    board = np.zeros((8, 8), np.int8)
    board[5, 2], board[3, 0] = 1, 3  # Black's only man on c3; White's only man on a5 takes on b4
    game = Checkers()
    state = game.from_board(board)
    into = AlphaBetaPlayer(piece_count, 1).choose(game, state)  # every move keeps the material level: the first
    assert game.to_play(game.apply(game.apply(state, into), game.legal_actions(game.apply(state, into))[0])) == -1
    safe = AlphaBetaPlayer(piece_count, 2).choose(game, state)
    assert safe != into and game.move_text(state, safe) == "11-15"
    assert AlphaBetaPlayer(piece_count, 1, extend=1).choose(game, state) == safe  # the forced reply is searched


def test_piece_count_search_beats_random_from_either_side():
    game, rng = create("checkers"), random.Random(0)

    class Random:
        name = "random"

        def choose(self, game, state):
            return rng.choice(game.legal_actions(state))

    searcher = AlphaBetaPlayer(piece_count, 2, seed=0)
    results = [play_game(game, [searcher, Random()]), -play_game(game, [Random(), searcher])] * 2
    assert sum(r > 0 for r in results) >= 3


# -- evolution ------------------------------------------------------------------------------------------------------

def test_self_adaptive_mutation_statistics():
    rng = np.random.default_rng(0)
    genes, sigmas = rng.normal(size=(4, NUM_GENES)), np.full((4, NUM_GENES), 0.05)
    kings = np.array([1.0, 2.0, 3.0, 2.5])
    new_genes, new_sigmas, new_kings = mutate(genes, sigmas, kings, rng)
    tau = 1 / math.sqrt(2 * math.sqrt(NUM_GENES))
    log_ratio = np.log(new_sigmas / sigmas).ravel()
    assert abs(log_ratio.mean()) < 4 * tau / math.sqrt(log_ratio.size)
    assert log_ratio.std() == pytest.approx(tau, rel=0.03)
    steps = ((new_genes - genes) / new_sigmas).ravel()  # each gene moves by its own new sigma times N(0, 1)
    assert abs(steps.mean()) < 0.03 and steps.std() == pytest.approx(1.0, rel=0.03)
    assert ((new_kings >= 1.0) & (new_kings <= 3.0)).all()
    many = mutate(np.zeros((4000, 1)), np.ones((4000, 1)), np.full(4000, 2.0), rng)[2]
    assert many.min() == 1.0 and many.max() == 3.0  # clipped at both bounds
    inside = np.log(many[(many > 1.0) & (many < 3.0)] / 2.0)
    assert (many == 1.0).mean() == pytest.approx(0.163, abs=0.03)  # P(N(0,1)/sqrt(2) < log(1/2))
    assert inside.std() < 1 / math.sqrt(2)


def test_selection_keeps_the_top_half_best_first():
    rng = np.random.default_rng(0)
    points = np.array([3.0, -2.0, 7.0, 0.0, 5.0, -4.0, 1.0, 2.0])
    assert select(points, 4, rng).tolist() == [2, 4, 0, 7]
    tied = np.array([1.0, 5.0, 1.0, 1.0, 0.0, 1.0])
    picks = {tuple(select(tied, 3, np.random.default_rng(seed)).tolist()) for seed in range(30)}
    assert all(p[0] == 1 and set(p[1:]) <= {0, 2, 3, 5} for p in picks) and len(picks) > 3  # ties at random


def test_tournament_scores_both_players_of_every_game():
    players = [Individual(np.array([float(i)]), 2.0) for i in range(6)]
    seen = []

    def play(first, second):
        seen.append((first.genes[0], second.genes[0]))
        return float(np.sign(first.genes[0] - second.genes[0]))

    points, results = tournament(players, play, 5, np.random.default_rng(0))
    assert len(results) == 30 and all(a != b for a, b in seen)
    assert [a for a, _ in seen] == [float(i) for i in range(6) for _ in range(5)]
    expected = np.zeros(6)
    for (a, b), result in zip(seen, results, strict=True):
        expected[int(a)] += POINTS[result]
        expected[int(b)] += POINTS[-result]
    np.testing.assert_array_equal(points, expected)
    assert points.sum() == -sum(r != 0 for r in results)  # each decisive game: +1 and -2


TOY_TARGET = np.random.default_rng(7).standard_normal(16) / 4.0


def toy_play(first: Individual, second: Individual) -> float:
    """A toy game: the player whose genes point further along a hidden direction wins; near-equals draw."""
    margin = float((first.genes - second.genes) @ TOY_TARGET)
    return 1.0 if margin > 0.05 else -1.0 if margin < -0.05 else 0.0


def test_evolution_improves_the_score_against_a_fixed_opponent():
    fixed = Individual(np.zeros(16), 2.0)

    def score(population: Population) -> float:
        return sum(POINTS[toy_play(population.individual(i), fixed)] for i in range(population.size))

    start = Population.random(size=10, num_genes=16, seed=0)
    curve = []
    final = evolve(start, toy_play, generations=25, games=5, callback=lambda p, s: curve.append(score(p)))
    assert score(start) < 5 and score(final) == 10  # every parent now beats the fixed opponent
    assert curve[-1] > curve[0] and len(final.history) == 25 and final.generation == 25
    assert float(final.genes[0] @ TOY_TARGET) > 0.3 > float(start.genes.mean(0) @ TOY_TARGET)
    again = evolve(Population.random(size=10, num_genes=16, seed=0), toy_play, generations=25, games=5)
    np.testing.assert_array_equal(again.genes, final.genes)  # seeded: the same run twice
    with pytest.raises(ConfigError, match=r"Invalid `games`: expected an integer >= 1"):
        evolve(start, toy_play, generations=1, games=0)


def test_a_short_checkers_run_saves_loads_and_resumes_exactly(tmp_path):
    settings = {"size": 3, "depth": 1, "games": 1, "max_turns": 30, "seed": 3}
    seen = []
    whole = evolve_checkers(generations=2, out=tmp_path / "whole", callback=lambda p, s: seen.append(s), **settings)
    assert [s.generation for s in seen] == [1, 2] and whole.generation == 2
    assert seen[-1].wins + seen[-1].draws + seen[-1].losses == 6 and list(whole.scores) == sorted(whole.scores)[::-1]
    loaded = load_population(tmp_path / "whole")
    for name in ("genes", "sigmas", "kings", "scores"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(whole, name))
    assert loaded.history == whole.history and loaded.seed == 3
    best = load_network(tmp_path / "whole")
    np.testing.assert_array_equal(best.genes, whole.genes[0])
    assert best.king == whole.kings[0]

    half = evolve_checkers(generations=1, out=tmp_path / "half", **settings)
    resumed = evolve_checkers(generations=1, start=load_population(tmp_path / "half"), **settings)
    np.testing.assert_array_equal(resumed.genes, whole.genes)  # resuming continues the same run bit for bit
    assert half.generation == 1 and resumed.generation == 2

    game = create("checkers")
    result = play_game(game, [EvolvedPlayer(best, 1), EvolvedPlayer(best, 1)], max_turns=10)
    assert result in (-1.0, 0.0, 1.0)


def test_loading_refuses_damaged_or_missing_files(tmp_path):
    net = BlondieNet.random(np.random.default_rng(0), king=1.5)
    path = save_network(net, tmp_path / "net.safetensors", {"note": "test"})
    np.testing.assert_array_equal(load_network(path).genes, net.genes)
    path.write_bytes(b"not safetensors")
    with pytest.raises(DataError, match=r"Cannot load .*net.safetensors: expected safetensors arrays"):
        load_network(path)
    with pytest.raises(DataError, match=r"found nothing; pass the folder given as `out`"):
        load_network(tmp_path / "missing.safetensors")
    with pytest.raises(DataError, match=r"Cannot read .*population.json: expected the JSON"):
        load_population(tmp_path)
