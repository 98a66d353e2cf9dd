"""Baseline players against each other: the yardsticks the self-play and co-evolved agents are measured against.

Pairings (A against B, colours alternating, A first in the even games; tables from A's view):

- Connect Four: alpha-beta depth 2 and depth 4 (window heuristic) against random; MCTS with random rollouts
  (200 simulations, one rollout per leaf) against random and against alpha-beta depth 2.
- Go 7x7 (komi 9, area scoring): GNU Go level 1 over GTP against random (skipped when `gnugo` is not installed).

Budget: at most `--games` games per pairing and at most `--budget` seconds of wall time per pairing (checked after
every pair of games, so colours stay balanced); everything runs in one process on one core. Prints each match's
table, then a summary with milliseconds per move for each side, and saves the numbers to
benchmarks/results/games_players-*.json.

    python benchmarks/games_players.py                         # 20 games per pairing, at most 120 s each
    python benchmarks/games_players.py --games 10 --budget 30  # a quick look

Measured on two CPU cores (Intel Xeon, Python 3.11, GNU Go 3.8; other jobs kept both cores busy), in 24 s,
`python benchmarks/games_players.py --games 20 --budget 60` (`>=`: a clean sweep, the Elo is a lower bound):

| game | A | B | games | A W/D/L | A score (95% CI) | Elo A-B | ms/move A / B | wall s |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
| Connect Four | alphabeta-2 | random | 20 | 20/0/0 | 1.00 (0.84-1.00) | >= +645 | 1.1 / 0.0 | 0.2 |
| Connect Four | alphabeta-4 | random | 20 | 20/0/0 | 1.00 (0.84-1.00) | >= +645 | 7.4 / 0.0 | 1.0 |
| Connect Four | mcts-200-rollouts | random | 20 | 20/0/0 | 1.00 (0.84-1.00) | >= +645 | 17.1 / 0.0 | 2.1 |
| Connect Four | mcts-200-rollouts | alphabeta-2 | 20 | 5/0/15 | 0.25 (0.11-0.47) | -191 | 16.5 / 0.9 | 5.2 |
| 7x7 Go, komi 9 | gnugo-1 | random | 20 | 20/0/0 | 1.00 (0.84-1.00) | >= +645 | 16.9 / 0.0 | 12.5 |

Random-rollout MCTS at 200 simulations is a weak player: it beats random but loses most games to a depth-2
alpha-beta (earlier runs: 13 of 40 and 9 of 20 won), which is why the issue's goals for the self-play agent are
stated against alpha-beta.
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import machine, markdown_table, save
from striate.games import create
from striate.games.gtp import GTPPlayer, find_gnugo
from striate.games.match import play_match
from striate.games.players import AlphaBetaPlayer, MCTSPlayer, RandomPlayer


def pairings(gnugo: bool) -> list[tuple[str, dict, object, object]]:
    """`(game name, options, player A, player B)` in the order they are played."""
    found = [
        ("connect4", {}, AlphaBetaPlayer(2), RandomPlayer()),
        ("connect4", {}, AlphaBetaPlayer(4), RandomPlayer()),
        ("connect4", {}, MCTSPlayer(200), RandomPlayer()),
        ("connect4", {}, MCTSPlayer(200), AlphaBetaPlayer(2)),
    ]
    if gnugo:
        found.append(("go", {"size": 7}, GTPPlayer(level=1), RandomPlayer()))
    return found


def run_pairing(name: str, options: dict, a, b, games: int, budget: float, seed: int):
    """Play pairs of games until `games` are played or `budget` seconds have passed; returns the match result."""
    game, started, result = create(name, **options), time.perf_counter(), None
    played = 0
    while played < games and (played == 0 or time.perf_counter() - started < budget):
        pair = play_match(game, a, b, games=min(2, games - played), seed=seed + played)
        if result is None:
            result = pair
        else:
            for record in pair.records:
                record.index = len(result.records)
                result.records.append(record)
        played = result.games
    return result, time.perf_counter() - started


def bound(score: float) -> str:
    """`>= ` before an Elo that `clamp_score` made finite (a sweep), `<= ` for a whitewash."""
    return ">= " if score == 1 else "<= " if score == 0 else ""


def milliseconds_per_move(result, side: str) -> float:
    """Mean thinking time per action of player A (`side="a"`) or B."""
    seconds, moves = 0.0, 0
    for record in result.records:
        a_seat = 0 if record.a_first else 1
        seat = a_seat if side == "a" else 1 - a_seat
        seconds += record.seconds[seat]
        moves += (record.length + (1 - seat)) // 2  # the first player makes the odd-numbered actions
    return 1000 * seconds / max(1, moves)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", type=int, default=20, help="games per pairing (an even number keeps colours level)")
    parser.add_argument("--budget", type=float, default=120.0, help="wall seconds per pairing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows, raw = [], []
    for name, options, a, b in pairings(find_gnugo() is not None):
        result, seconds = run_pairing(name, options, a, b, args.games, args.budget, args.seed)
        print(result.table() + "\n", flush=True)
        summary = result.summary()
        summary.update(seconds=seconds, ms_per_move_a=milliseconds_per_move(result, "a"),
                       ms_per_move_b=milliseconds_per_move(result, "b"))
        raw.append(summary)
        low, high = summary["score_ci95"]
        rows.append([result.game, a.name, b.name, result.games, f"{result.wins}/{result.draws}/{result.losses}",
                     f"{result.score:.2f} ({low:.2f}-{high:.2f})", f"{bound(result.score)}{result.elo():+.0f}",
                     f"{summary['ms_per_move_a']:.1f} / {summary['ms_per_move_b']:.1f}", f"{seconds:.1f}"])
        if hasattr(a, "close"):
            a.close()
        print(f"{result.game}: {a.name} vs {b.name} done in {seconds:.1f} s", file=sys.stderr)
    table = markdown_table(["game", "A", "B", "games", "A W/D/L", "A score (95% CI)", "Elo A-B", "ms/move A / B",
                            "wall s"], rows)
    print(table)
    path = save("games_players", {"args": vars(args), "machine": machine(), "raw": raw, "table": table})
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
