"""Matches between two players: alternating colours, win/draw/loss tables, a confidence interval and an Elo estimate.

Why hand-written: OpenSpiel's `evaluate_bots` plays one game and returns raw returns; the tables, intervals and
records here are a few lines of arithmetic on top of `Player` (`striate.games.players`).

Statistics, all from player A's view, a draw counting half a point:

- Score `s = (wins + draws / 2) / games`.
- 95% interval: Wilson's score interval for a proportion, with each game taken as one trial,
  `(s + z²/2n ± z * sqrt(s(1 - s)/n + z²/4n²)) / (1 + z²/n)`, `z = 1.96`. Draws make the true variance smaller than
  `s(1 - s)`, so with draws the interval is conservative (wider than needed); unlike the plain normal interval it
  stays inside [0, 1] and is not empty at a score of 0 or 1.
- Elo difference: the logistic model's `400 * log10(s / (1 - s))`, and its interval is the same map applied to the
  Wilson bounds. It is infinite at a score of 0 or 1, so scores are first clamped to
  `[0.5 / (n + 1), 1 - 0.5 / (n + 1)]`: a clean sweep is reported as if one more game had been drawn. This changes
  nothing but the extremes (any other score is at least half a point in `n` games), and there the number is a lower
  bound on the gap rather than an estimate; the table marks it with `>=` (or `<=`).

    >>> from striate.games import create
    >>> from striate.games.players import RandomPlayer
    >>> result = play_match(create("connect4"), RandomPlayer(), RandomPlayer(), games=4, seed=0)
    >>> result.games, result.wins + result.draws + result.losses
    (4, 4)
"""

from __future__ import annotations

import math
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from striate.errors import ConfigError
from striate.games.base import Game, State
from striate.games.players import Player, Resignation

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(score: float, games: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's interval for a score (a proportion of points) over `games` trials."""
    if games < 1:
        raise ConfigError(f"Invalid `games` for an interval: expected at least 1, received {games!r}.")
    spread = z * z / games
    centre = (score + spread / 2) / (1 + spread)
    half = z * math.sqrt(score * (1 - score) / games + spread / (4 * games)) / (1 + spread)
    return max(0.0, centre - half), min(1.0, centre + half)


def clamp_score(score: float, games: int) -> float:
    """`score` clamped to `[0.5 / (games + 1), 1 - 0.5 / (games + 1)]`: a 0 or 1 as if one more game were drawn."""
    low = 0.5 / (games + 1)
    return min(max(score, low), 1.0 - low)


def elo_difference(score: float, games: int) -> float:
    """Elo of A over B from A's score, `400 * log10(s / (1 - s))`, with `clamp_score` at 0 and 1."""
    score = clamp_score(score, games)
    return 400.0 * math.log10(score / (1.0 - score))


def elo_interval(score: float, games: int, z: float = Z95) -> tuple[float, float]:
    """`elo_difference` of the two ends of `wilson_interval`."""
    low, high = wilson_interval(score, games, z)
    return elo_difference(low, games), elo_difference(high, games)


@dataclass
class GameRecord:
    """One finished game.

    Attributes:
        first, second: names of the players who moved first (player 0) and second.
        actions: every action in order; moves: the same as people write them (`move_text`).
        result: +1 / 0 / -1 from player 0's view. ending: how it ended, in words.
        seconds: thinking time of the first and second player. index: the game's number in its match.
        a_first: whether player A of the match moved first.
    """

    first: str
    second: str
    actions: list[int]
    moves: list[str]
    result: float
    ending: str
    seconds: tuple[float, float] = (0.0, 0.0)
    index: int = 0
    a_first: bool = True

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def a_score(self) -> float:
        """Player A's points: 1, 0.5 or 0."""
        return (1.0 + (self.result if self.a_first else -self.result)) / 2.0

    def result_text(self) -> str:
        return "1-0" if self.result > 0 else "0-1" if self.result < 0 else "1/2-1/2"

    def text(self, game: str = "") -> str:
        """A PGN-like record: tag lines, then the moves and the result."""
        tags = {"Game": game, "Round": str(self.index + 1), "First": self.first, "Second": self.second,
                "Result": self.result_text(), "Ending": self.ending}
        lines = [f'[{key} "{value}"]' for key, value in tags.items() if value]
        lines.append("")
        lines += textwrap.wrap(" ".join([*self.moves, self.result_text()]), 100)
        return "\n".join(lines)


@dataclass
class MatchResult:
    """The games of a match between A and B, and their statistics from A's view (see the module docstring)."""

    game: str
    player_a: str
    player_b: str
    seed: int = 0
    records: list[GameRecord] = field(default_factory=list)

    def tally(self, a_first: bool | None = None) -> tuple[int, int, int]:
        """A's `(wins, draws, losses)`, over all games or those where A moved first (True) or second (False)."""
        scores = [r.a_score for r in self.records if a_first is None or r.a_first == a_first]
        return scores.count(1.0), scores.count(0.5), scores.count(0.0)

    @property
    def games(self) -> int:
        return len(self.records)

    @property
    def wins(self) -> int:
        return self.tally()[0]

    @property
    def draws(self) -> int:
        return self.tally()[1]

    @property
    def losses(self) -> int:
        return self.tally()[2]

    @property
    def score(self) -> float:
        """A's points per game."""
        wins, draws, losses = self.tally()
        return (wins + draws / 2) / max(1, wins + draws + losses)

    def score_interval(self, z: float = Z95) -> tuple[float, float]:
        return wilson_interval(self.score, self.games, z)

    def elo(self) -> float:
        return elo_difference(self.score, self.games)

    def elo_interval(self, z: float = Z95) -> tuple[float, float]:
        return elo_interval(self.score, self.games, z)

    def table(self) -> str:
        """A markdown table: all games, then A moving first and second."""
        headers = [f"{self.game}: A = {self.player_a}, B = {self.player_b}", "games", "A wins", "draws", "A losses",
                   "A score", "95% CI", "Elo A-B (95% CI)", "mean length"]
        rows = [self._row("all games", None), self._row("A moves first", True), self._row("A moves second", False)]
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])

    def _row(self, label: str, a_first: bool | None) -> list[str]:
        wins, draws, losses = self.tally(a_first)
        games = wins + draws + losses
        if games == 0:
            return [label, "0", *["-"] * 7]
        score = (wins + draws / 2) / games
        low, high = wilson_interval(score, games)
        elo, (elo_low, elo_high) = elo_difference(score, games), elo_interval(score, games)
        bound = ">= " if score == 1 else "<= " if score == 0 else ""
        lengths = [r.length for r in self.records if a_first is None or r.a_first == a_first]
        return [label, str(games), str(wins), str(draws), str(losses), f"{score:.3f}", f"{low:.3f}-{high:.3f}",
                f"{bound}{elo:+.0f} ({elo_low:+.0f}, {elo_high:+.0f})", f"{sum(lengths) / games:.1f}"]

    def record(self) -> str:
        """Every game's `GameRecord.text`, separated by blank lines."""
        return "\n\n".join(r.text(self.game) for r in self.records)

    def summary(self) -> dict:
        """The numbers of `table()` as a JSON-ready dict."""
        low, high = self.score_interval()
        elo_low, elo_high = self.elo_interval()
        return {"game": self.game, "player_a": self.player_a, "player_b": self.player_b, "seed": self.seed,
                "games": self.games, "wins": self.wins, "draws": self.draws, "losses": self.losses,
                "a_first": self.tally(True), "a_second": self.tally(False), "score": self.score,
                "score_ci95": [low, high], "elo": self.elo(), "elo_ci95": [elo_low, elo_high],
                "mean_length": sum(r.length for r in self.records) / max(1, self.games)}

    def __str__(self) -> str:
        return self.table()


def play_game(game: Game, first: Player, second: Player, state: State | None = None,
              opening: Sequence[int] = ()) -> GameRecord:
    """Play one game from `state` (the start when None), `first` as player 0; players are not reset here.

    `opening` actions are played first for whoever is to move (both players observe them, and the record keeps
    them). Both players `observe` every action (once each, when one object plays both sides). A `Resignation` from
    the player to move ends the game as its loss.
    """
    state = game.initial() if state is None else state
    seats, observers = (first, second), list({id(p): p for p in (first, second)}.values())
    actions, moves, seconds = [], [], [0.0, 0.0]
    ending = ""
    for action in opening:
        actions.append(action)
        moves.append(game.move_text(state, action))
        for player in observers:
            player.observe(game, state, action)
        state = game.apply(state, action)
    while not game.is_terminal(state):
        mover = game.to_play(state)
        start = time.perf_counter()
        try:
            action = seats[mover].choose(game, state)
        except Resignation as resignation:
            seconds[mover] += time.perf_counter() - start
            result, ending = (-1.0 if mover == 0 else 1.0), f"{seats[mover].name} resigned ({resignation.reason})"
            break
        seconds[mover] += time.perf_counter() - start
        if action not in game.legal_actions(state):
            raise ConfigError(f"Invalid action from player {seats[mover].name!r} in {game.describe()}: expected one "
                              f"of {game.legal_actions(state)}, received {action!r}.")
        actions.append(action)
        moves.append(game.move_text(state, action))
        for player in observers:
            player.observe(game, state, action)
        state = game.apply(state, action)
    else:
        result = game.returns(state)
        ending = "draw" if result == 0 else f"{seats[0 if result > 0 else 1].name} wins"
    return GameRecord(first.name, second.name, actions, moves, result, ending, (seconds[0], seconds[1]))


def random_opening(game: Game, actions: int, rng: np.random.Generator) -> list[int]:
    """Up to `actions` uniformly random legal actions from the start, never into a finished game."""
    state, opening = game.initial(), []
    for _ in range(actions):
        legal = [a for a in game.legal_actions(state) if not game.is_terminal(game.apply(state, a))]
        if not legal:
            break
        action = int(rng.choice(legal))
        opening.append(action)
        state = game.apply(state, action)
    return opening


def play_match(game: Game, player_a: Player, player_b: Player, games: int, seed: int = 0,
               on_game: Callable[[GameRecord, MatchResult], None] | None = None, openings: int = 0) -> MatchResult:
    """Play `games` games between A and B, alternating colours: A moves first in the even games (0, 2, ...).

    Before game `i` each player is `reset` with its own seed drawn from `(seed, i)`, so a match is repeatable from
    `seed` while its games differ.

    Args:
        on_game: called after each game with its record and the match so far (progress, logging).
        openings: each pair of games (A first, then B first) starts with the same `openings` random actions. Two
            deterministic players (a network searching at temperature 0, alpha-beta without ties) otherwise play the
            same two games again and again, and a 40-game match measures two games.
    """
    if not isinstance(games, int) or games < 1:
        raise ConfigError(f"Invalid `games` for a match: expected an int >= 1, received {games!r}.")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"Invalid `seed` for a match: expected an int >= 0, received {seed!r}.")
    for label, player in (("player_a", player_a), ("player_b", player_b)):
        if not isinstance(player, Player):
            raise ConfigError(f"Invalid `{label}` for a match: expected a Player (name, reset, choose, observe), "
                              f"received {type(player).__name__}.")
    result = MatchResult(game.describe(), player_a.name, player_b.name, seed)
    for index in range(games):
        seed_a, seed_b = (int(s) for s in np.random.SeedSequence([seed, index]).generate_state(2))
        player_a.reset(seed_a)
        player_b.reset(seed_b)
        a_first = index % 2 == 0
        first, second = (player_a, player_b) if a_first else (player_b, player_a)
        opening = random_opening(game, openings, np.random.default_rng([seed, index // 2, 1])) if openings else ()
        record = replace(play_game(game, first, second, opening=opening), index=index, a_first=a_first)
        result.records.append(record)
        if on_game is not None:
            on_game(record, result)
    return result


__all__ = ["Z95", "GameRecord", "MatchResult", "clamp_score", "elo_difference", "elo_interval", "play_game",
           "play_match", "random_opening", "wilson_interval"]
