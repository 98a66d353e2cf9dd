"""The rules engines of Connect Four, checkers and Go: published move counts, hand-made positions, recorded games
that reach rare rules, and striate's own engines against OpenSpiel's (and slow references) move by move."""

from __future__ import annotations

import importlib.util
import random
import sys

import numpy as np
import pytest

import striate.games
from striate.errors import ConfigError
from striate.games import FASTEST, create, perft
from striate.games.checkers import SQUARE_NUMBER, Checkers, decode
from striate.games.go import Go, area_score

HAS_OPENSPIEL = importlib.util.find_spec("pyspiel") is not None
needs_openspiel = pytest.mark.skipif(not HAS_OPENSPIEL, reason="OpenSpiel (the `games` extra) is not installed")
ENGINES = ["striate", pytest.param("openspiel", marks=needs_openspiel)]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def play(game, moves: str, state=None):
    """Apply moves written as a person would (`4 4 3`, `11-15 22-18`, `D4 pass`)."""
    state = game.initial() if state is None else state
    for text in moves.split():
        for action in game.parse_move(state, text):
            state = game.apply(state, action)
    return state


def texts(game, state) -> list[str]:
    return sorted(game.move_text(state, action) for action in game.legal_actions(state))


# -- Connect Four ----------------------------------------------------------------------------------------------------

def four_reference(board: np.ndarray) -> int:
    """The player (1 or 2) with four in a row on a `(6, 7)` board, or 0: every line checked cell by cell."""
    for row in range(6):
        for column in range(7):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(row + k * dr, column + k * dc) for k in range(4)]
                if all(0 <= r < 6 and 0 <= c < 7 for r, c in cells):
                    values = {int(board[r, c]) for r, c in cells}
                    if len(values) == 1 and values != {0}:
                        return values.pop()
    return 0


def test_connect4_sequence_counts_are_powers_of_seven(engine):
    game = create("connect4", engine=engine)
    assert [perft(game, game.initial(), n) for n in range(1, 7)] == [7 ** n for n in range(1, 7)]


@pytest.mark.parametrize("moves, result", [
    ("1 1 2 2 3 3 4", 1.0),                  # X: bottom row, columns 1-4
    ("1 2 1 2 1 2 3 2", -1.0),               # O: column 2, four high
    ("1 2 2 3 3 4 3 4 4 7 4", 1.0),          # X: rising diagonal from column 1
    ("7 6 6 5 5 4 5 4 4 1 4", 1.0),          # X: falling diagonal (the mirror of the one above)
])
def test_connect4_wins(engine, moves, result):
    game = create("connect4", engine=engine)
    *before, last = moves.split()
    state = play(game, " ".join(before))
    assert not game.is_terminal(state) and game.returns(state) == 0.0
    state = play(game, last, state)
    assert game.is_terminal(state) and game.returns(state) == result
    assert game.to_play(state) == -1 and game.legal_actions(state) == ()
    assert four_reference(game.board(state)) == (1 if result > 0 else 2)


def test_connect4_full_board_is_a_draw(engine):
    game = create("connect4", engine=engine)
    moves = "4 4 1 3 6 5 6 7 5 3 3 4 4 6 6 3 3 5 4 4 2 2 3 2 6 6 1 5 1 5 5 7 7 7 7 1 2 1 7 1 2 2"
    state = play(game, " ".join(moves.split()[:-1]))
    assert not game.is_terminal(state) and game.legal_actions(state) == (1,)
    state = play(game, "2", state)
    assert game.is_terminal(state) and game.returns(state) == 0.0
    assert np.count_nonzero(game.board(state)) == 42 and four_reference(game.board(state)) == 0
    assert game.render(state).splitlines()[-1] == "Draw"


def test_connect4_against_a_cell_by_cell_reference(engine):
    game, rng, wins = create("connect4", engine=engine), random.Random(0), {1.0: 0, -1.0: 0, 0.0: 0}
    for _ in range(150):
        state = game.initial()
        while True:
            board = game.board(state)
            winner = four_reference(board)
            assert game.is_terminal(state) == (winner > 0 or np.count_nonzero(board) == 42)
            if game.is_terminal(state):
                break
            state = game.apply(state, rng.choice(game.legal_actions(state)))
        assert game.returns(state) == {0: 0.0, 1: 1.0, 2: -1.0}[winner]
        wins[game.returns(state)] += 1
    assert wins[1.0] > 0 and wins[-1.0] > 0


def test_connect4_planes_follow_the_player_to_move(engine):
    game = create("connect4", engine=engine)
    start = game.planes(game.initial())
    assert start.shape == (3, 6, 7) and start.dtype == np.float32
    assert start[:2].sum() == 0 and (start[2] == 1).all()
    after_x = game.planes(play(game, "4"))  # O to move: X's disc is the opponent's
    assert after_x[0].sum() == 0 and after_x[1].sum() == 1 and after_x[1, 0, 3] == 1 and after_x[2].sum() == 0
    after_o = game.planes(play(game, "4 4"))  # X to move again
    assert after_o[0, 0, 3] == 1 and after_o[1, 1, 3] == 1 and (after_o[2] == 1).all()


def test_connect4_mirror_matches_the_mirrored_game(engine):
    game = create("connect4", engine=engine)
    policy = np.arange(7, dtype=np.float32)
    (planes, same), (mirrored, reversed_policy) = game.symmetries(game.planes(play(game, "1 2 2")), policy)
    assert same is policy and np.array_equal(reversed_policy, policy[::-1])
    assert np.array_equal(mirrored, game.planes(play(game, "7 6 6")))
    assert not np.array_equal(mirrored, planes)


def test_connect4_move_text(engine):
    game = create("connect4", engine=engine)
    assert game.parse_move(game.initial(), " 4 ") == (3,) and game.move_text(game.initial(), 3) == "4"
    for bad in ("0", "8", "x", ""):
        with pytest.raises(ConfigError, match=r"for Connect Four: expected a column number from 1 to 7\.$"):
            game.parse_move(game.initial(), bad)
    full = play(game, "1 1 1 1 1 1")
    with pytest.raises(ConfigError, match=r"expected a column that is not full \(2, 3, 4, 5, 6, 7\)"):
        game.parse_move(full, "1")
    with pytest.raises(ConfigError, match="the game is over"):
        game.parse_move(play(game, "1 1 2 2 3 3 4"), "5")


# -- checkers ----------------------------------------------------------------------------------------------------------

PERFT = [7, 49, 302, 1_469, 7_361, 36_768, 179_740, 845_931]
# Recorded games (whole turns) that reach the rarer rules.
DOUBLE_JUMP = "11-16 22-17 10-15 23-19 16x23"  # White must take back, with a double jump either way
CROWNED_JUMP = "12-16 24-19 10-15 19x10 7x14 22-17 3-7 17x10x3"  # White's man is crowned on 3 and stops
KING_BACK = "11-16 23-19 16x23 27x18 10-14 32-27 14x23x32 31-27"  # Black's new king on 32 must jump back, 32x23
BLOCKED = ("12-16 23-19 16x23 26x19 9-13 22-17 13x22 25x18 5-9 19-16 11x20 29-25 9-14 18x9 6x13 31-26 1-5 21-17 "
           "13x22x31 30-26 31x22x29 27-23 20x27 23-18 27-31 18-15 10x19 32-27 31x24")
DRAWN = ("9-13 22-17 13x22 26x17 10-14 17x10 6x15 24-20 1-6 27-24 11-16 20x11 7x16 31-26 3-7 23-18 15x22x31 24-20 "
         "5-9 20x11 7x16 21-17 9-13 32-27 31x24 28x19 16x23 30-26 13x22x31 25-21 8-11 21-17 6-9 17-13 2-7 13x6 4-8 "
         "29-25 31-27 25-22 12-16 6-1 16-20 22-18 27-24 18-14 24-19 14-9 19-24 1-5 24-27 5-1 20-24 9-6 11-16 1-5 "
         "7-11 6-1 24-28 5-9 27-32 9-5 8-12 5-9 11-15 1-6 23-27 9-13 16-20 6-10 15-19 10-15 19-23 13-9 12-16 15-10")


def diagram(rows: str) -> np.ndarray:
    """An `(8, 8)` board from 8 lines of `.bBwW` (row 0 the top, rank 8; b/B Black man/king, w/W White's)."""
    lines = rows.split()
    assert len(lines) == 8 and all(len(line) == 8 for line in lines)
    return np.array([[".bBwW".index(ch) for ch in line] for line in lines], np.int8)


def at(board: np.ndarray, number: int) -> int:
    square = {n: s for s, n in SQUARE_NUMBER.items()}[number]
    return int(board[square // 8, square % 8])


def test_checkers_perft_matches_the_published_counts(engine):
    game = create("checkers", engine=engine)
    assert [perft(game, game.initial(), depth) for depth in range(1, 9)] == PERFT


def test_checkers_opening_moves_in_standard_notation(engine):
    game = create("checkers", engine=engine)
    assert texts(game, game.initial()) == ["10-14", "10-15", "11-15", "11-16", "12-16", "9-13", "9-14"]
    assert game.parse_move(game.initial(), "11-15") == game.parse_move(game.initial(), "c3-d4")


def test_checkers_capture_is_forced(engine):
    game = create("checkers", engine=engine)
    state = play(game, "11-15 22-18")  # White offers a man; Black's 20 other steps are now illegal
    assert texts(game, state) == ["15x22"]
    after = play(game, "15x22", state)
    assert game.to_play(after) == 1 and game.quiet(after) == 0 and (game.board(after) >= 3).sum() == 11


def test_checkers_multi_jump_keeps_the_move(engine):
    game = create("checkers", engine=engine)
    state = play(game, DOUBLE_JUMP)
    assert texts(game, state) == ["26x19", "27x18"] and perft(game, state, 1) == 2  # 26x19x10 or 27x18x11
    first = game.parse_move(state, "27x18")
    middle = game.apply(state, first[0])
    assert len(first) == 1 and game.to_play(middle) == 1
    assert game.jumper(middle) == {n: s for s, n in SQUARE_NUMBER.items()}[18] and texts(game, middle) == ["18x11"]
    assert game.planes(middle)[4].sum() == 1  # the piece that must go on jumping
    done = play(game, "18x11", middle)
    assert game.to_play(done) == 0 and game.jumper(done) == -1 and (game.board(done) == 1).sum() == 10
    whole = first + game.parse_move(middle, "18x11")
    assert game.parse_move(state, "27x18x11") == game.parse_move(state, "27x11") == whole


def test_checkers_branching_multi_jump():
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
    assert texts(game, state) == ["8x15"] and perft(game, state, 1) == 2  # two ways on from 15: to 22 or to 24
    middle = play(game, "8x15", state)
    assert game.to_play(middle) == 0 and texts(game, middle) == ["15x22", "15x24"]
    assert len(game.parse_move(state, "8x15x22")) == 2 and len(game.parse_move(state, "8x15")) == 1
    with pytest.raises(ConfigError, match="expected a legal move \\(8x15x22, 8x15x24\\)"):
        game.parse_move(state, "8-12")
    end = play(game, "8x15x24", state)
    assert game.to_play(end) == 1 and (game.board(end) >= 3).sum() == 1


def test_checkers_crowning_ends_a_jump(engine):
    game = create("checkers", engine=engine)
    state = play(game, CROWNED_JUMP)
    board = game.board(state)
    assert at(board, 3) == 4 and game.to_play(state) == 0  # a White king now, and Black's turn
    # as a king on 3 it could have jumped on: the crowning alone ended the turn
    as_king = Checkers().from_board(board, player=1)
    assert any(SQUARE_NUMBER[decode(action)[0]] == 3 and decode(action)[2] for action in as_king.legal)


def test_checkers_crowning_by_hand():
    game = Checkers()
    man = game.from_board(diagram("........ ....w.w. ...b.... ........ ........ ........ ........ ........"))
    after = play(game, "23x30", man)  # d6xf8: crowned, and the turn ends although g7 could be jumped next
    assert game.to_play(after) == 1 and at(game.board(after), 30) == 2 and at(game.board(after), 25) == 3
    king = game.from_board(diagram("........ ....w.w. ...B.... ........ ........ ........ ........ ........"))
    middle = play(game, "23x30", king)
    assert game.to_play(middle) == 0 and texts(game, middle) == ["30x21"]  # a king goes on
    step = game.from_board(diagram("........ w.b..... ........ ........ ........ ........ ........ ........"))
    promoted = play(game, "c7-b8", step)
    assert at(game.board(step), 27) == 1 and at(game.board(promoted), 32) == 2


def test_checkers_kings_move_backwards(engine):
    game = create("checkers", engine=engine)
    state = play(game, KING_BACK)
    assert at(game.board(state), 32) == 2 and texts(game, state) == ["32x23"]  # down the board, Black's backwards
    assert at(game.board(play(game, "32x23", state)), 23) == 2
    own = Checkers()
    king = own.from_board(diagram(".w...... ........ ........ ....B... ........ ........ ........ ........"))
    man = own.from_board(diagram(".w...... ........ ........ ....b... ........ ........ ........ ........"))
    assert texts(own, king) == ["18-14", "18-15", "18-22", "18-23"] and texts(own, man) == ["18-22", "18-23"]


def test_checkers_draw_after_40_actions_without_a_capture(engine):
    game = create("checkers", engine=engine)
    *before, last = DRAWN.split()
    state = play(game, " ".join(before))
    assert game.quiet(state) == 39 and not game.is_terminal(state)
    state = play(game, last, state)
    assert game.is_terminal(state) and game.returns(state) == 0.0 and game.quiet(state) == 40
    assert game.render(state).endswith("Draw (40 actions without a capture)")
    own = Checkers()
    kings = own.from_board(diagram(".......W ........ ........ ........ ........ ........ ........ B......."),
                           quiet=38)
    nearly = play(own, "a1-b2", kings)
    assert own.quiet(nearly) == 39 and not own.is_terminal(nearly)
    drawn = play(own, "h8-g7", nearly)
    assert own.is_terminal(drawn) and own.returns(drawn) == 0.0
    capture = own.from_board(diagram("........ ........ ........ ........ ........ ........ .w...... B......."),
                             quiet=39)
    taken = play(own, "a1xc3", capture)
    assert own.quiet(taken) == 0 and own.returns(taken) == 1.0  # a win, not a draw: the capture reset the count


def test_checkers_a_player_without_moves_loses(engine):
    game = create("checkers", engine=engine)
    blocked = play(game, BLOCKED)  # White still has a man, on a7, and cannot move it
    assert game.is_terminal(blocked) and game.returns(blocked) == 1.0 and (game.board(blocked) == 3).sum() == 1
    own = Checkers()
    state = own.from_board(diagram("........ ........ ........ ........ ........ b.b...b. .w...... b.b....."))
    assert not own.is_terminal(state)
    over = play(own, "g3-h4", state)
    assert own.is_terminal(over) and own.returns(over) == 1.0 and own.to_play(over) == -1


def test_checkers_planes_turn_the_board_for_white(engine):
    game = create("checkers", engine=engine)
    black = game.planes(game.initial())
    assert black.shape == (7, 8, 8) and black.dtype == np.float32
    assert black[0].sum() == 12 and black[0, 5:].sum() == 12 and black[2, :3].sum() == 12 and (black[6] == 1).all()
    state = play(game, "11-15")
    white = game.planes(state)
    assert np.array_equal(white[0], black[0]) and white[2].sum() == 12 and white[6].sum() == 0
    assert white[2, 3].sum() == 1 and white[5, 0, 0] == pytest.approx(1 / 40)
    # in the turned frame White's men move up the array, like Black's
    assert {decode(game.policy_index(state, a))[1] for a in game.legal_actions(state)} == {0, 1}
    assert {decode(game.policy_index(game.initial(), a))[1] for a in game.legal_actions(game.initial())} == {0, 1}


def test_checkers_move_text_errors(engine):
    game = create("checkers", engine=engine)
    with pytest.raises(ConfigError, match=r"expected a legal move \(10-14, 10-15, 11-15, 11-16, 12-16, 9-13, 9-14\)"):
        game.parse_move(game.initial(), "11-14")
    for bad in ("hello", "11", "33-34", "a1-b2-"):
        with pytest.raises(ConfigError, match=r"for checkers: expected a move like `11-15` or `9x18x27`"):
            game.parse_move(game.initial(), bad)


def test_checkers_board_must_be_valid():
    with pytest.raises(ConfigError, match="expected pieces on dark squares only"):
        Checkers().from_board(diagram("b....... ........ ........ ........ ........ ........ ........ ........"))
    with pytest.raises(ConfigError, match=r"expected \(8, 8\) codes 0-4"):
        Checkers().from_board(np.zeros((8, 7)))


@needs_openspiel
def test_checkers_engines_agree_move_by_move():
    own, spiel = create("checkers", engine="striate"), create("checkers", engine="openspiel")
    rng, seen = random.Random(7), {"multi-jump": 0, "crowned": 0, "draw": 0, "win": 0}
    for _ in range(120):
        a, b = own.initial(), spiel.initial()
        while True:
            assert own.legal_actions(a) == spiel.legal_actions(b)
            assert own.to_play(a) == spiel.to_play(b) and own.jumper(a) == spiel.jumper(b)
            assert own.quiet(a) == spiel.quiet(b) and np.array_equal(own.planes(a), spiel.planes(b))
            if own.is_terminal(a):
                break
            action = rng.choice(own.legal_actions(a))
            start, _, _, end = decode(action)
            was_king = a.kings >> start & 1
            a, b = own.apply(a, action), spiel.apply(b, action)
            seen["multi-jump"] += own.jumper(a) >= 0
            seen["crowned"] += not was_king and a.kings >> end & 1
        assert spiel.is_terminal(b) and own.returns(a) == spiel.returns(b)
        seen["draw" if own.returns(a) == 0 else "win"] += 1
    assert min(seen.values()) > 0, seen


# -- Go ----------------------------------------------------------------------------------------------------------------

KO = "B4 C4 C5 D5 C3 D3 F6 E4 D4"  # Black's D4 takes the white stone on C4 from inside White's eye
WALLS = " ".join(f"D{row} E{row}" for row in range(1, 8))  # Black holds columns A-D, White E-G


def test_go_capture_and_suicide(engine):
    game = create("go", size=7, engine=engine)
    state = play(game, "C4 D4 E4 pass D3 pass")
    assert game.board(state)[3, 3] == 2
    state = play(game, "D5", state)
    assert game.board(state)[3, 3] == 0 and (game.board(state) == 1).sum() == 4
    assert 3 * 7 + 3 not in game.legal_actions(state)  # White back on D4 would have no liberty
    assert game.planes(state)[2, 3, 3] == 1
    with pytest.raises(ConfigError, match=r"expected an empty point that is neither suicide nor a ko retake "
                                          r"\(D4 is suicide or a ko retake\)"):
        game.parse_move(state, "D4")


def test_go_ko_cannot_be_retaken_at_once(engine):
    game = create("go", size=7, engine=engine)
    state = play(game, KO)
    c4 = 3 * 7 + 2
    assert game.board(state)[3, 2] == 0 and c4 not in game.legal_actions(state)
    assert game.planes(state)[2, 3, 2] == 1
    with pytest.raises(ConfigError, match="neither suicide nor a ko retake"):
        game.parse_move(state, "C4")
    later = play(game, "A7 G1", state)  # once both have played elsewhere the ko may be taken back
    assert c4 in game.legal_actions(later)
    assert game.board(play(game, "C4", later))[3, 3] == 0


def test_go_two_passes_end_the_game_with_area_score_and_komi(engine):
    game = create("go", size=7, engine=engine)
    state = play(game, WALLS + " pass")
    assert not game.is_terminal(state)
    state = play(game, "pass", state)
    assert game.is_terminal(state) and game.to_play(state) == -1
    assert game.score(state) == 28 - 21 - 9.0 and game.returns(state) == -1.0  # komi 9 on 7x7: White by 2
    assert game.render(state).endswith("White wins by 2 (area score, komi 9)")
    generous = create("go", size=7, komi=6.5, engine=engine)
    assert generous.returns(play(generous, WALLS + " pass pass")) == 1.0  # Black by 0.5
    even = create("go", size=7, komi=7, engine=engine)
    assert even.returns(play(even, WALLS + " pass pass")) == 0.0
    # a white stone left inside Black's area makes it nobody's (Tromp-Taylor scores the board as it stands)
    invaded = play(game, WALLS + " pass A1 pass pass")
    assert game.is_terminal(invaded) and game.score(invaded) == 7 - 22 - 9.0 and game.returns(invaded) == -1.0


def test_go_a_stone_after_a_pass_keeps_the_game_going(engine):
    game = create("go", size=7, engine=engine)
    assert not game.is_terminal(play(game, "pass D4 pass"))


def test_go_max_length_scores_the_board_as_it_stands(engine):
    game = create("go", size=5, max_length=6, engine=engine)
    state = play(game, "A1 E5 B1 D5 C1")
    assert not game.is_terminal(state)
    state = play(game, "C5", state)
    assert game.is_terminal(state) and game.score(state) == -7.5 and game.returns(state) == -1.0


def test_go_planes_follow_the_player_to_move(engine):
    game = create("go", size=7, engine=engine)
    start = game.planes(game.initial())
    assert start.shape == (5, 7, 7) and start[:4].sum() == 0 and (start[4] == 1).all()
    white = game.planes(play(game, "D4"))
    assert white[0].sum() == 0 and white[1].sum() == 1 and white[1, 3, 3] == 1
    assert white[3, 3, 3] == 1 and white[3].sum() == 1 and white[4].sum() == 0
    black = game.planes(play(game, "D4 B6"))
    assert black[0, 3, 3] == 1 and black[1, 5, 1] == 1 and black[3, 5, 1] == 1 and (black[4] == 1).all()


def test_go_symmetries_move_planes_and_policy_together(engine):
    game = create("go", size=7, engine=engine)
    moves = [1 * 7 + 1, 4 * 7 + 2, 2 * 7 + 5]  # B2 C5 F3
    state = play(game, " ".join(game.move_text(game.initial(), m) for m in moves))
    policy = np.zeros(50, np.float32)
    policy[moves[-1]], policy[49] = 0.75, 0.25  # the last stone and the pass
    pairs = game.symmetries(game.planes(state), policy)
    assert len(pairs) == 8 and np.array_equal(pairs[0][0], game.planes(state))
    assert len({planes.tobytes() for planes, _ in pairs}) == 8
    # where each point goes, read off by sending a board of point numbers through the same transforms
    numbers = np.arange(49, dtype=np.float32).reshape(1, 7, 7)
    for (planes, moved), (image, _) in zip(pairs, game.symmetries(numbers, np.zeros(50)), strict=True):
        moved_to = np.argsort(image.reshape(-1).astype(int))  # moved_to[old point] = new point
        replayed = play(game, " ".join(game.move_text(game.initial(), int(moved_to[m])) for m in moves))
        assert np.array_equal(planes, game.planes(replayed))  # the turned position, planes and all
        assert moved[moved_to[moves[-1]]] == 0.75 and moved[49] == 0.25


def test_go_move_text(engine):
    game = create("go", size=9, engine=engine)
    assert game.parse_move(game.initial(), "d4") == (3 * 9 + 3,) and game.parse_move(game.initial(), "PASS") == (81,)
    assert game.parse_move(game.initial(), "J9") == (80,) and game.move_text(game.initial(), 80) == "J9"
    for bad in ("I5", "K1", "A10", "D", "4D", "A0"):
        with pytest.raises(ConfigError, match=r"for 9x9 Go, komi 7.5: expected a point A1-J9 \(files A-J, no I\) "
                                              r"or `pass`\.$"):
            game.parse_move(game.initial(), bad)
    with pytest.raises(ConfigError, match=r"\(D4 is occupied\)"):
        game.parse_move(play(game, "D4"), "D4")
    with pytest.raises(ConfigError, match="the game is over"):
        game.parse_move(play(game, "pass pass"), "D4")


def test_go_area_score_reference():
    board = np.zeros((5, 5), np.int8)
    board[:, 2] = 1  # a black wall down the middle, one white stone on the right
    board[0, 4] = 2
    assert area_score(board, 0.5) == 5 + 10 - 1 - 0.5  # the left region is Black's, the right one nobody's


@needs_openspiel
@pytest.mark.parametrize("size, games, pass_rate", [(2, 100, 0.1), (3, 150, 0.1), (5, 40, 0.05), (7, 40, 0.02),
                                                       (9, 15, 0.02)])
def test_go_engines_agree_move_by_move(size, games, pass_rate):
    own, spiel = Go(size), create("go", size=size, engine="openspiel")
    rng, seen = random.Random(size), {"ko": 0, "repeated": 0, "scored": 0}
    for _ in range(games):
        a, b = own.initial(), spiel.initial()
        while not own.is_terminal(a):
            assert own.legal_actions(a) == spiel.legal_actions(b) and own.to_play(a) == spiel.to_play(b)
            assert np.array_equal(own.planes(a), spiel.planes(b))
            legal = own.legal_actions(a)
            action = legal[-1] if len(legal) == 1 or rng.random() < pass_rate else rng.choice(legal[:-1])
            a, b = own.apply(a, action), spiel.apply(b, action)
            seen["ko"] += a.ko >= 0
        assert spiel.is_terminal(b) and own.returns(a) == spiel.returns(b)
        seen["repeated" if a.repeated else "scored"] += 1
        if not a.repeated:
            score = area_score(own.board(a), own.komi)
            assert own.returns(a) == (score > 0) - (score < 0)
    assert seen["scored"] > 0 and (seen["ko"] > 0 or size == 2)
    if size <= 3:
        assert seen["repeated"] > 0  # a whole-board repetition ends the game drawn in both engines


# -- the registry ------------------------------------------------------------------------------------------------------

def test_create_picks_engines_and_checks_options():
    assert create("connect4").engine == FASTEST["connect4"] == "striate"
    expected = "openspiel" if HAS_OPENSPIEL else "striate"
    assert create("checkers").engine == expected and create("go").engine == expected
    assert create("go").komi == 7.5 and create("go", size=7).komi == 9.0 and create("go", size=7).max_length == 98
    with pytest.raises(ConfigError, match=r"Unknown game 'chess': expected one of connect4, checkers, go\."):
        create("chess")
    with pytest.raises(ConfigError, match=r"Unknown option 'sise' for go: expected only size, komi, max_length\. "
                                          r"Did you mean `size`\?"):
        create("go", sise=7)
    with pytest.raises(ConfigError, match="Unknown option 'size' for connect4: expected no options"):
        create("connect4", size=7)
    with pytest.raises(ConfigError, match="expected `auto`, `striate` or `openspiel`, received 'fast'"):
        create("go", engine="fast")
    with pytest.raises(ConfigError, match="expected a board size from 2 to 19, received 25"):
        create("go", size=25)


def test_without_openspiel_create_falls_back_and_says_what_to_install(monkeypatch):
    monkeypatch.setattr(striate.games, "_has_openspiel", lambda: False)
    assert create("checkers").engine == "striate" and create("go", size=7).engine == "striate"
    monkeypatch.setitem(sys.modules, "pyspiel", None)  # `import pyspiel` now fails
    with pytest.raises(ConfigError, match=r"needs OpenSpiel, which is not installed .*pip install 'striate\[games\]'"):
        create("go", engine="openspiel")
