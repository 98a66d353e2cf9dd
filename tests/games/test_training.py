"""Self-play and the AlphaZero training loop on small boards: examples against the games that made them, the network
and its loss against slow references, a few iterations in worker processes, resume, and the trained player."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from striate.games import create
from striate.games.mcts import uniform_evaluator
from striate.games.network import PolicyValueNet, alphazero_loss, evaluator, policy_target
from striate.games.selfplay import play_games
from striate.games.training import AgentSettings, load_player, train_agent
from striate.train.checkpoint import latest_checkpoint, load_checkpoint


def test_self_play_examples_carry_each_games_result_from_the_movers_view():
    game = create("connect4")
    examples, stats = play_games(game, uniform_evaluator(game), 3, simulations=8, temperature_moves=4,
                                 rng=np.random.default_rng(0), symmetries=False)
    assert len(examples) == sum(stats.lengths) and len(stats.results) == 3
    np.testing.assert_allclose(examples.policies.sum(axis=1), 1.0, rtol=1e-5)
    start = 0
    for result, length in zip(stats.results, stats.lengths, strict=True):
        values = examples.values[start:start + length]
        movers = [0 if ply % 2 == 0 else 1 for ply in range(length)]  # Connect Four alternates
        assert values.tolist() == [result if mover == 0 else -result for mover in movers]
        np.testing.assert_array_equal(examples.planes[start], game.planes(game.initial()))
        start += length
    mirrored, _ = play_games(game, uniform_evaluator(game), 1, simulations=8, temperature_moves=4,
                             rng=np.random.default_rng(0), symmetries=True)
    np.testing.assert_array_equal(mirrored.planes[1], mirrored.planes[0][:, :, ::-1])  # each position and its mirror
    np.testing.assert_array_equal(mirrored.policies[1], mirrored.policies[0][::-1])


def test_playout_cap_randomisation_learns_from_full_searches_only():
    game = create("connect4")
    calls = []

    def counting(states):
        calls.append(len(states))
        return uniform_evaluator(game)(states)

    examples, stats = play_games(game, counting, 4, simulations=24, temperature_moves=4, symmetries=False,
                                 rng=np.random.default_rng(3), fast_simulations=3, full_fraction=0.3)
    discs = examples.planes[:, :2].sum(axis=(1, 2, 3)).astype(int)  # own and opponent discs: the ply
    starts = np.flatnonzero(discs == 0)
    assert len(starts) == 4 and starts[0] == 0  # every game's first move is searched in full and kept
    assert len(examples) < sum(stats.lengths) and len(examples) > 4  # some moves were fast and skipped
    for g, (begin, end) in enumerate(zip(starts, [*starts[1:], len(examples)], strict=True)):
        plies = discs[begin:end]
        assert (np.diff(plies) > 0).all() and plies[-1] < stats.lengths[g]
        result = stats.results[g]
        assert examples.values[begin:end].tolist() == [result if ply % 2 == 0 else -result for ply in plies]
    capped_cost = sum(calls) / sum(stats.lengths)  # evaluations per move played
    calls.clear()
    everything, stats = play_games(game, counting, 4, simulations=24, temperature_moves=4, symmetries=False,
                                   rng=np.random.default_rng(3))
    assert len(everything) == sum(stats.lengths)  # off: every move is learned from
    assert capped_cost < 0.6 * sum(calls) / sum(stats.lengths)  # 0.3 + 0.7 * 3 / 24 of the cost, about 0.39


def test_evaluator_priors_cover_legal_actions_only_and_follow_the_policy_frame():
    torch.manual_seed(0)
    game = create("checkers")
    network = PolicyValueNet(game.planes_shape, game.num_actions, channels=8, blocks=1)
    state = game.apply(game.initial(), game.legal_actions(game.initial())[0])  # White to move: turned planes
    priors, values = evaluator(network, game)([state])
    legal = list(game.legal_actions(state))
    assert priors[0].sum() == pytest.approx(1.0, rel=1e-5) and set(np.flatnonzero(priors[0])) == set(legal)
    with torch.no_grad():
        logits, value = network.eval()(torch.from_numpy(game.planes(state)[None]))
    chosen = logits[0, [game.policy_index(state, a) for a in legal]]
    np.testing.assert_allclose(priors[0, legal], torch.softmax(chosen, 0).numpy(), rtol=1e-5)
    assert values[0] == pytest.approx(float(value[0]), abs=1e-6)
    visits = np.zeros(game.num_actions)
    visits[legal[0]], visits[legal[-1]] = 3, 1
    target = policy_target(game, state, visits)
    assert target[game.policy_index(state, legal[0])] == 0.75 and target[game.policy_index(state, legal[-1])] == 0.25


def test_loss_against_a_float64_loop():
    torch.manual_seed(1)
    logits, values = torch.randn(4, 5, dtype=torch.float64), torch.rand(4, dtype=torch.float64) * 2 - 1
    policies = torch.softmax(torch.randn(4, 5, dtype=torch.float64), 1)
    outcomes = torch.tensor([1.0, -1.0, 0.0, 1.0], dtype=torch.float64)
    total, value_part, policy_part = alphazero_loss(logits, values, policies, outcomes)
    expected_value = sum((outcomes[i] - values[i]) ** 2 for i in range(4)) / 4
    expected_policy = -sum(policies[i, a] * F.log_softmax(logits[i], 0)[a] for i in range(4) for a in range(5)) / 4
    assert float(value_part) == pytest.approx(float(expected_value))
    assert float(policy_part) == pytest.approx(float(expected_policy))
    assert float(total) == pytest.approx(float(expected_value + expected_policy))


TINY = {"game": "go", "game_options": {"size": 5}, "games": 4, "simulations": 8, "steps": 10, "batch_size": 32,
        "channels": 8, "blocks": 1, "eval_every": 2, "eval_games": 2, "eval_simulations": 4, "eval_depth": 1}


def test_a_few_iterations_in_worker_processes_then_resume(tmp_path):
    run = train_agent(AgentSettings(iterations=2, workers=2, **TINY), out=tmp_path, quiet=True)
    curve = [json.loads(line) for line in (run / "curve.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in curve] == [1, 2] and curve[-1]["games"] == 8
    assert curve[0]["window"] == curve[0]["positions"] and curve[1]["window"] == curve[0]["positions"] + \
        curve[1]["positions"]
    assert curve[0]["positions"] % 8 == 0  # every position with its 8 board symmetries
    matches = [json.loads(line) for line in (run / "matches.jsonl").read_text().splitlines()]
    assert [(row["iteration"], row["opponent"]) for row in matches] == [(2, "random"), (2, "alphabeta-1")]
    assert all(row["wins"] + row["draws"] + row["losses"] == 2 for row in matches)
    for name in ("config.yaml", "player.json", "model.safetensors", "curve.png"):
        assert (run / name).is_file(), name
    assert load_checkpoint(latest_checkpoint(run))[0]["iteration"] == 2
    train_agent(resume=run, iterations=3, quiet=True)
    curve = [json.loads(line) for line in (run / "curve.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in curve] == [1, 2, 3]
    state, _ = load_checkpoint(latest_checkpoint(run))
    assert state["iteration"] == 3 and len(state["window"]["values"]) == curve[-1]["window"]
    player, game = load_player(run, simulations=4)
    state = game.initial()
    assert player.choose(game, state) in game.legal_actions(state)


def test_learning_lowers_the_policy_loss(tmp_path):
    """After four iterations in this process the network matches the searches' visit distributions better than
    after the first."""
    run = train_agent(AgentSettings(iterations=4, workers=0, **{**TINY, "steps": 40, "eval_every": 10}),
                      out=tmp_path, quiet=True)
    curve = [json.loads(line) for line in (run / "curve.jsonl").read_text().splitlines()]
    assert curve[-1]["policy_loss"] < curve[0]["policy_loss"]
