"""Board-game rules engines: striate's own (Python-int bitboards) against OpenSpiel's C++ rules, inside tree search.

For each game and engine, all through striate's `Game` interface (the way tree search will call them):

- random playouts per second from the start position (`Game.rollout`: striate's engines play on bare ints,
  OpenSpiel's clones the state once and applies actions in place);
- a fixed UCT search with random rollouts (`--simulations`, default 200, from the start position; exploration
  constant 1.4; every expansion is a `Game.apply`, so OpenSpiel pays a clone per tree node), in milliseconds per
  search;
- `planes(state)` calls per second over positions of random games (what a network-guided search pays per node);
- checkers perft(8) (845,931 positions, counted through `legal_actions`/`apply`).

Engines alternate (A B A B) over `--repeats` rounds and the table shows medians; OpenSpiel's speed-up is its rate
over striate's, or striate's time over its own (above 1: OpenSpiel is faster). Everything runs in one process on one
core. Prints a markdown table and saves the raw numbers to benchmarks/results/game_engines-*.json. Needs OpenSpiel
(`pip install 'striate[games]'`).

    python benchmarks/game_engines.py                       # about 40 seconds on two CPU cores
    python benchmarks/game_engines.py --repeats 1 --games connect4   # a smoke test

Measured on two CPU cores (Intel Xeon, Python 3.11, OpenSpiel 2.0.2; another job was using about one core),
`python benchmarks/game_engines.py` (36 s; ratios above 1 favour OpenSpiel):

| game | measure (median) | striate | OpenSpiel | OpenSpiel's speed-up |
| --- | --- | --- | --- | --- |
| connect4 | random playouts/s | 61,390 | 50,657 | 0.83 |
| connect4 | UCT search, 200 simulations (ms) | 3.9 | 4.5 | 0.87 |
| connect4 | `planes` calls/s | 124,753 | 103,254 | 0.83 |
| checkers | random playouts/s | 3,331 | 5,717 | 1.72 |
| checkers | UCT search, 200 simulations (ms) | 58.9 | 36.4 | 1.62 |
| checkers | `planes` calls/s | 65,843 | 61,071 | 0.93 |
| checkers | perft(8) (s) | 1.48 | 1.38 | 1.07 |
| go7x7 | random playouts/s | 821 | 10,622 | 12.94 |
| go7x7 | UCT search, 200 simulations (ms) | 240.4 | 20.5 | 11.73 |
| go7x7 | `planes` calls/s | 69,065 | 64,612 | 0.94 |
| go9x9 | random playouts/s | 284 | 5,053 | 17.81 |
| go9x9 | UCT search, 200 simulations (ms) | 684.8 | 41.1 | 16.68 |
| go9x9 | `planes` calls/s | 45,979 | 49,507 | 1.08 |

Four earlier runs gave the same picture (connect4 0.85-0.92, checkers 1.6-1.8, Go 12-19). Hence
`striate.games.create` uses striate's own engine for Connect Four and OpenSpiel's for checkers and Go.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time

from _common import machine, markdown_table, save
from striate.games.base import Game, perft
from striate.games.checkers import Checkers, SpielCheckers
from striate.games.connect4 import ConnectFour, SpielConnectFour
from striate.games.go import Go, SpielGo

GAMES = {  # name -> (striate engine, OpenSpiel engine, random playouts, searches per measurement)
    "connect4": (ConnectFour, SpielConnectFour, 3000, 20),
    "checkers": (Checkers, SpielCheckers, 600, 4),
    "go7x7": (lambda: Go(7), lambda: SpielGo(7), 400, 2),
    "go9x9": (lambda: Go(9), lambda: SpielGo(9), 150, 1),
}


class Node:
    """A UCT tree node; `value` is summed from the view of `mover`, the player whose action led here."""

    __slots__ = ("children", "mover", "state", "untried", "value", "visits")

    def __init__(self, game: Game, state, mover: int):
        self.state, self.mover, self.children, self.visits, self.value = state, mover, [], 0, 0.0
        self.untried = list(game.legal_actions(state))


def uct_search(game: Game, state, simulations: int, rng: random.Random, exploration: float = 1.4) -> int:
    """Plain UCT with one random rollout per simulation; returns the most visited root action."""
    root = Node(game, state, -1)
    for _ in range(simulations):
        node, path = root, [root]
        while not node.untried and node.children:
            log_visits = math.log(node.visits)
            node = max(node.children, key=lambda child: child[1].value / child[1].visits
                       + exploration * math.sqrt(log_visits / child[1].visits))[1]
            path.append(node)
        if node.untried:
            action = node.untried.pop(rng.randrange(len(node.untried)))
            child = Node(game, game.apply(node.state, action), game.to_play(node.state))
            node.children.append((action, child))
            path.append(child)
            node = child
        result = game.rollout(node.state, rng)  # player 0's view
        for visited in path:
            visited.visits += 1
            visited.value += result if visited.mover == 0 else -result
    return max(root.children, key=lambda child: child[1].visits)[0]


def playouts_per_second(game: Game, playouts: int, seed: int) -> float:
    rng, start = random.Random(seed), game.initial()
    begin = time.perf_counter()
    for _ in range(playouts):
        game.rollout(start, rng)
    return playouts / (time.perf_counter() - begin)


def search_seconds(game: Game, simulations: int, searches: int, seed: int) -> float:
    """Seconds per search, averaged over `searches` searches from the start position."""
    rng, start = random.Random(seed), game.initial()
    begin = time.perf_counter()
    for _ in range(searches):
        uct_search(game, start, simulations, rng)
    return (time.perf_counter() - begin) / searches


def planes_per_second(game: Game, states: int, seed: int) -> float:
    """`planes(state)` calls per second over the states of random games (what a network's search pays per node)."""
    rng, positions, state = random.Random(seed), [], game.initial()
    while len(positions) < states:
        positions.append(state)
        state = game.initial() if game.is_terminal(state) else game.apply(state, rng.choice(game.legal_actions(state)))
    begin = time.perf_counter()
    for position in positions:
        game.planes(position)
    return states / (time.perf_counter() - begin)


def perft_seconds(game: Game, depth: int) -> float:
    begin = time.perf_counter()
    count = perft(game, game.initial(), depth)
    assert count == 845_931 or depth != 8, count
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=list(GAMES))
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each engine is measured once per round")
    parser.add_argument("--simulations", type=int, default=200, help="UCT simulations per search")
    parser.add_argument("--perft-depth", type=int, default=8, help="checkers perft depth (0 skips it)")
    args = parser.parse_args()

    raw: dict[str, dict[str, dict[str, list[float]]]] = {}
    for name in args.games:
        make_own, make_spiel, playouts, searches = GAMES[name]
        engines = {"striate": make_own(), "openspiel": make_spiel()}
        raw[name] = {engine: {"playouts_per_s": [], "search_s": [], "planes_per_s": [],
                                                  "perft_s": []} for engine in engines}
        for round_ in range(args.repeats):
            for engine, game in engines.items():
                raw[name][engine]["playouts_per_s"].append(playouts_per_second(game, playouts, seed=round_))
                raw[name][engine]["planes_per_s"].append(planes_per_second(game, 2000, seed=round_))
                raw[name][engine]["search_s"].append(search_seconds(game, args.simulations, searches, seed=round_))
                if name == "checkers" and args.perft_depth:
                    raw[name][engine]["perft_s"].append(perft_seconds(game, args.perft_depth))
            print(f"{name}: round {round_ + 1}/{args.repeats} done", file=sys.stderr)

    headers = ["game", "measure (median)", "striate", "OpenSpiel", "OpenSpiel's speed-up"]
    rows = []
    for name, engines in raw.items():
        own, spiel = engines["striate"], engines["openspiel"]

        def cells(key, scale=1.0, digits=0, own=own, spiel=spiel):
            a, b = scale * statistics.median(own[key]), scale * statistics.median(spiel[key])
            rate = key.endswith("per_s")
            return [f"{a:,.{digits}f}", f"{b:,.{digits}f}", f"{(b / a if rate else a / b):.2f}"]

        rows.append([name, "random playouts/s", *cells("playouts_per_s")])
        rows.append([name, f"UCT search, {args.simulations} simulations (ms)", *cells("search_s", 1000, 1)])
        rows.append([name, "`planes` calls/s", *cells("planes_per_s")])
        if own["perft_s"]:
            rows.append([name, f"perft({args.perft_depth}) (s)", *cells("perft_s", 1, 2)])
    table = markdown_table(headers, rows)
    print(table)
    path = save("game_engines", {"args": vars(args), "machine": machine(), "raw": raw, "table": table})
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
