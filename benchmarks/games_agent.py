"""A self-play agent against the baseline players, after a stated training budget.

    python benchmarks/games_agent.py connect4 --iterations 40 --games 48 --simulations 50
    python benchmarks/games_agent.py go --size 7 --iterations 40 --opponents random gnugo:1
    python benchmarks/games_agent.py connect4 --run runs/az-connect4      # matches only, for a trained run

Trains with `striate games train`'s loop (two self-play processes, one learning thread), then plays `--match-games`
games (colours alternating, each pair from its own `--openings` random actions, since a network searching at
temperature 0 and alpha-beta are both deterministic) with `--match-simulations` searches per move against each
opponent, and prints the tables with the training time: the budget the numbers belong to.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("game", choices=["connect4", "go", "checkers"])
    parser.add_argument("--size", type=int, default=None, help="go: board size")
    parser.add_argument("--run", default=None, help="a trained run folder: skip training")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--games", type=int, default=48, help="self-play games per iteration")
    parser.add_argument("--simulations", type=int, default=50, help="self-play searches per move")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--opponents", nargs="+", default=["random", "alphabeta:2", "alphabeta:4"])
    parser.add_argument("--match-games", type=int, default=40)
    parser.add_argument("--match-simulations", type=int, default=200)
    parser.add_argument("--openings", type=int, default=2, help="random actions opening each pair of games")
    parser.add_argument("--out", default="runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from striate.games.cli import make_player
    from striate.games.match import play_match
    from striate.games.training import AgentSettings, load_player, train_agent

    trained = None
    if args.run is None:
        options = {"size": args.size} if args.size else {}
        settings = AgentSettings(game=args.game, game_options=options, iterations=args.iterations, games=args.games,
                                 simulations=args.simulations, workers=args.workers, seed=args.seed)
        start = time.perf_counter()
        run = train_agent(settings, out=args.out)
        trained = time.perf_counter() - start
    else:
        run = Path(args.run)
    curve = [json.loads(line) for line in (Path(run) / "curve.jsonl").read_text().splitlines() if line.strip()]
    seconds = trained if trained is not None else sum(r["selfplay_seconds"] + r["train_seconds"] for r in curve)
    print(f"{run}: {curve[-1]['games']:,} self-play games in {len(curve)} iterations, {seconds / 60:.0f} min "
          f"(self-play and learning{'' if trained is not None else ', from curve.jsonl'})")
    results = []
    for opponent in args.opponents:
        agent, game = load_player(run, args.match_simulations)
        other = make_player(opponent, seed=args.seed + 1)
        start = time.perf_counter()
        match = play_match(game, agent, other, args.match_games, seed=args.seed, openings=args.openings)
        close = getattr(other, "close", None)
        if close is not None:
            close()
        print(match.table(), flush=True)
        results.append({"opponent": opponent, "wins": match.wins, "draws": match.draws, "losses": match.losses,
                        "score": match.score, "interval": match.score_interval(), "elo": match.elo(),
                        "seconds": time.perf_counter() - start})
    payload = {"run": str(run), "game": args.game, "self_play_games": curve[-1]["games"],
               "iterations": len(curve), "training_seconds": seconds, "match_simulations": args.match_simulations,
               "openings": args.openings,
               "matches": results, "machine": machine()}
    print(f"saved {save(f'games-agent-{args.game}', payload)}")


if __name__ == "__main__":
    main()
