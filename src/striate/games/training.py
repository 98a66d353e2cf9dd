"""AlphaZero-style training on a small board: self-play, learning from the latest positions, matches, checkpoints.

    run = train_agent(AgentSettings(game="connect4", iterations=50), out="runs")

Each iteration plays `games` self-play games with the current network (`striate.games.selfplay`, in `workers`
processes), adds their positions (with board symmetries) to a window of the latest `window` positions, and takes
`steps` Adam steps on minibatches drawn from the window, minimising `(z - v)^2 - pi . log p` with weight decay
(Silver et al. 2018), on `threads` PyTorch threads (1 by default: small batches gain little from more, and two
threads crawl when another process holds a core). Every `eval_every` iterations the network, searching
`eval_simulations` per move without noise, plays `eval_games` games against a random player and an alpha-beta
player of depth `eval_depth`, colours alternating, each pair of games from its own `eval_openings` random actions. A
checkpoint after every iteration holds the network, Adam, the window and the random states; Ctrl-C finishes the
iteration, writes one and stops, and `resume=RUN` continues. `fast_simulations` > 0 turns on playout cap
randomisation (`striate.games.selfplay`): only a `full_fraction` of moves get the full search and become examples.

Run folder (`out/NAME`): config.yaml, player.json (the game and network, what `load_player` reads),
model.safetensors, curve.jsonl (per iteration: games, results, lengths, positions, losses, seconds),
matches.jsonl (per evaluation: opponent, wins, draws, losses, score), curve.png, report.html
(`striate.games.report`), checkpoints/.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from striate._io import atomic_write_json, atomic_write_text, atomic_write_yaml
from striate.errors import ConfigError, Interrupted, RunFolderError
from striate.games import create
from striate.games.network import PolicyValueNet, alphazero_loss, evaluator
from striate.games.selfplay import Examples, SelfPlayPool
from striate.runs import mark_complete, mark_incomplete, new_run_dir
from striate.train.records import (
    StopOnSignal,
    append_jsonl,
    keep_rows,
    load_weights,
    read_record,
    read_settings,
    save_weights,
)

PLAYER_FORMAT = "striate.games/1"


@dataclass
class AgentSettings:
    """A self-play run. `game_options` are the game's own (Go: size, komi)."""

    game: str = "connect4"
    game_options: dict[str, Any] = field(default_factory=dict)
    iterations: int = 30
    games: int = 64
    simulations: int = 64
    fast_simulations: int = 0
    full_fraction: float = 0.25
    temperature_moves: int = 8
    dirichlet_alpha: float | None = None
    channels: int = 48
    blocks: int = 4
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    steps: int = 200
    window: int = 60_000
    workers: int = 2
    eval_every: int = 5
    eval_games: int = 20
    eval_simulations: int = 64
    eval_depth: int = 2
    eval_openings: int = 2
    seed: int = 0
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        for name in ("iterations", "games", "simulations", "channels", "blocks", "batch_size", "steps", "window",
                     "eval_every", "eval_games", "eval_simulations", "eval_depth", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"Invalid `{name}`: expected a positive integer, received {value!r}.")
        for name in ("temperature_moves", "workers", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"Invalid `{name}`: expected an integer of at least 0, received {value!r}.")
        if not isinstance(self.fast_simulations, int) or isinstance(self.fast_simulations, bool) or \
                not 0 <= self.fast_simulations < self.simulations:
            raise ConfigError(f"Invalid `fast_simulations`: expected 0 (off) or a whole number below `simulations` "
                              f"({self.simulations}), received {self.fast_simulations!r}.")
        if not (isinstance(self.full_fraction, int | float) and 0 < self.full_fraction <= 1):
            raise ConfigError(f"Invalid `full_fraction`: expected a share of moves in (0, 1] such as 0.25, received "
                              f"{self.full_fraction!r}.")
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ConfigError(f"Invalid `lr`: expected a positive learning rate such as 2e-3, received {self.lr!r}.")
        if self.dirichlet_alpha is not None and not self.dirichlet_alpha > 0:
            raise ConfigError(f"Invalid `dirichlet_alpha`: expected a positive number, received "
                              f"{self.dirichlet_alpha!r}.")
        if self.extra:
            raise ConfigError(f"Unknown settings {', '.join(sorted(self.extra))}: expected names from "
                              f"{', '.join(f.name for f in fields(AgentSettings) if f.name != 'extra')}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentSettings:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        return data


def train_agent(settings: AgentSettings | None = None, *, out: str | Path = "runs", name: str | None = None,
                resume: str | Path | None = None, iterations: int | None = None, console: Console | None = None,
                quiet: bool = False) -> Path:
    """Train (or, with `resume`, continue) a policy/value network by self-play; returns the run folder."""
    console = console or Console(stderr=True)
    if resume is not None:
        run_dir = Path(resume)
        settings = _read_settings(run_dir)
    else:
        settings = settings or AgentSettings()
    if iterations is not None:
        settings.iterations = int(iterations)
    settings.check()
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        return _train(settings, resume, out, name, console, quiet)
    finally:
        torch.set_num_threads(threads)


def _train(settings: AgentSettings, resume, out, name, console: Console, quiet: bool) -> Path:
    game = create(settings.game, **settings.game_options)
    torch.manual_seed(settings.seed)
    network_config = {"planes_shape": list(game.planes_shape), "num_actions": game.num_actions,
                      "channels": settings.channels, "blocks": settings.blocks}
    network = PolicyValueNet(**network_config)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    rng = np.random.default_rng(settings.seed)
    window, start = None, 0
    if resume is None:
        run_dir = new_run_dir(out, name or f"az-{settings.game}")
        atomic_write_yaml(run_dir / "config.yaml", settings.to_dict(), comment="striate games train settings")
        record = {"format": PLAYER_FORMAT, "game": settings.game, "game_options": settings.game_options,
                  "network": network_config, "simulations": settings.eval_simulations}
        atomic_write_json(run_dir / "player.json", record)
        for file in ("curve.jsonl", "matches.jsonl"):
            atomic_write_text(run_dir / file, "")
    else:
        run_dir = Path(resume)
        start, window = _restore(run_dir, network, optimizer, rng)
        mark_incomplete(run_dir)
        # a larger --iterations is the one setting a resume may change: the folder says how long the run now is
        atomic_write_yaml(run_dir / "config.yaml", settings.to_dict(), comment="striate games train settings")
        if not quiet:
            console.print(f"Resuming {run_dir} after iteration {start}.")
    pool = SelfPlayPool(settings.game, settings.game_options, network_config, settings.workers)
    options = {"simulations": settings.simulations, "temperature_moves": settings.temperature_moves,
               "dirichlet_alpha": settings.dirichlet_alpha, "fast_simulations": settings.fast_simulations,
               "full_fraction": settings.full_fraction}
    stop = StopOnSignal()
    try:
        with stop:
            for iteration in range(start, settings.iterations):
                begun = time.perf_counter()
                examples, stats = pool.play(network, settings.games, settings.seed * 100_003 + iteration, options)
                played = time.perf_counter() - begun
                window = examples if window is None else _keep_latest(window, examples, settings.window)
                losses = _learn(network, optimizer, window, settings, rng)
                row = {"iteration": iteration + 1, "games": (iteration + 1) * settings.games,
                       "first_player_score": float(np.mean([(r + 1) / 2 for r in stats.results])),
                       "draws": int(sum(r == 0 for r in stats.results)),
                       "mean_length": float(np.mean(stats.lengths)), "positions": len(examples),
                       "window": len(window), **losses, "selfplay_seconds": round(played, 2),
                       "train_seconds": round(time.perf_counter() - begun - played, 2)}
                if (iteration + 1) % settings.eval_every == 0 or iteration + 1 == settings.iterations:
                    row["matches"] = _evaluate(network, game, settings, iteration + 1, run_dir)
                append_jsonl(run_dir / "curve.jsonl", row)
                _checkpoint(run_dir, network, optimizer, window, rng, iteration + 1)
                if not quiet:
                    console.print(_line(row, settings))
                if stop.number is not None:
                    raise Interrupted(f"Interrupted by {stop.name} after iteration {iteration + 1}: a checkpoint was "
                                      f"written; resume with `striate games train --resume {run_dir}`.", stop.number)
    finally:
        pool.close()
    _finish(run_dir, network)
    mark_complete(run_dir)
    return run_dir


def _line(row: dict[str, Any], settings: AgentSettings) -> str:
    text = (f"iteration {row['iteration']}/{settings.iterations}: {settings.games} games "
            f"({row['selfplay_seconds']:.0f} s, first player {row['first_player_score']:.2f}), loss "
            f"{row['loss']:.3f} (value {row['value_loss']:.3f}, policy {row['policy_loss']:.3f})")
    for match in row.get("matches", []):
        text += f"; vs {match['opponent']} {match['wins']}-{match['draws']}-{match['losses']}"
    return text


def _keep_latest(window: Examples, new: Examples, size: int) -> Examples:
    joined = Examples.concatenate([window, new])
    if len(joined) <= size:
        return joined
    return Examples(joined.planes[-size:], joined.policies[-size:], joined.values[-size:])


def _learn(network, optimizer, window: Examples, settings: AgentSettings, rng) -> dict[str, float]:
    network.train()
    totals = np.zeros(3)
    for _ in range(settings.steps):
        index = rng.integers(0, len(window), settings.batch_size)
        logits, values = network(torch.from_numpy(window.planes[index]))
        loss, value_loss, policy_loss = alphazero_loss(logits, values, torch.from_numpy(window.policies[index]),
                                                       torch.from_numpy(window.values[index]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals += [float(loss.detach()), float(value_loss), float(policy_loss)]
    loss, value_loss, policy_loss = totals / settings.steps
    return {"loss": loss, "value_loss": value_loss, "policy_loss": policy_loss}


def _evaluate(network, game, settings: AgentSettings, iteration: int, run_dir: Path) -> list[dict[str, Any]]:
    from striate.games.match import play_match
    from striate.games.players import AlphaBetaPlayer, NetworkPlayer, RandomPlayer

    agent = NetworkPlayer(evaluator(network, game), settings.eval_simulations, name="agent")
    rows = []
    for opponent in (RandomPlayer(seed=settings.seed + iteration), AlphaBetaPlayer(settings.eval_depth,
                                                                                   seed=settings.seed + iteration)):
        result = play_match(game, agent, opponent, settings.eval_games, seed=settings.seed + iteration,
                            openings=settings.eval_openings)
        row = {"iteration": iteration, "opponent": opponent.name, "wins": result.wins, "draws": result.draws,
               "losses": result.losses, "score": result.score}
        append_jsonl(run_dir / "matches.jsonl", row)
        rows.append(row)
    return rows


# --- files --------------------------------------------------------------------------------------------------------


def _checkpoint(run_dir: Path, network, optimizer, window: Examples, rng, iteration: int) -> Path:
    from striate.train.checkpoint import save_checkpoint

    state = {"network": network.state_dict(), "optimizer": optimizer.state_dict(), "iteration": iteration,
             "window": {"planes": torch.from_numpy(window.planes), "policies": torch.from_numpy(window.policies),
                        "values": torch.from_numpy(window.values)},
             "rng": {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}}
    return save_checkpoint(run_dir, state, epoch=iteration, step=iteration)


def _restore(run_dir: Path, network, optimizer, rng) -> tuple[int, Examples]:
    from striate.train.checkpoint import latest_checkpoint, load_checkpoint

    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise RunFolderError(f"Cannot resume {run_dir}: expected a checkpoint in {run_dir / 'checkpoints'}, found "
                             f"none; train again.")
    state, _ = load_checkpoint(checkpoint)
    network.load_state_dict(state["network"])
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["rng"]["numpy"]
    torch.set_rng_state(state["rng"]["torch"])
    window = state["window"]
    iteration = int(state["iteration"])
    for file in ("curve.jsonl", "matches.jsonl"):
        keep_rows(run_dir / file, "iteration", iteration)
    return iteration, Examples(window["planes"].numpy(), window["policies"].numpy(), window["values"].numpy())


def _read_settings(run_dir: Path) -> AgentSettings:
    return AgentSettings.from_dict(read_settings(run_dir, "striate games train", "player.json"))


def _finish(run_dir: Path, network) -> None:
    from striate.games.report import draw_curve, write_games_report

    save_weights(run_dir / "model.safetensors", network)
    draw_curve(run_dir)
    write_games_report(run_dir)


def load_player(run_dir: str | Path, simulations: int | None = None, name: str | None = None):
    """The trained agent of a run folder as a `NetworkPlayer` (weights from safetensors, never a pickle), and its
    game."""
    from striate.games.players import NetworkPlayer

    run_dir = Path(run_dir)
    record = read_record(run_dir, "player.json", PLAYER_FORMAT, "striate games train", "games")
    game = create(record["game"], **record.get("game_options", {}))
    network = load_weights(run_dir, PolicyValueNet(**record["network"]), "the network in player.json",
                           "striate games train")
    player = NetworkPlayer(evaluator(network, game), simulations or int(record.get("simulations", 64)),
                           name=name or run_dir.name)
    return player, game
