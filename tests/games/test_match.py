"""Matches and players: colours alternate, results repeat from the seed, tables, intervals and Elo by hand,
alpha-beta against random, resignations, a person typing moves, and GTP against a fake engine and GNU Go."""

from __future__ import annotations

import doctest
import io
import sys
from pathlib import Path

import numpy as np
import pytest

import striate.games.match as match_module
from striate.errors import ConfigError
from striate.games import create
from striate.games.checkers import Checkers
from striate.games.gtp import GTPClient, GTPError, GTPPlayer, find_gnugo, gnugo_command
from striate.games.match import (
    GameRecord,
    MatchResult,
    elo_difference,
    elo_interval,
    play_game,
    play_match,
    wilson_interval,
)
from striate.games.mcts import uniform_evaluator
from striate.games.players import (
    AlphaBetaPlayer,
    BasePlayer,
    HumanPlayer,
    MCTSPlayer,
    NetworkPlayer,
    Player,
    RandomPlayer,
    Resignation,
)

FAKE_GTP = [sys.executable, str(Path(__file__).with_name("fake_gtp.py"))]
C4 = create("connect4")


class Scripted(BasePlayer):
    """Plays the given actions in order, then resigns."""

    def __init__(self, name: str, actions: list[int]):
        self.name, self.actions, self.seeds, self.seen = name, list(actions), [], []

    def reset(self, seed: int) -> None:
        self.seeds.append(seed)

    def choose(self, game, state) -> int:
        if not self.actions:
            raise Resignation(self.name, "out of moves")
        return self.actions.pop(0)

    def observe(self, game, state, action) -> None:
        self.seen.append(action)


# -- statistics by hand ----------------------------------------------------------------------------------------------

def test_wilson_interval_and_elo_by_hand():
    # 15 points of 20: Wilson (0.7 + 0.096 ± 1.96 sqrt(0.75 * 0.25 / 20 + 1.96² / 1600)) / (1 + 1.96² / 20)
    assert wilson_interval(0.75, 20) == pytest.approx((0.5313, 0.8881), abs=1e-4)
    assert wilson_interval(1.0, 20) == pytest.approx((20 / (20 + 1.959964**2), 1.0))  # n / (n + z²)
    assert wilson_interval(0.0, 10) == pytest.approx((0.0, 1.959964**2 / (10 + 1.959964**2)))
    assert elo_difference(0.75, 20) == pytest.approx(400 * np.log10(3))  # 190.8
    assert elo_difference(0.5, 7) == 0.0
    assert elo_difference(1.0, 20) == pytest.approx(400 * np.log10(20.5 / 0.5))  # clamped: one more game drawn
    assert elo_difference(0.0, 10) == pytest.approx(-400 * np.log10(10.5 / 0.5))
    low, high = elo_interval(0.75, 20)
    assert low == pytest.approx(400 * np.log10(0.5313 / 0.4687), abs=0.5)
    assert high == pytest.approx(400 * np.log10(0.8881 / 0.1119), abs=0.5)
    with pytest.raises(ConfigError, match="expected at least 1"):
        wilson_interval(0.5, 0)


def record(result: float, a_first: bool, length: int = 3) -> GameRecord:
    return GameRecord("x", "y", [0] * length, ["1"] * length, result, "", a_first=a_first)


def test_table_counts_from_a_view_per_colour():
    # A first: win, loss, draw; A second: a player-1 win (A wins), a player-0 win (A loses)
    records = [record(1, True), record(-1, True, 5), record(0, True), record(-1, False), record(1, False, 7)]
    result = MatchResult("Connect Four", "ab", "rnd", records=records)
    assert (result.wins, result.draws, result.losses) == (2, 1, 2) and result.score == 0.5
    assert result.tally(True) == (1, 1, 1) and result.tally(False) == (1, 0, 1)
    lines = result.table().splitlines()
    assert lines[0] == ("| Connect Four: A = ab, B = rnd | games | A wins | draws | A losses | A score | 95% CI | "
                        "Elo A-B (95% CI) | mean length |")
    low, high = wilson_interval(0.5, 5)
    elo_low, elo_high = elo_interval(0.5, 5)
    assert lines[2] == (f"| all games | 5 | 2 | 1 | 2 | 0.500 | {low:.3f}-{high:.3f} | +0 ({elo_low:+.0f}, "
                        f"{elo_high:+.0f}) | 4.2 |")
    assert lines[3].startswith("| A moves first | 3 | 1 | 1 | 1 | 0.500 |") and lines[3].endswith("| 3.7 |")
    assert lines[4].startswith("| A moves second | 2 | 1 | 0 | 1 | 0.500 |") and lines[4].endswith("| 5.0 |")
    sweep = MatchResult("g", "a", "b", records=[record(1, True), record(-1, False)])
    assert ">= +280" in sweep.table().splitlines()[2]  # 2 of 2: 400 log10(2.5 / 0.5), marked as a bound
    only_first = MatchResult("g", "a", "b", records=[record(0, True)])
    assert only_first.table().splitlines()[4] == "| A moves second | 0 | - | - | - | - | - | - | - |"
    assert result.summary()["a_first"] == (1, 1, 1) and result.summary()["elo"] == 0.0


def test_colours_alternate_and_players_see_every_action():
    a, b = Scripted("a", [3] * 7), Scripted("b", [0] * 6)
    result = play_match(C4, a, b, games=2, seed=7)
    first, second = result.records
    assert (first.first, first.second, first.a_first) == ("a", "b", True)
    assert first.actions == [3, 0, 3, 0, 3, 0, 3] and first.moves == ["4", "1", "4", "1", "4", "1", "4"]
    assert first.result == 1 and first.a_score == 1 and first.ending == "a wins"
    # game 2: b moves first with its three moves left and then resigns
    assert (second.first, second.a_first, second.actions) == ("b", False, [0, 3, 0, 3, 0, 3])
    assert second.result == -1 and second.a_score == 1 and second.ending == "b resigned (out of moves)"
    assert a.seen == first.actions + second.actions and b.seen == a.seen
    assert len(set(a.seeds + b.seeds)) == 4  # a seed per player per game
    assert result.wins == 2 and "[Result \"0-1\"]" in result.record() and "4 1 4 1 4 1 4 1-0" in result.record()


def test_matches_repeat_from_the_seed_and_their_games_differ():
    def moves(seed):
        result = play_match(C4, AlphaBetaPlayer(2), RandomPlayer(), games=4, seed=seed)
        return [r.actions for r in result.records]

    assert moves(3) == moves(3)
    assert moves(3)[0] != moves(3)[2] and moves(3) != moves(4)


def test_alphabeta_depth_4_beats_random_at_connect_four():
    result = play_match(C4, AlphaBetaPlayer(4), RandomPlayer(), games=20, seed=0)
    assert result.wins >= 18, result.table()


def test_mcts_with_rollouts_beats_random_and_reuses_its_tree():
    player = MCTSPlayer(100)
    result = play_match(C4, player, RandomPlayer(), games=4, seed=1)
    assert result.wins >= 3, result.table()
    game_state = C4.initial()
    player.reset(0)
    action = player.choose(C4, game_state)
    player.observe(C4, game_state, action)
    after = C4.apply(game_state, action)
    player.observe(C4, after, 0)
    kept = player._root  # the subtree two plies down, before the next search
    assert kept is not None
    visits = kept.visits.sum() if kept.expanded else 0
    player.choose(C4, C4.apply(after, 0))
    assert player._root.visits.sum() == visits + 100


def test_network_player_without_search_plays_the_most_probable_legal_move():
    def evaluate(states):
        return np.array([[0.9, 0.05, 0.01, 0.01, 0.01, 0.01, 0.01]] * len(states)), np.zeros(len(states))

    state = C4.initial()
    for _ in range(6):
        state = C4.apply(state, 0)  # column 1 full: its 0.9 no longer counts
    assert NetworkPlayer(evaluate, simulations=0).choose(C4, state) == 1
    state = C4.initial()
    for action in (0, 6, 1, 6, 2, 5):
        state = C4.apply(state, action)
    assert NetworkPlayer(uniform_evaluator(C4), simulations=20).choose(C4, state) == 3  # the win on the bottom row
    assert isinstance(NetworkPlayer(evaluate), Player) and isinstance(RandomPlayer(), Player)


def test_bad_players_and_moves_are_refused():
    with pytest.raises(ConfigError, match="Invalid `player_b` for a match: expected a Player"):
        play_match(C4, RandomPlayer(), object(), games=2)
    with pytest.raises(ConfigError, match="Invalid `games` for a match"):
        play_match(C4, RandomPlayer(), RandomPlayer(), games=0)
    with pytest.raises(ConfigError, match="Invalid action from player 'a' in Connect Four: expected one of"):
        play_game(C4, Scripted("a", [9]), RandomPlayer())
    with pytest.raises(ConfigError, match="Invalid `depth` for AlphaBetaPlayer"):
        AlphaBetaPlayer(0)


def test_module_examples_run():
    assert doctest.testmod(match_module, verbose=False).failed == 0


# -- a person --------------------------------------------------------------------------------------------------------

def test_human_player_asks_again_after_a_bad_move():
    out = io.StringIO()
    human = HumanPlayer(input=io.StringIO("9\nx\n4\n"), output=out)
    assert human.choose(C4, C4.initial()) == 3
    text = out.getvalue()
    assert "X to play" in text and text.count("your move: ") == 3
    assert "Invalid move '9' for Connect Four: expected a column number from 1 to 7." in text
    with pytest.raises(Resignation, match="the input ended"):
        human.choose(C4, C4.initial())
    with pytest.raises(Resignation, match="resigned at the prompt"):
        HumanPlayer(input=io.StringIO("resign\n"), output=io.StringIO()).choose(C4, C4.initial())


def test_human_player_types_a_whole_multi_jump():
    game = Checkers()
    rows = ["........", "........", "........", "..w.w...", "........", "..w.....", ".b......", "........"]
    board = np.array([[{".": 0, "b": 1, "w": 3}[c] for c in row] for row in rows])
    human = HumanPlayer(input=io.StringIO("8x15x24\n"), output=io.StringIO(), show_board=False)
    result = play_game(game, human, Scripted("w", []), game.from_board(board))
    assert result.moves == ["8x15", "15x24"] and result.ending == "w resigned (out of moves)"


# -- GTP -------------------------------------------------------------------------------------------------------------

def test_gtp_player_against_a_fake_engine(tmp_path):
    log = tmp_path / "gtp.log"
    game = create("go", size=5, max_length=12)
    with GTPPlayer(command=[*FAKE_GTP, "--log", str(log)], name="fake") as fake:
        result = play_match(game, fake, RandomPlayer(), games=2, seed=0)
    sent = log.read_text().splitlines()
    assert sent[:5] == ["boardsize 5", "komi 7.5", "clear_board", "known_command set_random_seed",
                        "known_command kgs-genmove_cleanup"]
    first, second = result.records
    assert first.moves[0] == "A1" and sent[5] == "genmove B" and sent[6] == f"play W {first.moves[1]}"
    start = sent.index("clear_board", 3)  # the second game starts afresh, the fake as White
    assert sent[start + 2] == f"play B {second.moves[0]}" and sent[start + 3] == "genmove W"
    assert second.moves[1] == ("A1" if second.moves[0] != "A1" else "B1") and first.length == second.length == 12


def test_gtp_client_errors(tmp_path):
    with GTPClient(FAKE_GTP) as client:
        assert client.send("protocol_version") == "2" and client.send("7 name") == "fake"
        with pytest.raises(GTPError, match="refused `play B Z9`: invalid color or coordinate"):
            client.play("B", "Z9")
        assert client.genmove("B") == "A1"  # still usable after a refusal
    with pytest.raises(GTPError, match="exited \\(code 3\\) at `genmove B`"):
        GTPClient([*FAKE_GTP, "--exit-at", "genmove"]).genmove("B")
    silent = GTPClient([*FAKE_GTP, "--silent-at", "genmove"], timeout=0.5)
    with pytest.raises(GTPError, match=r"did not answer `genmove B` within 0\.5 s"):
        silent.genmove("B")
    silent.close()
    with pytest.raises(GTPError, match="Cannot start the GTP engine"):
        GTPClient([str(tmp_path / "no-such-engine")])


def test_gtp_resignation_and_illegal_replies():
    game = create("go", size=5)
    with GTPPlayer(command=[*FAKE_GTP, "--script", "C3,resign"], name="fake") as fake:
        result = play_match(game, fake, RandomPlayer(), games=1)
    assert result.records[0].moves[0] == "C3" and result.records[0].ending == "fake resigned (the engine resigned)"
    assert result.losses == 1
    with GTPPlayer(command=[*FAKE_GTP, "--script", "Z9"], name="fake") as fake, \
            pytest.raises(GTPError, match="played 'Z9', which striate's rules refuse"):
        play_match(game, fake, RandomPlayer(), games=1)
    with pytest.raises(ConfigError, match="expected Go, received Connect Four"):
        play_match(C4, GTPPlayer(command=FAKE_GTP), RandomPlayer(), games=1)


def test_gnugo_command_line():
    command = gnugo_command(3, 7, 9.0, executable="gnugo")
    assert command == ["gnugo", "--mode", "gtp", "--level", "3", "--boardsize", "7", "--komi", "9", "--chinese-rules"]
    with pytest.raises(ConfigError, match="Invalid `level` for GNU Go"):
        gnugo_command(11)


@pytest.mark.skipif(find_gnugo() is None, reason="GNU Go is not installed (apt-get install gnugo)")
def test_gnugo_beats_random_on_7x7():
    with GTPPlayer(level=1) as gnugo:
        result = play_match(create("go", size=7), gnugo, RandomPlayer(), games=1, seed=0)
    assert result.wins == 1, result.record()


def test_random_openings_let_deterministic_players_meet_in_different_games():
    from striate.games import create
    from striate.games.match import play_match
    from striate.games.players import AlphaBetaPlayer

    game = create("connect4")
    opened = play_match(game, AlphaBetaPlayer(2), AlphaBetaPlayer(3), 6, seed=4, openings=3)
    starts = [tuple(r.actions[:3]) for r in opened.records]
    assert starts[0] == starts[1] and starts[2] == starts[3] and starts[4] == starts[5]  # a pair shares its opening
    assert len(set(starts)) == 3  # each pair its own
    state = game.initial()
    for action in starts[0]:  # legal random actions, recorded with the game
        assert action in game.legal_actions(state)
        state = game.apply(state, action)
    assert [r.a_first for r in opened.records] == [True, False] * 3
