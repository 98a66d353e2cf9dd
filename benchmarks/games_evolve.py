"""Blondie24 on a CPU budget: co-evolve checkers evaluators, then play the best of several generations against random
play, against alpha-beta with a piece-count evaluator of the same depth, and against the unevolved start.

Evolution is `striate.games.evolve.evolve_checkers` (the papers' scheme: parents each make one offspring by
self-adaptive mutation, every player starts `--games` games against random opponents, +1/0/-2 scoring, the best half
survive) at `--depth` whole turns of alpha-beta, for `--generations` generations or until `--minutes` of wall time have
passed, on one core. The best network of every generation is kept; for `--snapshots` of them, evenly spaced from
generation 0 (the first random network, before any selection), matches are played against

- `random`: uniformly random legal actions;
- `piece-count`: the same alpha-beta at the same depth, scoring boards by own men + 1.5 * own kings minus the
  opponent's, ties broken at random;
- `generation 0`: the unevolved network the run started from, same search.

Each match is `--pairs` pairs of games from random openings (`--opening-turns` random whole turns, the same openings
for every snapshot), the evolved network playing each opening once as Black (first) and once as White. Games are drawn
after `--max-turns` turns, and by the engine's rule after 40 actions without a capture. Tables: the evolution curve
(every `--curve-every` generations: the survivors' best and mean points, K, seconds), then per snapshot and opponent
wins/draws/losses from the evolved network's side and the score (wins + draws / 2) / games.

`--measure-forward` times one evaluator call at batch 1 and 10 in numpy (what `BlondieNet` is) and as an equivalent
`torch.nn.Module` on one thread: the measurement behind the module's choice of numpy.

    python benchmarks/games_evolve.py --minutes 8 --generations 2000 --depth 1 --curve-every 25   # 9 minutes
    python benchmarks/games_evolve.py --minutes 8 --generations 1000 --depth 2 --measure-forward  # 9 minutes
    python benchmarks/games_evolve.py --minutes 50 --generations 5000 --depth 2 --extend 2 --snapshots 4
    python benchmarks/games_evolve.py --generations 3 --size 4 --pairs 2          # a smoke test (seconds)

Measured on two Xeon cores shared with another benchmark (one core for this script), seed 0, 15 parents, 5 games
each, matches of 100 games (50 openings x 2 colours); score = (wins + draws / 2) / games for the evolved network:

| depth | generations in 8 min | opponent | generation 0 | 1/4 | 1/2 | 3/4 | last |
| --- | --- | --- | --- | --- | --- | --- | --- |
| 1 | 716 | piece-count | 0.500 | 0.640 | 0.645 | 0.705 | 0.640 |
| 1 | 716 | random | 0.565 | 0.720 | 0.630 | 0.695 | 0.715 |
| 1 | 716 | generation 0 | - | 0.600 | 0.565 | 0.630 | 0.570 |
| 2 | 93 | piece-count | 0.525 | 0.535 | 0.485 | 0.450 | 0.520 |
| 2 | 93 | random | 0.955 | 0.990 | 0.970 | 0.935 | 0.970 |
| 2 | 93 | generation 0 | - | 0.615 | 0.485 | 0.420 | 0.495 |

With the papers' search extension after forced jumps (`--extend 2`) and 50 minutes at depth 2 (190 generations;
another job shared the cores, 13-19 s a generation; 4 snapshots, same matches):

| depth | generations in 50 min | opponent | generation 0 | 63 | 127 | 190 |
| --- | --- | --- | --- | --- | --- | --- |
| 2 + 2 | 190 | piece-count | 0.465 | 0.465 | 0.485 | 0.475 |
| 2 + 2 | 190 | random | 0.965 | 0.985 | 0.970 | 0.990 |
| 2 + 2 | 190 | generation 0 | - | 0.520 | 0.535 | 0.510 |

Still no gain: 73-91% of the match games against piece count are drawn, and by generation 100 the tournaments draw
80-85% of their games.

At depth 1 evolution gains about 0.14-0.2 of score against piece count and random play within minutes (a score's
standard error is about 0.04 at 100 games). Piece count at depth 1 is nearly random play: captures are forced, so
material after one's own move rarely separates the moves. At depth 2 the search alone beats random play, a random
network is already level with piece count, and 93 generations show no gain over the noise: 75-85% of the
tournament games are drawn (the engine's rule draws 40 actions without a capture, and a depth-2 search rarely
converts a material lead in that time), so selection sees little signal, and with a loss costing -2 against +1 for a
win, draws rise over the run (64 of 150 games in generation 1, 125 in generation 93). The papers searched 4 ply for
840 generations; at 44 s per depth-4 generation here, that is ten hours. K wanders over its whole range [1, 3]: a
lognormal step of N(0, 1)/sqrt(2) per generation is large against it.

Results are printed as markdown and saved to benchmarks/results/games_evolve-*.json, with the population and best
network in benchmarks/results/games_evolve-*/ (`load_network` reads it).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy's BLAS and torch stay on one thread
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import contextlib
import random
import time
import timeit

import numpy as np

from _common import RESULTS, machine, markdown_table, save
from striate.games import create
from striate.games.evolve import (
    NUM_GENES,
    AlphaBetaPlayer,
    BlondieNet,
    EvolvedPlayer,
    GenerationStats,
    Population,
    evolve_checkers,
    piece_count,
    play_game,
    whole_turns,
)


class RandomPlayer:
    """Uniformly random legal actions, seeded."""

    def __init__(self, seed: int):
        self.name, self._rng = "random", random.Random(seed)

    def choose(self, game, state) -> int:
        return self._rng.choice(game.legal_actions(state))


class _OutOfTime(Exception):
    pass


def openings(game, pairs: int, turns: int, seed: int) -> list:
    """`pairs` positions after `turns` random whole turns from the start (none over already)."""
    rng, found = random.Random(seed), []
    while len(found) < pairs:
        state = game.initial()
        for _ in range(turns):
            if game.is_terminal(state):
                break
            state = rng.choice(whole_turns(game, state))[1]
        if not game.is_terminal(state):
            found.append(state)
    return found


def match(game, evolved, opponent, starts: list, max_turns: int) -> dict[str, int]:
    """Both colours from every start; wins/draws/losses from `evolved`'s side."""
    tally = {"wins": 0, "draws": 0, "losses": 0}
    for state in starts:
        for colour in (0, 1):
            players = [evolved, opponent] if colour == 0 else [opponent, evolved]
            result = play_game(game, players, max_turns, state)
            result = result if colour == 0 else -result
            tally["wins" if result > 0 else "draws" if result == 0 else "losses"] += 1
    return tally


def measure_forward() -> list[list]:
    """Microseconds per evaluator call, numpy against an equivalent torch module, batches of 1 and 10."""
    import torch

    torch.set_num_threads(1)
    net = BlondieNet.random(np.random.default_rng(0))

    class TorchBlondie(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.spatial = torch.nn.Linear(32, 91)
            self.hidden1, self.hidden2, self.out = torch.nn.Linear(91, 40), torch.nn.Linear(40, 10), \
                torch.nn.Linear(10, 1)
            self.piece = torch.nn.Parameter(torch.tensor(net.piece_weight, dtype=torch.float64))
            self.double()  # float64 like numpy, before the weights are copied in
            with torch.no_grad():
                for layer, (w, b) in zip((self.spatial, self.hidden1, self.hidden2),
                                         ((net.spatial, net.spatial_bias), (net.hidden1, net.hidden1_bias),
                                          (net.hidden2, net.hidden2_bias)), strict=True):
                    layer.weight.copy_(torch.from_numpy(w.T))
                    layer.bias.copy_(torch.from_numpy(b))
                self.out.weight.copy_(torch.from_numpy(net.output[None]))
                self.out.bias.fill_(net.output_bias)

        def forward(self, x):  # (N, 32) input values -> (N,)
            h = torch.tanh(self.hidden2(torch.tanh(self.hidden1(torch.tanh(self.spatial(x))))))
            return torch.tanh(self.out(h)[:, 0] + self.piece * x.sum(1))

    module, rows = TorchBlondie(), []
    for batch in (1, 10):
        boards = np.random.default_rng(1).integers(-2, 3, (batch, 32)).astype(np.int8)
        with torch.inference_mode():
            expected = module(torch.from_numpy(net.inputs(boards))).numpy()
            np.testing.assert_allclose(net(boards), expected, rtol=1e-10)
            numpy_us = min(timeit.repeat(lambda b=boards: net(b), number=2000, repeat=5)) / 2000 * 1e6
            torch_us = min(timeit.repeat(lambda b=boards: module(torch.from_numpy(net.inputs(b))), number=2000,
                                         repeat=5)) / 2000 * 1e6
        rows.append([batch, f"{numpy_us:.1f}", f"{torch_us:.1f}", f"{torch_us / numpy_us:.1f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generations", type=int, default=100, help="most generations to evolve")
    parser.add_argument("--minutes", type=float, default=None, help="stop evolving after this much wall time")
    parser.add_argument("--size", type=int, default=15, help="parents (the papers' 15)")
    parser.add_argument("--depth", type=int, default=2, help="alpha-beta depth in whole turns, for everyone")
    parser.add_argument("--extend", type=int, default=0, help="whole turns searched past --depth while a capture "
                                                              "is forced, for everyone")
    parser.add_argument("--games", type=int, default=5, help="games each player starts per generation")
    parser.add_argument("--max-turns", type=int, default=100, help="turns before a game is drawn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--snapshots", type=int, default=5, help="generations evaluated, evenly spaced from 0")
    parser.add_argument("--pairs", type=int, default=50, help="openings per match, each played with both colours")
    parser.add_argument("--opening-turns", type=int, default=2, help="random whole turns before a match game")
    parser.add_argument("--curve-every", type=int, default=10, help="generations between rows of the curve table")
    parser.add_argument("--measure-forward", action="store_true", help="also time numpy against torch")
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"games_evolve-{stamp}"
    start = Population.random(args.size, seed=args.seed)
    bests = [(start.genes[0].copy(), float(start.kings[0]))]
    curve: list[GenerationStats] = []
    began = time.perf_counter()

    def progress(population: Population, stats: GenerationStats) -> None:
        bests.append((population.genes[0].copy(), float(population.kings[0])))
        curve.append(stats)
        print(f"generation {stats.generation}: best {stats.best:+.0f} mean {np.mean(stats.points):+.1f} "
              f"K {stats.king:.2f} W/D/L {stats.wins}/{stats.draws}/{stats.losses} {stats.seconds:.1f}s", flush=True)
        if args.minutes is not None and time.perf_counter() - began > 60 * args.minutes:
            raise _OutOfTime

    with contextlib.suppress(_OutOfTime):  # the budget ran out; the last generation is saved
        evolve_checkers(args.generations, args.size, args.depth, args.games, args.max_turns, args.seed, out=out,
                        start=start, callback=progress, extend=args.extend)
    evolve_seconds = time.perf_counter() - began
    done = len(bests) - 1

    game = create("checkers")
    starts = openings(game, args.pairs, args.opening_turns, args.seed + 1)
    generation0 = EvolvedPlayer(BlondieNet(*bests[0]), args.depth, "generation 0", extend=args.extend)
    picks = sorted({round(i * done / max(args.snapshots - 1, 1)) for i in range(args.snapshots)})
    rows, raw = [], []
    for generation in picks:
        evolved = EvolvedPlayer(BlondieNet(*bests[generation]), args.depth, extend=args.extend)
        opponents = [RandomPlayer(args.seed), AlphaBetaPlayer(piece_count, args.depth, "piece-count", args.seed,
                                                              args.extend)]
        if generation > 0:
            opponents.append(generation0)
        for opponent in opponents:
            t = time.perf_counter()
            tally = match(game, evolved, opponent, starts, args.max_turns)
            games = sum(tally.values())
            score = (tally["wins"] + tally["draws"] / 2) / games
            raw.append({"generation": generation, "opponent": opponent.name, **tally, "score": score,
                        "king": bests[generation][1], "seconds": time.perf_counter() - t})
            rows.append([generation, opponent.name, f"{tally['wins']}/{tally['draws']}/{tally['losses']}",
                         f"{score:.3f}", f"{bests[generation][1]:.2f}"])

    every = max(args.curve_every, 1)
    curve_rows = [[s.generation, f"{s.best:+.0f}", f"{np.mean(s.points):+.1f}", f"{s.king:.2f}",
                   f"{s.wins}/{s.draws}/{s.losses}", f"{s.seconds:.1f}"]
                  for s in curve if s.generation % every == 0 or s.generation in (1, done)]
    curve_table = markdown_table(["generation", "best points", "mean points", "K of best",
                                  "first player W/D/L", "seconds"], curve_rows)
    match_table = markdown_table(["generation", "opponent", "W/D/L (evolved's side)", "score", "K"], rows)
    print(f"\n{done} generations of {2 * args.size} players, depth {args.depth} (+{args.extend} after forced "
          f"jumps), {args.games} games each, "
          f"{evolve_seconds / 60:.1f} min; {NUM_GENES} genes + K; matches of {2 * args.pairs} games\n")
    print(curve_table + "\n\n" + match_table)
    payload = {"args": vars(args), "machine": machine(), "generations": done, "evolve_seconds": evolve_seconds,
               "curve": [s.__dict__ for s in curve], "matches": raw, "curve_table": curve_table,
               "match_table": match_table, "population": str(out)}
    if args.measure_forward:
        forward = markdown_table(["batch", "numpy us", "torch us", "torch / numpy"], measure_forward())
        print("\n" + forward)
        payload["forward_table"] = forward
    print(f"\nsaved {save('games_evolve', payload)}")


if __name__ == "__main__":
    main()
