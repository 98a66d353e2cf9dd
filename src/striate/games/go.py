"""Go on small boards (7x7 and 9x9 by default; any size from 2 to 19), with OpenSpiel's rules.

Rules: Black (player 0) moves first; a move places a stone on an empty point or passes. Stones left without liberties
are captured. Suicide is forbidden (a stone or group may not be left without liberties unless it captures). Ko:
simple ko is forbidden (a stone that has just captured exactly one stone by playing into an opponent's eye may not be
captured back at once); any other repetition of a whole-board position (triple ko and the like, rare) ends the game
as a draw, OpenSpiel's rule, instead of forbidding the move. The game ends after two passes in a row, or after
`max_length` actions (passes count; default `2 * size * size`, 98 on 7x7 and 162 on 9x9), and is then scored as it
stands. Scoring: area (Chinese, Tromp-Taylor) - stones on the board plus empty regions that touch stones of one colour
only - with komi added to White; Black wins when the score is positive, a zero score is a draw.

Komi: 7.5 on 9x9 (the usual value under area scoring) and 9 on 7x7, where perfect play is known to give Black a
9-point win (Davies; Li and Yen, 2015), so that 9 is the fair komi and a perfect game is a draw; other sizes
default to 7.5.

Actions (`size * size + 1`): `row * size + column` for a stone, row 0 the bottom row (rank 1) and column 0 file A;
`size * size` is the pass. Text: GTP coordinates, `D4` (files skip the letter I) or `pass`.

Two engines with the same rules, actions, planes and text:

- `Go`: striate's own, two Python-int bitboards with a guard column per row; groups are found by repeated
  dilation, and only the empty points with no empty neighbour need a group search to tell suicide from capture.
- `SpielGo`: OpenSpiel's `go` (C++, incremental chains with pseudo-liberties), states are `pyspiel.State`s.

Speed, measured by `python benchmarks/game_engines.py` on two CPU cores (Intel Xeon, Python 3.11, OpenSpiel 2.0.2):

| measure (median of 5 rounds) | striate | OpenSpiel | OpenSpiel's speed-up |
| --- | --- | --- | --- |
| 7x7: random playouts/s | 821 | 10,622 | 12.94 |
| 7x7: UCT search, 200 simulations (ms) | 240.4 | 20.5 | 11.73 |
| 7x7: `planes` calls/s | 69,065 | 64,612 | 0.94 |
| 9x9: random playouts/s | 284 | 5,053 | 17.81 |
| 9x9: UCT search, 200 simulations (ms) | 684.8 | 41.1 | 16.68 |
| 9x9: `planes` calls/s | 45,979 | 49,507 | 1.08 |

`create("go")` therefore picks OpenSpiel's engine (when the `games` extra is installed): its chains keep their
liberties up to date move by move, where striate's engine finds groups and liberties by dilation in Python for
every capture and every suicide test. striate's engine stays as the fallback without OpenSpiel and as the tests'
independent reference (the two are compared move by move, repetitions included).

Planes `(5, size, size)`, row 0 the bottom row like the actions, from the view of the player to move: own stones,
the opponent's stones, empty points where the player to move may not play (ko, suicide), the last stone played
(zeros after a pass), and 1 when Black is to move (constant). `symmetries` gives the 8 rotations and reflections of
the planes and the policy (the pass stays last).
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from typing import NamedTuple

import numpy as np

from striate.errors import ConfigError
from striate.games._spiel import SpielRules, load_game
from striate.games.base import Game

COLUMN_LETTERS = "ABCDEFGHJKLMNOPQRST"


def default_komi(size: int) -> float:
    """9 on 7x7 (the solved fair komi), 7.5 otherwise."""
    return 9.0 if size == 7 else 7.5


def area_score(board: np.ndarray, komi: float) -> float:
    """Black's area minus White's minus komi, by a plain breadth-first search over empty regions.

    Args:
        board: `(size, size)` with 0 empty, 1 Black, 2 White.
    """
    size = board.shape[0]
    score, seen = float(np.count_nonzero(board == 1) - np.count_nonzero(board == 2)), np.zeros_like(board, bool)
    for start in zip(*np.nonzero(board == 0), strict=True):
        if seen[start]:
            continue
        region, touched, queue = 0, set(), deque([start])
        seen[start] = True
        while queue:
            row, column = queue.popleft()
            region += 1
            for r, c in ((row + 1, column), (row - 1, column), (row, column + 1), (row, column - 1)):
                if 0 <= r < size and 0 <= c < size:
                    if board[r, c]:
                        touched.add(int(board[r, c]))
                    elif not seen[r, c]:
                        seen[r, c] = True
                        queue.append((r, c))
        if touched == {1}:
            score += region
        elif touched == {2}:
            score -= region
    return score - komi


class GoState(NamedTuple):
    """`stones`: Black's and White's bits (bit `row * (size + 1) + column`); `player`: to move; `ko`: the bit index
    where a stone may not be played now, or -1; `ply`: actions so far; `passes`: passes in a row; `seen`: every
    position so far; `repeated`: the last stone repeated a position (the game ends drawn); `last`: the last action
    (-1 at the start); `legal`: the legal actions, computed once when the state is made."""

    stones: tuple[int, int]
    player: int
    ko: int
    ply: int
    passes: int
    seen: frozenset
    repeated: bool
    last: int
    legal: tuple[int, ...]


class _GoRules(Game):
    """Parameters, planes, text and symmetries shared by both engines, built on `board(state)`."""

    name = "go"
    players = ("Black", "White")

    def __init__(self, size: int = 9, komi: float | None = None, max_length: int | None = None):
        if not isinstance(size, int) or not 2 <= size <= 19:
            raise ConfigError(f"Invalid `size` for Go: expected a board size from 2 to 19, received {size!r}.")
        if max_length is not None and (not isinstance(max_length, int) or max_length < 2):
            raise ConfigError(f"Invalid `max_length` for Go: expected an int of at least 2, received {max_length!r}.")
        self.size = size
        self.komi = default_komi(size) if komi is None else float(komi)
        self.max_length = 2 * size * size if max_length is None else max_length
        self.num_actions = size * size + 1
        self.pass_action = size * size
        self.planes_shape = (5, size, size)

    def describe(self) -> str:
        return f"{self.size}x{self.size} Go, komi {self.komi:g}"

    @abstractmethod
    def board(self, state) -> np.ndarray:
        """`(size, size)` int8, row 0 the bottom: 0 empty, 1 Black, 2 White."""

    @abstractmethod
    def last_action(self, state) -> int:
        """The last action played, -1 at the start."""

    @abstractmethod
    def _mover(self, state) -> int:
        """The player to move, also in a terminal state (whose planes are then still defined)."""

    def score(self, state) -> float:
        """Black's area minus White's minus komi on the board as it stands."""
        return area_score(self.board(state), self.komi)

    def planes(self, state) -> np.ndarray:
        board, player, size = self.board(state), self._mover(state), self.size
        planes = np.zeros(self.planes_shape, np.float32)  # (5, size, size)
        planes[0] = board == 1 + player
        planes[1] = board == 2 - player
        allowed = np.zeros(size * size + 1, bool)
        allowed[list(self.legal_actions(state))] = True
        planes[2] = (board == 0) & ~allowed[:-1].reshape(size, size)
        last = self.last_action(state)
        if 0 <= last < self.pass_action:
            planes[3, last // size, last % size] = 1.0
        planes[4] = 1.0 if player == 0 else 0.0
        return planes

    def symmetries(self, planes: np.ndarray, policy: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The 8 rotations and reflections of the board, the identity first; the pass probability stays last."""
        size, pairs = self.size, []
        board_policy = policy[:-1].reshape(size, size)
        for flip in (False, True):
            for turns in range(4):
                p, q = (planes[:, :, ::-1], board_policy[:, ::-1]) if flip else (planes, board_policy)
                p, q = np.rot90(p, turns, axes=(1, 2)), np.rot90(q, turns)
                pairs.append((np.ascontiguousarray(p), np.concatenate([q.reshape(-1), policy[-1:]])))
        return pairs

    def render(self, state) -> str:
        board, size = self.board(state), self.size
        lines = [f"{row + 1:2d} " + " ".join(".XO"[v] for v in board[row]) for row in range(size - 1, -1, -1)]
        lines.append("   " + " ".join(COLUMN_LETTERS[:size]))
        lines.append(self._status(state))
        return "\n".join(lines)

    def _status(self, state) -> str:
        if not self.is_terminal(state):
            last = self.last_action(state)
            played = f", last move {self.move_text(state, last)}" if last >= 0 else ""
            return f"{self.players[self.to_play(state)]} to play (komi {self.komi:g}){played}"
        result, score = self.returns(state), self.score(state)
        if result == 0:
            return "Draw" + (" (a position was repeated)" if score != 0 else "")
        return f"{self.players[0 if result > 0 else 1]} wins by {abs(score):g} (area score, komi {self.komi:g})"

    def move_text(self, state, action: int) -> str:
        if action == self.pass_action:
            return "pass"
        return f"{COLUMN_LETTERS[action % self.size]}{action // self.size + 1}"

    def parse_move(self, state, text: str) -> tuple[int, ...]:
        size, word = self.size, str(text).strip().upper()
        if self.is_terminal(state):
            raise self._bad_move(text, "no move, the game is over")
        if word == "PASS":
            return (self.pass_action,)
        letters = COLUMN_LETTERS[:size]
        if not (2 <= len(word) <= 3 and word[0] in letters and word[1:].isdigit() and 1 <= int(word[1:]) <= size):
            raise self._bad_move(text, f"a point A1-{letters[-1]}{size} (files {letters[0]}-{letters[-1]}, no I) "
                                       "or `pass`")
        action = (int(word[1:]) - 1) * size + letters.index(word[0])
        if action not in self.legal_actions(state):
            why = "occupied" if self.board(state)[action // size, action % size] else "suicide or a ko retake"
            raise self._bad_move(text, f"an empty point that is neither suicide nor a ko retake ({word} is {why})")
        return (action,)


class Go(_GoRules):
    """striate's own Go engine (Python-int bitboards)."""

    engine = "striate"

    def __init__(self, size: int = 9, komi: float | None = None, max_length: int | None = None):
        super().__init__(size, komi, max_length)
        width = self._width = size + 1  # a guard column after each row keeps shifted bits from wrapping
        self._on_board = sum(1 << (r * width + c) for r in range(size) for c in range(size))
        self._action_of_bit = {r * width + c: r * size + c for r in range(size) for c in range(size)}
        self._bit_of_action = {a: b for b, a in self._action_of_bit.items()}

    def _grow(self, bits: int) -> int:
        """`bits` and their neighbours on the board."""
        width = self._width
        return (bits | bits << 1 | bits >> 1 | bits << width | bits >> width) & self._on_board

    def _group(self, seed: int, stones: int) -> int:
        """The bits of the group of `stones` that holds the bit `seed`."""
        group = seed
        while True:
            grown = self._grow(group) & stones
            if grown == group:
                return group
            group = grown

    def initial(self) -> GoState:
        return GoState((0, 0), 0, -1, 0, 0, frozenset({(0, 0)}), False, -1, self._legal(0, 0, -1))

    def _legal(self, own: int, opponent: int, ko: int) -> tuple[int, ...]:
        """Legal actions for the owner of `own`: empty points that are not the ko point and not suicide, and pass."""
        empty = self._on_board & ~(own | opponent)
        allowed = empty & self._neighbours_of(empty)  # a point with an empty neighbour is never suicide
        enclosed = empty & ~allowed
        while enclosed:
            point = enclosed & -enclosed
            enclosed ^= point
            if self._breathes(point, own, opponent, empty):
                allowed |= point
        if ko >= 0:
            allowed &= ~(1 << ko)
        actions = []
        while allowed:
            point = allowed & -allowed
            actions.append(self._action_of_bit[point.bit_length() - 1])
            allowed ^= point
        actions.append(self.pass_action)
        return tuple(actions)

    def _neighbours_of(self, bits: int) -> int:
        """Points with at least one neighbour in `bits` (not counting the points themselves)."""
        width = self._width
        return (bits << 1 | bits >> 1 | bits << width | bits >> width) & self._on_board

    def _breathes(self, point: int, own: int, opponent: int, empty: int) -> bool:
        """Whether a stone at `point` (no empty neighbour) joins an own group with another liberty or captures."""
        for neighbour in self._split(self._neighbours_of(point)):
            if own & neighbour and self._neighbours_of(self._group(neighbour, own)) & empty & ~point:
                return True
            if opponent & neighbour and self._neighbours_of(self._group(neighbour, opponent)) & empty == point:
                return True
        return False

    @staticmethod
    def _split(bits: int) -> list[int]:
        found = []
        while bits:
            low = bits & -bits
            found.append(low)
            bits ^= low
        return found

    def legal_actions(self, state: GoState) -> tuple[int, ...]:
        return state.legal

    def apply(self, state: GoState, action: int) -> GoState:
        player, ply = state.player, state.ply + 1
        own, opponent = state.stones[player], state.stones[1 - player]
        ko, passes, repeated = -1, 0, False
        if action == self.pass_action:
            passes = state.passes + 1
        else:
            point = 1 << self._bit_of_action[action]
            in_eye = not self._neighbours_of(point) & ~opponent
            own |= point
            empty = self._on_board & ~(own | opponent)
            captured = 0
            for neighbour in self._split(self._neighbours_of(point) & opponent):
                if not captured & neighbour:
                    group = self._group(neighbour, opponent)
                    if not self._neighbours_of(group) & empty:
                        captured |= group
            opponent &= ~captured
            if in_eye and captured and not captured & (captured - 1):  # exactly one stone taken
                ko = captured.bit_length() - 1
        stones = (own, opponent) if player == 0 else (opponent, own)
        repeated = action != self.pass_action and stones in state.seen
        over = passes >= 2 or repeated or ply >= self.max_length
        legal = () if over else self._legal(opponent, own, ko)
        return GoState(stones, 1 - player, ko, ply, passes, state.seen | {stones}, repeated, action, legal)

    def is_terminal(self, state: GoState) -> bool:
        return not state.legal

    def returns(self, state: GoState) -> float:
        if state.legal or state.repeated:
            return 0.0
        score = self._area(*state.stones) - self.komi
        return 1.0 if score > 0 else -1.0 if score < 0 else 0.0

    def _area(self, black: int, white: int) -> int:
        """Black's area minus White's: stones plus empty regions that reach one colour only."""
        empty = self._on_board & ~(black | white)
        score = black.bit_count() - white.bit_count()
        while empty:
            region = self._group(empty & -empty, empty)
            empty &= ~region
            border = self._neighbours_of(region)
            if border & black and not border & white:
                score += region.bit_count()
            elif border & white and not border & black:
                score -= region.bit_count()
        return score

    def to_play(self, state: GoState) -> int:
        return state.player if state.legal else -1

    def board(self, state: GoState) -> np.ndarray:
        board = np.zeros(self.size * self.size, np.int8)
        for bit, action in self._action_of_bit.items():
            for colour in (0, 1):
                if state.stones[colour] >> bit & 1:
                    board[action] = colour + 1
        return board.reshape(self.size, self.size)

    def last_action(self, state: GoState) -> int:
        return state.last

    def _mover(self, state: GoState) -> int:
        return state.player


class SpielGo(SpielRules, _GoRules):
    """OpenSpiel's `go` behind striate's `Game` interface."""

    def __init__(self, size: int = 9, komi: float | None = None, max_length: int | None = None):
        super().__init__(size, komi, max_length)
        self._spiel = load_game("go", {"board_size": self.size, "komi": self.komi, "max_game_length": self.max_length})

    def board(self, state) -> np.ndarray:
        size = self.size
        planes = np.asarray(state.observation_tensor(0), np.float32).reshape(4, size, size)  # black, white, empty, ..
        return (planes[0] + 2 * planes[1]).astype(np.int8)

    def last_action(self, state) -> int:
        history = state.history()
        return history[-1] if history else -1

    def _mover(self, state) -> int:
        return state.move_number() % 2
