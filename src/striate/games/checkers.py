"""Checkers: 8x8 English draughts (American checkers), with OpenSpiel's action encoding and draw rule.

Rules: men move one square diagonally forward, kings forward and backward. Capturing is forced: when any jump
exists the player must jump (any jumping piece, any path) and keep jumping with the same piece while it can. A man
that reaches the far row is crowned and its turn ends there, even in the middle of a multi-jump. A player with no
legal move (no pieces, or all blocked) loses. Draw rule: the game is drawn after 40 actions (20 by each side) in a
row without a capture; man moves do not reset the count. This is OpenSpiel's rule (`kMaxMovesWithoutCapture`), kept
by both engines so that they play the same game; it is shorter than the tournament rule (40 moves by each side
without a capture or a man move) and a game therefore lasts at most about 1,000 actions.

Player 0 is Black and moves first, from the bottom of the board (squares 1-12 of the standard numbering); player 1 is
White. Board arrays and square indices `row * 8 + column` have row 0 at the top (White's home row), column 0 at the
left (file a); squares are dark when `row + column` is odd.

Actions (512): one jump or one step, `((row * 8 + column) * 4 + direction) * 2 + kind` for the piece on
(row, column), direction 0 up-left, 1 up-right, 2 down-right, 3 down-left, kind 0 a step and 1 a jump. A multi-jump
is one action per jump; the same player stays to move until the piece cannot jump again (`to_play` does not
change), and `perft` counts whole turns.

Text: the standard square numbers, `11-15` for a step and `9x18x27` for a jump (`9x27` when only one path joins
them), or the algebraic names of the same squares (`c3-d4`, `c3xe5xg7`).

Two engines with the same rules, actions, planes and text:

- `Checkers`: striate's own, three Python-int bitboards (player 0, player 1, kings); the moves of a state are
  generated once, with a few shifts and masks per direction, when the state is made.
- `SpielCheckers`: OpenSpiel's `checkers` (C++), states are `pyspiel.State`s.

Speed, measured by `python benchmarks/game_engines.py` on two CPU cores (Intel Xeon, Python 3.11, OpenSpiel 2.0.2):

| measure (median of 5 rounds) | striate | OpenSpiel | OpenSpiel's speed-up |
| --- | --- | --- | --- |
| random playouts/s | 3,331 | 5,717 | 1.72 |
| UCT search, 200 simulations (ms) | 58.9 | 36.4 | 1.62 |
| `planes` calls/s | 65,843 | 61,071 | 0.93 |
| perft(8) (s) | 1.48 | 1.38 | 1.07 |

`create("checkers")` therefore picks OpenSpiel's engine (when the `games` extra is installed): generating the
moves of a position in C++ makes playouts and search 1.6-1.7 times as fast (perft and `planes` are level: their
cost is the Python around the engine). striate's engine stays as the fallback without OpenSpiel, as the tests'
independent reference (the two are compared move by move) and for positions set up by hand (`Checkers.from_board`).

Planes `(7, 8, 8)` from the view of the player to move, turned 180 degrees when player 1 is to move so that the
mover's men always move towards row 0: own men, own kings, opponent's men, opponent's kings, the piece that must go
on jumping (zeros otherwise), actions since the last capture / 40 (constant), and 1 when player 0 is to move
(constant). `policy_index` maps an action into the same turned frame.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import NamedTuple

import numpy as np

from striate.errors import ConfigError
from striate.games._spiel import SpielRules, load_game
from striate.games.base import Game

SIZE = 8
DRAW_AFTER = 40  # actions in a row without a capture
_ROW_STEP, _COLUMN_STEP = (-1, -1, 1, 1), (-1, 1, 1, -1)  # up-left, up-right, down-right, down-left
_DELTAS = tuple(8 * r + c for r, c in zip(_ROW_STEP, _COLUMN_STEP, strict=True))  # -9, -7, 9, 7
_DARK = [(r, c) for r in range(SIZE) for c in range(SIZE) if (r + c) % 2 == 1]
DARK = sum(1 << (8 * r + c) for r, c in _DARK)


def _reach(steps: int) -> tuple[int, ...]:
    """Per direction, the dark squares from which `steps` diagonal steps stay on the board."""
    return tuple(sum(1 << (8 * r + c) for r, c in _DARK if 0 <= r + steps * dr < SIZE and 0 <= c + steps * dc < SIZE)
                 for dr, dc in zip(_ROW_STEP, _COLUMN_STEP, strict=True))


_STEP, _JUMP = _reach(1), _reach(2)
_MAN_DIRECTIONS = ((0, 1), (2, 3))  # player 0 moves up the array, player 1 down
_CROWN = (0xFF, 0xFF << 56)  # the row where each player's men are crowned
# square number (1-32, standard notation) of each array square, player 0's home squares numbered 1-12
SQUARE_NUMBER = {8 * r + c: (7 - r) * 4 + (7 - c) // 2 + 1 for r, c in _DARK}
_SQUARE_AT = {number: square for square, number in SQUARE_NUMBER.items()}


def _shift(bits: int, delta: int) -> int:
    return bits << delta if delta > 0 else bits >> -delta


def encode(square: int, direction: int, jump: bool) -> int:
    """The action for the piece on `square` (`row * 8 + column`) stepping or jumping in `direction`."""
    return (square * 4 + direction) * 2 + int(jump)


def decode(action: int) -> tuple[int, int, bool, int]:
    """`(from_square, direction, jump, to_square)` of an action."""
    square, direction, jump = action >> 3, (action >> 1) & 3, bool(action & 1)
    return square, direction, jump, square + _DELTAS[direction] * (2 if jump else 1)


def _generate(own: int, opponent: int, kings: int, player: int, jumper: int) -> tuple[int, ...]:
    """Legal actions for `player`; jumps only (from `jumper` alone when it is >= 0) when any jump exists."""
    empty = DARK & ~(own | opponent)
    pieces = own if jumper < 0 else own & (1 << jumper)
    men_directions = _MAN_DIRECTIONS[player]
    actions = []
    for direction, delta in enumerate(_DELTAS):
        movers = pieces if direction in men_directions else pieces & kings
        found = movers & _JUMP[direction] & _shift(opponent, -delta) & _shift(empty, -2 * delta)
        while found:
            low = found & -found
            actions.append(((low.bit_length() - 1) * 4 + direction) * 2 + 1)
            found ^= low
    if actions or jumper >= 0:
        return tuple(sorted(actions))
    for direction, delta in enumerate(_DELTAS):
        movers = own if direction in men_directions else own & kings
        found = movers & _STEP[direction] & _shift(empty, -delta)
        while found:
            low = found & -found
            actions.append(((low.bit_length() - 1) * 4 + direction) * 2)
            found ^= low
    return tuple(sorted(actions))


class CheckersState(NamedTuple):
    """`pieces`: bits (`1 << square`) of player 0's and player 1's pieces; `kings`: bits of the kings of both;
    `player`: to move; `jumper`: the square of the piece that must jump again, or -1; `quiet`: actions since the
    last capture; `legal`: the legal actions, computed once when the state is made (empty when terminal)."""

    pieces: tuple[int, int]
    kings: int
    player: int
    jumper: int
    quiet: int
    legal: tuple[int, ...]


class _CheckersRules(Game):
    """Planes, text and the perft shortcut shared by both engines, built on `board`, `jumper` and `quiet`."""

    name = "checkers"
    players = ("Black", "White")
    num_actions = SIZE * SIZE * 4 * 2
    planes_shape = (7, SIZE, SIZE)
    _SYMBOLS = ".bBwW"

    def describe(self) -> str:
        return "checkers"

    @abstractmethod
    def board(self, state) -> np.ndarray:
        """`(8, 8)` int8, row 0 the top: 0 empty, 1 player 0's man, 2 player 0's king, 3 player 1's man, 4 king."""

    @abstractmethod
    def jumper(self, state) -> int:
        """The square of the piece that must jump again, or -1."""

    @abstractmethod
    def quiet(self, state) -> int:
        """Actions since the last capture (the game is drawn at 40)."""

    @abstractmethod
    def _mover(self, state) -> int:
        """The player to move, also in a terminal state (whose planes are then still defined)."""

    def _turn_ends(self, state, action: int) -> bool:
        return not action & 1  # only a jump may be followed by another

    def planes(self, state) -> np.ndarray:
        board, player, jumper = self.board(state), self._mover(state), self.jumper(state)
        planes = np.zeros(self.planes_shape, np.float32)  # (7, 8, 8)
        own, other = (1, 3) if player == 0 else (3, 1)
        for plane, code in enumerate((own, own + 1, other, other + 1)):
            planes[plane] = board == code
        if jumper >= 0:
            planes[4, jumper // SIZE, jumper % SIZE] = 1.0
        planes[5] = self.quiet(state) / DRAW_AFTER
        planes[6] = 1.0 if player == 0 else 0.0
        return planes[:, ::-1, ::-1].copy() if player == 1 else planes  # (7, 8, 8), turned for player 1

    def policy_index(self, state, action: int) -> int:
        if self._mover(state) == 0:
            return action
        square, direction, jump, _ = decode(action)
        return encode(SIZE * SIZE - 1 - square, (direction + 2) % 4, jump)  # the same move, board turned

    def render(self, state) -> str:
        board = self.board(state)
        lines = []
        for row in range(SIZE):
            cells = " ".join(self._SYMBOLS[v] if (row + c) % 2 else " " for c, v in enumerate(board[row]))
            numbers = " ".join(f"{SQUARE_NUMBER[8 * row + c]:2d}" if (row + c) % 2 else "  " for c in range(SIZE))
            lines.append(f"{SIZE - row} {cells}    {numbers}".rstrip())
        lines.append("  " + " ".join("abcdefgh"))
        lines.append(self._status(state))
        return "\n".join(lines)

    def _status(self, state) -> str:
        if self.is_terminal(state):
            result = self.returns(state)
            if result == 0:
                return f"Draw ({DRAW_AFTER} actions without a capture)"
            return f"{self.players[0 if result > 0 else 1]} wins"
        status = f"{self.players[self.to_play(state)]} to play"
        jumper = self.jumper(state)
        return status + (f", jumping on from {SQUARE_NUMBER[jumper]}" if jumper >= 0 else "")

    def move_text(self, state, action: int) -> str:
        start, _, jump, end = decode(action)
        return f"{SQUARE_NUMBER[start]}{'x' if jump else '-'}{SQUARE_NUMBER[end]}"

    def parse_move(self, state, text: str) -> tuple[int, ...]:
        """A whole turn (`9x18x27`, or `9x27` when one path joins them) or its first jumps (`9x18`)."""
        expected = "a move like `11-15` or `9x18x27` (square numbers 1-32) or `c3-d4`"
        if self.is_terminal(state):
            raise self._bad_move(text, "no move, the game is over")
        squares = [self._square(word) for word in re.split(r"\s*[-x]\s*", str(text).strip().lower())]
        if len(squares) < 2 or None in squares:
            raise self._bad_move(text, expected)
        paths = self._paths(state)
        whole = {path for path, seen in paths if seen == squares}
        ends = {path for path, seen in paths if len(squares) == 2 and (seen[0], seen[-1]) == tuple(squares)}
        starts = {path[:len(squares) - 1] for path, seen in paths if seen[:len(squares)] == squares}
        for found in (whole, ends, starts):
            if len(found) == 1:
                return found.pop()
            if found:
                raise self._bad_move(text, f"the full path, one of {len(found)} jumps that join those squares")
        whole_turns = ", ".join(sorted(self._path_text(path, seen) for path, seen in paths))
        raise self._bad_move(text, f"a legal move ({whole_turns})")

    @staticmethod
    def _path_text(path: tuple[int, ...], seen: list[int]) -> str:
        return ("x" if path[0] & 1 else "-").join(str(SQUARE_NUMBER[square]) for square in seen)

    @staticmethod
    def _square(word: str) -> int | None:
        if word.isdigit() and int(word) in _SQUARE_AT:
            return _SQUARE_AT[int(word)]
        if len(word) == 2 and word[0] in "abcdefgh" and word[1] in "12345678":
            square = 8 * (8 - int(word[1])) + "abcdefgh".index(word[0])
            return square if square in SQUARE_NUMBER else None
        return None

    def _paths(self, state) -> list[tuple[tuple[int, ...], list[int]]]:
        """Every whole turn from `state` as (actions, squares visited)."""
        player, found = self.to_play(state), []
        for action in self.legal_actions(state):
            square, _, _, end = decode(action)
            child = self.apply(state, action)
            if self.to_play(child) != player:
                found.append(((action,), [square, end]))
                continue
            for rest, seen in self._paths(child):
                found.append(((action, *rest), [square, *seen]))
        return found


class Checkers(_CheckersRules):
    """striate's own checkers engine (Python-int bitboards)."""

    engine = "striate"

    def initial(self) -> CheckersState:
        first = sum(1 << (8 * r + c) for r, c in _DARK if r >= 5)
        second = sum(1 << (8 * r + c) for r, c in _DARK if r <= 2)
        return CheckersState((first, second), 0, 0, -1, 0, _generate(first, second, 0, 0, -1))

    def from_board(self, board: np.ndarray, player: int = 0, quiet: int = 0) -> CheckersState:
        """A position set up by hand (a puzzle, an endgame), with no jump in progress.

        Args:
            board: `(8, 8)` in the codes of `board()` (0 empty, 1/2 player 0's man/king, 3/4 player 1's), pieces on
                dark squares only. player: to move. quiet: actions since the last capture (drawn at 40).
        """
        board = np.asarray(board)
        if board.shape != (SIZE, SIZE) or not np.isin(board, range(5)).all():
            raise ConfigError(f"Invalid `board` for checkers: expected (8, 8) codes 0-4, received shape "
                              f"{board.shape} with values {sorted(set(np.unique(board).tolist()))}.")
        light = [(r, c) for r, c in zip(*np.nonzero(board), strict=True) if (r + c) % 2 == 0]
        if light:
            raise ConfigError(f"Invalid `board` for checkers: expected pieces on dark squares only (row + column odd),"
                              f" received one at row {light[0][0]}, column {light[0][1]}.")
        if player not in (0, 1) or not isinstance(quiet, int) or quiet < 0:
            raise ConfigError(f"Invalid position for checkers: expected `player` 0 or 1 and `quiet` >= 0, received "
                              f"{player!r} and {quiet!r}.")
        bits = [sum(1 << int(s) for s in np.flatnonzero(np.isin(board, codes))) for codes in ((1, 2), (3, 4), (2, 4))]
        own, opponent = bits[player], bits[1 - player]
        legal = () if quiet >= DRAW_AFTER else _generate(own, opponent, bits[2], player, -1)
        return CheckersState((bits[0], bits[1]), bits[2], player, -1, quiet, legal)

    def legal_actions(self, state: CheckersState) -> tuple[int, ...]:
        return state.legal

    def apply(self, state: CheckersState, action: int) -> CheckersState:
        player = state.player
        own, opponent = state.pieces[player], state.pieces[1 - player]
        kings, quiet = state.kings, state.quiet + 1
        square, direction, jump = action >> 3, (action >> 1) & 3, action & 1
        end = square + _DELTAS[direction] * (jump + 1)
        moved = (1 << square) | (1 << end)
        own ^= moved
        if kings >> square & 1:
            kings ^= moved
        crowned = not kings >> end & 1 and (1 << end) & _CROWN[player]
        if crowned:
            kings |= 1 << end
        if jump:
            taken = ~(1 << (square + _DELTAS[direction]))
            opponent &= taken
            kings &= taken
            quiet = 0
            if not crowned:  # a crowned man's turn ends; any other jumper goes on while it can
                more = _generate(own, opponent, kings, player, end)
                if more:
                    pieces = (own, opponent) if player == 0 else (opponent, own)
                    return CheckersState(pieces, kings, player, end, quiet, more)
        pieces = (own, opponent) if player == 0 else (opponent, own)
        legal = () if quiet >= DRAW_AFTER else _generate(opponent, own, kings, 1 - player, -1)
        return CheckersState(pieces, kings, 1 - player, -1, quiet, legal)

    def is_terminal(self, state: CheckersState) -> bool:
        return not state.legal

    def returns(self, state: CheckersState) -> float:
        if state.legal or state.quiet >= DRAW_AFTER:
            return 0.0
        return -1.0 if state.player == 0 else 1.0  # the player to move has no move and loses

    def to_play(self, state: CheckersState) -> int:
        return state.player if state.legal else -1

    def board(self, state: CheckersState) -> np.ndarray:
        board = np.zeros(SIZE * SIZE, np.int8)
        for square in range(SIZE * SIZE):
            bit = 1 << square
            for player in (0, 1):
                if state.pieces[player] & bit:
                    board[square] = 1 + 2 * player + (1 if state.kings & bit else 0)
        return board.reshape(SIZE, SIZE)

    def jumper(self, state: CheckersState) -> int:
        return state.jumper

    def quiet(self, state: CheckersState) -> int:
        return state.quiet

    def _mover(self, state: CheckersState) -> int:
        return state.player


_SPIEL_SYMBOLS = {".": 0, "o": 1, "8": 2, "+": 3, "*": 4}  # OpenSpiel's player 0 is "o" (king "8"), player 1 "+"


class SpielCheckers(SpielRules, _CheckersRules):
    """OpenSpiel's `checkers` behind striate's `Game` interface."""

    def __init__(self):
        self._spiel = load_game("checkers", {})

    def board(self, state) -> np.ndarray:
        # read from OpenSpiel's text board ("8.+.+.+.+" per row, top row first): the order of its observation planes
        # changed between releases, its symbols did not
        rows = str(state).splitlines()[:SIZE]
        return np.array([[_SPIEL_SYMBOLS[symbol] for symbol in row[1:SIZE + 1]] for row in rows], np.int8)

    def jumper(self, state) -> int:
        history = state.history()
        if not history or not history[-1] & 1 or state.is_terminal():
            return -1
        end = decode(history[-1])[3]  # the last jumper's square; only its owner can move from there
        return end if all(action >> 3 == end for action in state.legal_actions()) else -1

    def quiet(self, state) -> int:
        count = 0
        for action in reversed(state.history()):
            if action & 1:
                break
            count += 1
        return count

    def _mover(self, state) -> int:
        player = state.current_player()
        if player >= 0:
            return player
        result = state.returns()[0]  # terminal: the player without a move lost; a draw ends on a step
        return (0 if result < 0 else 1) if result != 0 else 1 - state.full_history()[-1].player
