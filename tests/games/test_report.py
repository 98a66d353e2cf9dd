"""The report page of a self-play run: move numbers on boards against games played by hand, the recorded game
against a replay of it, the matches table against the run's log, and the first-move priors against the network."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from striate.cli import app
from striate.games import create
from striate.games.base import play_out
from striate.games.network import PolicyValueNet
from striate.games.report import board_png, first_moves, move_numbers, record_game
from striate.games.training import AgentSettings, train_agent


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    settings = AgentSettings(game="connect4", iterations=2, games=4, simulations=8, steps=10, batch_size=32,
                             channels=8, blocks=1, workers=0, eval_every=1, eval_games=2, eval_simulations=4,
                             eval_depth=1)
    return train_agent(settings, out=tmp_path_factory.mktemp("report"), quiet=True)


def states_of(game, actions):
    states = [game.initial()]
    for action in actions:
        states.append(game.apply(states[-1], action))
    return states


@pytest.mark.parametrize("engine", ["striate", "openspiel"])
def test_move_numbers_follow_the_discs_of_a_connect_four_game(engine):
    game = create("connect4", engine=engine)
    numbers = move_numbers(game, states_of(game, [3, 3, 2, 6]))
    expected = np.zeros((6, 7), np.int64)  # row 0 is the bottom
    expected[0, 3], expected[1, 3], expected[0, 2], expected[0, 6] = 1, 2, 3, 4
    np.testing.assert_array_equal(numbers, expected)


@pytest.mark.parametrize("engine", ["striate", "openspiel"])
def test_a_captured_stone_loses_its_number_and_the_point_played_again_gets_the_new_one(engine):
    game = create("go", engine=engine, size=5)
    moves = ["C3", "A1", "A2", "E5", "B1", "E4", "A1"]  # Black's B1 (ply 5) captures A1; Black plays A1 at ply 7
    states = [game.initial()]
    for text in moves:
        (action,) = game.parse_move(states[-1], text)
        states.append(game.apply(states[-1], action))
    assert move_numbers(game, states[:6])[0, 0] == 0  # A1 (row 0 the bottom) is empty after the capture
    numbers = move_numbers(game, states)
    assert numbers[0, 0] == 7 and numbers[1, 0] == 3 and numbers[0, 1] == 5 and numbers[2, 2] == 1
    assert numbers[4, 4] == 4 and numbers[3, 4] == 6 and np.count_nonzero(numbers) == 6


def test_checkers_boards_are_drawn_without_numbers():
    game = create("checkers")
    states = states_of(game, game.parse_move(game.initial(), "11-15"))
    assert not move_numbers(game, states).any()
    assert board_png(game, states[-1], title="after 11-15")[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_recorded_game_replays_to_its_result(run):
    game, record, states, values = record_game(run, agent_first=False, seed=3)
    assert record.first == "alphabeta-1" and record.second == "agent"
    np.testing.assert_array_equal(game.board(states[-1]), game.board(play_out(game, record.actions)))
    assert game.is_terminal(states[-1]) and record.result == game.returns(states[-1])
    assert len(values) == len(record.actions) // 2  # the agent moved second: one value per move of its own
    assert all(-1.0 <= v <= 1.0 for v in values)


def test_the_page_shows_the_logged_matches_the_recorded_game_and_the_networks_priors(run):
    page = (run / "report.html").read_text()  # written when training finished
    table = re.search(r'<table id="match-table">.*?</table>', page).group(0)
    shown = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)[1:]]
    logged = [json.loads(line) for line in (run / "matches.jsonl").read_text().splitlines()]
    assert len(logged) == 4  # two evaluations, random and alpha-beta
    assert [cells[:6] for cells in shown] == [[str(r["iteration"]), r["opponent"], str(r["wins"]), str(r["draws"]),
                                              str(r["losses"]), f"{r['score']:.2f}"] for r in logged]
    _, record, _, _ = record_game(run)  # the page's game, played again: search and tie-breaks are seeded
    assert html.escape(record.text("Connect Four"), quote=True) in page

    moves, value = first_moves(run, top=7)
    game = create("connect4")
    network = PolicyValueNet(**json.loads((run / "player.json").read_text())["network"])
    network.load_state_dict(load_file(run / "model.safetensors"))
    with torch.no_grad():
        logits, start_value = network.eval()(torch.from_numpy(game.planes(game.initial())[None]))
    expected = torch.softmax(logits[0].double(), 0).numpy()  # every column is legal at the start
    assert [m for m, _ in moves] == [str(c + 1) for c in np.argsort(-expected, kind="stable")]
    np.testing.assert_allclose([p for _, p in moves], np.sort(expected)[::-1], rtol=1e-5)
    assert value == pytest.approx(float(start_value[0]), abs=1e-6)
    assert f"<td class=\"num\">{moves[0][1]:.3f}</td>" in page and f"{value:+.3f}" in page


def test_report_command_writes_the_page_again(run):
    (run / "report.html").unlink()
    result = CliRunner().invoke(app, ["games", "report", str(run), "--no-game"])
    assert result.exit_code == 0, result.output
    page = (run / "report.html").read_text()
    assert result.output.strip() == str(run / "report.html") and "A game against alpha-beta" not in page
    assert "Matches during training" in page and "First move" in page
