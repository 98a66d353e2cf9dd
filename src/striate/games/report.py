"""Pictures and the report page of a self-play run: the learning curve, boards, and `report.html`.

    write_games_report("runs/az-connect4")      # or: striate games report runs/az-connect4

The page is built from the same parts as the supervised and DQN reports (`striate.report.html`): headline cards, the
learning curve, every in-training match, a game the agent played against the run's alpha-beta opponent drawn as a
board with its move numbers beside the agent's estimate of its chances along the game, the network's first-move
preferences, the layers and the settings; one self-contained file.

Boards are drawn with matplotlib from each game's `board(state)`: Connect Four's and Go's final position with the
ply at which each disc or stone still on the board was played, checkers' final position with its kings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from striate._io import atomic_write_text
from striate.games.base import Game, State
from striate.report import html
from striate.report.html import Section, esc
from striate.train.records import read_jsonl

SOURCE = "striate games train"


def draw_curve(run_dir: str | Path) -> Path | None:
    """`curve.png`: value and policy losses, and every in-training match score, against self-play games."""
    from striate.report.plots import _pyplot, _save

    run_dir = Path(run_dir)
    curve = read_jsonl(run_dir / "curve.jsonl", SOURCE)
    matches = read_jsonl(run_dir / "matches.jsonl", SOURCE)
    if not curve:
        return None
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    games = [row["games"] for row in curve]
    left.plot(games, [row["value_loss"] for row in curve], label="value loss")
    left.plot(games, [row["policy_loss"] for row in curve], label="policy loss")
    left.set_xlabel("self-play games")
    left.set_title("losses")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    per_game = {row["iteration"]: row["games"] for row in curve}
    for opponent in sorted({row["opponent"] for row in matches}):
        points = [(per_game.get(row["iteration"], 0), row["score"]) for row in matches if row["opponent"] == opponent]
        right.plot(*zip(*points, strict=True), "o-", label=f"vs {opponent}")
    right.set_ylim(-0.05, 1.05)
    right.set_xlabel("self-play games")
    right.set_ylabel("score (win 1, draw 0.5)")
    right.set_title("matches")
    right.grid(alpha=0.3)
    if matches:
        right.legend(fontsize=8)
    return _save(figure, run_dir / "curve.png")


# -- boards ---------------------------------------------------------------------------------------------------------

def move_numbers(game: Game, states: Sequence[State]) -> np.ndarray:
    """`board`-shaped int array: for each occupied point of the last state, the ply (1 = the first action) that put
    the piece standing there now; 0 where empty or where a piece arrived by moving (checkers)."""
    numbers = np.zeros(game.board(states[0]).shape, np.int64)
    previous = game.board(states[0])
    for ply, state in enumerate(states[1:], start=1):
        board = game.board(state)
        numbers[(previous == 0) & (board != 0)] = ply
        numbers[board == 0] = 0
        previous = board
    return numbers if game.name != "checkers" else np.zeros_like(numbers)


def board_png(game: Game, state: State, numbers: np.ndarray | None = None, title: str = "") -> bytes:
    """A picture of `state`: discs, stones or pieces, with `numbers` (same shape as `board(state)`, 0 = none)
    written on them."""
    from striate.report.plots import _pyplot, figure_png

    plt = _pyplot()
    board = np.asarray(game.board(state))
    rows, columns = board.shape
    figure, axis = plt.subplots(figsize=(0.55 * columns + 0.6, 0.55 * rows + 0.7))
    axis.set_xlim(-0.5, columns - 0.5)
    axis.set_ylim(-0.5, rows - 0.5)
    axis.set_aspect("equal")
    axis.set_xticks([])
    axis.set_yticks([])
    if game.name == "go":
        _go(axis, plt, board)
    elif game.name == "checkers":
        _checkers(axis, plt, board)
    else:
        _connect4(axis, plt, board)
    if numbers is not None:
        flip = game.name == "checkers"  # checkers' row 0 is the top
        for (row, column), number in np.ndenumerate(numbers):
            if number:
                dark = board[row, column] == 1 if game.name == "go" else False
                axis.text(column, rows - 1 - row if flip else row, str(number), ha="center", va="center",
                          fontsize=7 if number < 100 else 6, color="white" if dark else "black", zorder=4)
    if title:
        axis.set_title(title, fontsize=9)
    return figure_png(figure)


def _connect4(axis, plt, board: np.ndarray) -> None:
    axis.add_patch(plt.Rectangle((-0.5, -0.5), board.shape[1], board.shape[0], color="#2c5aa0"))
    colours = {0: "white", 1: "#d7301f", 2: "#fdd835"}
    for (row, column), value in np.ndenumerate(board):  # row 0 is the bottom
        axis.add_patch(plt.Circle((column, row), 0.4, color=colours[int(value)]))
    axis.set_xticks(range(board.shape[1]), [str(c + 1) for c in range(board.shape[1])])


def _go(axis, plt, board: np.ndarray) -> None:
    size = board.shape[0]
    axis.add_patch(plt.Rectangle((-0.5, -0.5), size, size, color="#dcb35c"))
    for line in range(size):
        axis.plot([0, size - 1], [line, line], color="#333", lw=0.8)
        axis.plot([line, line], [0, size - 1], color="#333", lw=0.8)
    for (row, column), value in np.ndenumerate(board):  # row 0 is the bottom
        if value:
            axis.add_patch(plt.Circle((column, row), 0.46, facecolor="#111" if value == 1 else "#f4f4f4",
                                      edgecolor="#111", lw=0.8, zorder=3))
    letters = [c for c in "ABCDEFGHJKLMNOPQRST"][:size]
    axis.set_xticks(range(size), letters)
    axis.set_yticks(range(size), [str(r + 1) for r in range(size)])


def _checkers(axis, plt, board: np.ndarray) -> None:
    size = board.shape[0]
    for row in range(size):  # row 0 is the top
        for column in range(size):
            axis.add_patch(plt.Rectangle((column - 0.5, size - 1 - row - 0.5), 1, 1,
                                         color="#8b5a2b" if (row + column) % 2 else "#f0d9b5"))
            value = int(board[row, column])
            if value:
                face = "#111" if value in (1, 2) else "#f4f4f4"
                axis.add_patch(plt.Circle((column, size - 1 - row), 0.38, facecolor=face, edgecolor="#555", lw=1))
                if value in (2, 4):
                    axis.text(column, size - 1 - row, "K", ha="center", va="center", fontsize=9, weight="bold",
                              color="white" if value == 2 else "black")
    axis.set_xticks(range(size), list("abcdefgh"[:size]))
    axis.set_yticks(range(size), [str(r + 1) for r in range(size)])


# -- a recorded game --------------------------------------------------------------------------------------------------

class _Watched:
    """A search player whose root value is noted after every choice (from its own view, -1 to 1)."""

    def __init__(self, player):
        self.player, self.name, self.values = player, player.name, []

    def reset(self, seed: int) -> None:
        self.player.reset(seed)
        self.values = []

    def choose(self, game: Game, state: State) -> int:
        action = self.player.choose(game, state)
        root = getattr(self.player, "_root", None)
        self.values.append(float(root.mean_value()) if root is not None else float("nan"))
        return action

    def observe(self, game: Game, state: State, action: int) -> None:
        self.player.observe(game, state, action)


def record_game(run_dir: str | Path, simulations: int | None = None, agent_first: bool = True, seed: int = 0):
    """Play the run's agent against its in-training alpha-beta opponent (the run's `eval_depth`) once.

    Returns `(game, record, states, values)`: the `GameRecord`, every state from the start to the end, and the
    agent's root value before each of its moves (its own view: +1 sure win, -1 sure loss).
    """
    from striate.games.match import play_game
    from striate.games.players import AlphaBetaPlayer
    from striate.games.training import load_player
    from striate.train.records import read_settings

    settings = read_settings(Path(run_dir), SOURCE, "player.json")
    player, game = load_player(run_dir, simulations or int(settings.get("eval_simulations", 64)), name="agent")
    watched = _Watched(player)
    opponent = AlphaBetaPlayer(int(settings.get("eval_depth", 2)), seed=seed)
    watched.reset(seed)
    record = play_game(game, *((watched, opponent) if agent_first else (opponent, watched)))
    states = [game.initial()]
    for action in record.actions:
        states.append(game.apply(states[-1], action))
    return game, record, states, watched.values


def _values_png(values: list[float], agent: str) -> bytes:
    from striate.report.plots import _pyplot, figure_png

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 2.8))
    axis.plot(range(1, len(values) + 1), values, "o-", color="#1f4e9c", ms=3, lw=1.2)
    axis.axhline(0, color="#999", lw=0.8)
    axis.set_ylim(-1.05, 1.05)
    axis.set_xlabel(f"the agent's move ({agent})")
    axis.set_ylabel("search value")
    axis.set_title("the agent's estimate of its result (+1 win, -1 loss)", fontsize=9)
    axis.grid(alpha=0.3)
    return figure_png(figure)


def first_moves(run_dir: str | Path, top: int = 5) -> tuple[list[tuple[str, float]], float]:
    """The network's prior over the first move (best `top`, as `(move text, probability)`) and its value of the
    start position for the first player."""
    from striate.games.training import load_player

    player, game = load_player(run_dir, 1)
    state = game.initial()
    priors, values = player.evaluator([state])
    legal = list(game.legal_actions(state))
    row = np.asarray(priors)[0, legal]
    order = np.argsort(-row)[:top]
    return [(game.move_text(state, legal[i]), float(row[i])) for i in order], float(np.asarray(values)[0])


# -- the page ---------------------------------------------------------------------------------------------------------

def write_games_report(run_dir: str | Path, *, play: bool = True, seed: int = 0) -> Path:
    """Write `run_dir/report.html` from the run folder; with `play`, the agent first plays one game against the
    run's alpha-beta opponent for the page (seconds on Connect Four, about a minute on 9x9 Go)."""
    from striate.train.records import read_record, read_settings

    run_dir = Path(run_dir)
    record = read_record(run_dir, "player.json", "striate.games/1", SOURCE, "games")
    settings = read_settings(run_dir, SOURCE, "player.json")
    curve = read_jsonl(run_dir / "curve.jsonl", SOURCE)
    matches = read_jsonl(run_dir / "matches.jsonl", SOURCE)
    finished = (run_dir / "model.safetensors").is_file()
    sections = [Section("summary", "Summary", _summary(settings, record, curve, matches, finished))]
    if (run_dir / "curve.png").is_file() or draw_curve(run_dir) is not None:
        sections.append(Section("curve", "Learning curve", html.image(run_dir / "curve.png", "learning curve",
                                                                      "figure")))
    if matches:
        sections.append(Section("matches", "Matches during training", _matches(settings, matches)))
    if finished and play:
        sections.append(Section("game", "A game against alpha-beta", _game(run_dir, settings, seed)))
    if finished:
        moves, value = first_moves(run_dir)
        sections.append(Section("opening", "First move", html.paragraph(
            f"The network's own preferences at the start position (no search), and its value for the first "
            f"player: {value:+.3f}.") + html.table(["move", "prior"], [(m, f"{p:.3f}") for m, p in moves],
                                                   [False, True])))
    sections.append(Section("network", "Network", _network(record)))
    sections.append(Section("settings", "Settings", html.settings(settings)))
    title = f"{_game_name(record)}: self-play"
    page = html.page(title, f"{run_dir.name} · policy/value network with tree search", sections)
    return atomic_write_text(run_dir / "report.html", page)


def _game_name(record: dict[str, Any]) -> str:
    from striate.games import create

    return create(record["game"], engine="striate", **record.get("game_options", {})).describe()


def _summary(settings, record, curve, matches, finished: bool) -> str:
    if not curve:
        return html.paragraph("No iteration has finished yet.")
    last = curve[-1]
    seconds = sum(row["selfplay_seconds"] + row["train_seconds"] for row in curve)
    cards = [("iterations", f"{last['iteration']:,} / {settings.get('iterations')}", "iterations"),
             ("self-play games", f"{last['games']:,}", "games"),
             ("positions", f"{sum(row['positions'] for row in curve):,}", "positions"),
             ("training time", f"{seconds / 60:.1f} min", "time")]
    latest = {}
    for row in matches:
        latest[row["opponent"]] = row
    for opponent, row in latest.items():
        cards.append((f"vs {opponent}", f"{row['wins']}-{row['draws']}-{row['losses']}", opponent))
    note = "" if finished else " The run has not finished: no final weights yet."
    return html.cards(cards) + html.paragraph(
        f"{_game_name(record)}, {settings.get('simulations')} simulations per self-play move, "
        f"{settings.get('games')} games per iteration in {settings.get('workers')} worker processes; the last "
        f"iteration's value loss {last['value_loss']:.3f} and policy loss {last['policy_loss']:.3f}.{note}")


def _matches(settings, matches) -> str:
    from striate.games.match import wilson_interval

    rows = []
    for row in matches:
        games = row["wins"] + row["draws"] + row["losses"]
        low, high = wilson_interval(row["score"], games)
        rows.append((row["iteration"], row["opponent"], row["wins"], row["draws"], row["losses"],
                     f"{row['score']:.2f}", f"{low:.2f}-{high:.2f}"))
    openings = settings.get("eval_openings") or 0
    start = f"from its own {openings} random opening actions" if openings else "from the start position"
    return html.paragraph(
        f"Every {settings.get('eval_every')} iterations the network searched {settings.get('eval_simulations')} "
        f"simulations per move without noise, colours alternating, each pair of games {start}; wins, draws and "
        f"losses are the agent's.") + \
        html.table(["iteration", "opponent", "wins", "draws", "losses", "score", "95% interval"], rows,
                   [True, False, True, True, True, True, True], css_id="match-table")


def _game(run_dir: Path, settings, seed: int) -> str:
    game, record, states, values = record_game(run_dir, seed=seed)
    numbers = move_numbers(game, states)
    winner = {1.0: record.first, -1.0: record.second}.get(record.result)
    result = "a draw" if winner is None else "the agent wins" if winner == "agent" else f"{winner} wins"
    sides = [f"{name} ({colour})" for name, colour in zip((record.first, record.second), _colours(game), strict=True)]
    picture = html.image(board_png(game, states[-1], numbers, f"{sides[0]} against {sides[1]}: {result}"),
                         "final position", "figure")
    body = html.side_by_side(picture, html.image(_values_png(values, game.players[0 if record.first == "agent"
                                                                                      else 1]),
                                                 "the agent's value along the game", "figure"))
    return body + html.paragraph(f"{record.length} actions, {record.ending}.") + \
        f"<pre>{esc(record.text(game.describe()))}</pre>"


def _colours(game: Game) -> tuple[str, str]:
    return ("X, red", "O, yellow") if game.name == "connect4" else game.players


def _network(record: dict[str, Any]) -> str:
    from striate.games.network import PolicyValueNet

    return html.layers(PolicyValueNet(**record["network"]), f"A residual tower with a policy and a value head: "
                       f"{{total}} parameters, input planes {tuple(record['network']['planes_shape'])}.")
