"""`striate games` on the command line: matches between any two players, a game against a person in the terminal,
training and resuming, each with the tables and lines a user reads."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from striate.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("games")
    result = runner.invoke(app, ["games", "train", "connect4", "--iterations", "1", "--games", "4", "--simulations",
                                 "8", "--steps", "5", "--channels", "8", "--blocks", "1", "--workers", "0",
                                 "--eval-games", "2", "--out", str(out), "--name", "c4", "--quiet"])
    assert result.exit_code == 0, result.output
    return out / "c4"


def table_row(output: str, label: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_match_between_alpha_beta_and_random_alternates_colours():
    result = runner.invoke(app, ["games", "match", "alphabeta:2", "random", "--game", "connect4", "--games", "6",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    assert "A = alphabeta-2, B = random" in result.output
    everything = table_row(result.output, "all games")
    assert everything[1:5] == ["6", "6", "0", "0"]  # depth-2 search never loses to random play here
    assert table_row(result.output, "A moves first")[1] == "3" and table_row(result.output, "A moves second")[1] == "3"


def test_match_a_trained_run_against_random_and_write_the_records(tiny_run, tmp_path):
    records = tmp_path / "games.txt"
    result = runner.invoke(app, ["games", "match", str(tiny_run), "random", "--games", "2", "--simulations", "4",
                                 "--records", str(records)])
    assert result.exit_code == 0, result.output
    assert "A = c4, B = random" in result.output and len(re.findall(r"game \d/2", result.output)) == 2
    assert records.read_text().count("c4") >= 2


def test_a_person_plays_in_the_terminal_and_a_bad_move_is_asked_again(tiny_run):
    result = runner.invoke(app, ["games", "play", str(tiny_run), "--simulations", "2"], input="9\n4\nresign\n")
    assert result.exit_code == 0, result.output
    assert "1 2 3 4 5 6 7" in result.output  # the board is shown
    assert "Invalid move '9' for Connect Four: expected a column number from 1 to 7." in result.output
    assert result.output.count("your move:") == 3  # asked again after the bad move, then after the opponent's
    assert result.output.strip().endswith("0-1")  # resigning as the first player loses


def test_train_resume_runs_more_iterations(tiny_run):
    result = runner.invoke(app, ["games", "train", "--resume", str(tiny_run), "--iterations", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    curve = [json.loads(line) for line in (tiny_run / "curve.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in curve] == [1, 2]


def test_evolve_saves_a_checkers_player_that_plays_matches_and_resumes(tmp_path):
    result = runner.invoke(app, ["games", "evolve", "--generations", "2", "--population", "4", "--depth", "1",
                                 "--games", "2", "--out", str(tmp_path), "--name", "blondie"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "blondie"
    assert result.output.strip().splitlines()[-1] == str(folder)
    assert len(re.findall(r"generation \d: best [+-]\d+ points, K \d\.\d\d", result.output)) == 2
    assert json.loads((folder / "population.json").read_text())["generation"] == 2
    result = runner.invoke(app, ["games", "match", str(folder), "random", "--games", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "checkers: A = blondie, B = random" in result.output
    result = runner.invoke(app, ["games", "evolve", "--resume", str(folder), "--generations", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((folder / "population.json").read_text())["generation"] == 3
