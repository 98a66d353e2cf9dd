"""`striate rl train | play | evaluate | report`: deep Q-learning from pixels on the command line."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from striate.errors import ConfigError

rl_app = typer.Typer(no_args_is_help=True, help="Deep Q-networks on Atari, MinAtar and other games with screens.")

_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kKmM]?)\s*$")


def parse_count(name: str, text: str | None) -> int | None:
    """'500000', '500k', '10M', '2.5M' or '1e6' -> an integer; a one-line error otherwise."""
    if text is None:
        return None
    match = _COUNT.match(str(text))
    if match is None:
        raise ConfigError(f"Invalid `--{name}`: expected a count such as 500000, 500k or 10M, received {text!r}.")
    value = float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[match.group(2).lower()]
    if value < 1 or value != int(value):
        raise ConfigError(f"Invalid `--{name}`: expected a whole positive count, received {text!r}.")
    return int(value)


@rl_app.command("train")
def train_command(
    env: str = typer.Option("MinAtar/Breakout", "--env", "-e", help="ALE/Pong-v5 (any ALE id), MinAtar/Breakout "
                                                                     "(Asterix, Freeway, Seaquest, SpaceInvaders) or "
                                                                     "a gymnasium id with image observations"),
    frames: str | None = typer.Option(None, "--frames", help="frames to train for, e.g. 500k or 10M (an Atari step "
                                                             "is 4 frames) [Atari 10M, MinAtar 5M]"),
    double: bool = typer.Option(False, "--double", help="Double-DQN targets (van Hasselt et al. 2016)"),
    dueling: bool = typer.Option(False, "--dueling", help="a dueling head (Wang et al. 2016)"),
    prioritized: bool = typer.Option(False, "--prioritized", help="proportional prioritised replay (Schaul et al. "
                                                                  "2016)"),
    n_step: int = typer.Option(1, "--n-step", help="rewards summed per target"),
    envs: int = typer.Option(1, "--envs", help="environments acting side by side (one batched forward pass)"),
    network: str | None = typer.Option(None, "--network", help="zoo Q-network [dqn for screens, minatar_dqn for "
                                                               "MinAtar]"),
    lr: float | None = typer.Option(None, "--lr", help="Adam's learning rate [Atari 1e-4, MinAtar 2.5e-4]"),
    batch_size: int = typer.Option(32, "--batch-size", help="transitions per update"),
    buffer: str | None = typer.Option(None, "--buffer", help="replay memory size in steps [100k]"),
    learning_starts: str | None = typer.Option(None, "--learning-starts", help="steps stored before learning "
                                                                               "[Atari 80k, MinAtar 5k]"),
    train_every: int | None = typer.Option(None, "--train-every", help="agent steps per update [Atari 4, "
                                                                       "MinAtar 1]"),
    target_update: int | None = typer.Option(None, "--target-update", help="agent steps between target-network "
                                                                           "updates [1000]"),
    epsilon_frames: str | None = typer.Option(None, "--epsilon-frames", help="frames over which epsilon falls "
                                                                             "linearly [Atari 4M, MinAtar 100k]"),
    eval_every: str | None = typer.Option(None, "--eval-every", help="frames between evaluations [Atari 250k, "
                                                                     "MinAtar 100k]"),
    eval_episodes: int = typer.Option(10, "--eval-episodes", help="games per evaluation"),
    checkpoint_every: str | None = typer.Option(None, "--checkpoint-every", help="frames between checkpoints"),
    save_replay: bool = typer.Option(False, "--save-replay", help="checkpoints include the replay memory, so a "
                                                                  "resumed run continues exactly"),
    seed: int = typer.Option(0, "--seed"),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for PyTorch"),
    out: Path = typer.Option(Path("runs"), "--out", help="folder for run folders"),
    name: str | None = typer.Option(None, "--name", help="run folder name [dqn-GAME, numbered]"),
    resume: Path | None = typer.Option(None, "--resume", help="continue this run folder from its last checkpoint "
                                                              "(with a larger --frames to train longer)"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Train a DQN agent (Mnih et al. 2015) from screen pixels; writes a run folder with the learning curve,
    evaluations, a recorded game (episode.gif), report.html and checkpoints."""
    from striate.cli import console, user_errors
    from striate.rl.training import DQNSettings, train_dqn

    with user_errors():
        counts = {key: parse_count(key.replace("_", "-"), value) for key, value in
                  (("frames", frames), ("buffer", buffer), ("learning_starts", learning_starts),
                   ("epsilon_frames", epsilon_frames), ("eval_every", eval_every),
                   ("checkpoint_every", checkpoint_every))}
        if resume is not None:
            run = train_dqn(resume=resume, frames=counts["frames"], console=console, quiet=quiet)
        else:
            settings = DQNSettings(env=env, double=double, dueling=dueling, prioritized=prioritized, n_step=n_step,
                                   envs=envs, network=network, lr=lr, batch_size=batch_size,
                                   train_every=train_every, target_update=target_update,
                                   eval_episodes=eval_episodes, save_replay=save_replay, seed=seed, threads=threads,
                                   **counts)
            run = train_dqn(settings, out=out, name=name, console=console, quiet=quiet)
    typer.echo(str(run))


@rl_app.command("play")
def play_command(
    run: Path = typer.Argument(..., help="run folder of `striate rl train`"),
    episodes: int = typer.Option(10, "--episodes", "-n", help="games to play"),
    record: Path | None = typer.Option(None, "--record", help="write the first game as an animated GIF"),
    epsilon: float | None = typer.Option(None, "--epsilon", help="random-action probability [the run's "
                                                                 "evaluation epsilon]"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Watch a trained agent: play full games, print each one's return, optionally record the first as a GIF."""
    from striate.cli import user_errors
    from striate.rl.report import write_gif
    from striate.rl.training import evaluation_summary, load_agent, play_episodes

    with user_errors():
        _check_episodes(episodes)
        _check_record(record)
        agent, settings, _ = load_agent(run)
        eps = _epsilon(epsilon, settings)

        def show(number, episode):
            typer.echo(f"game {number + 1}: return {episode.score:g} in {episode.steps:,} steps")

        played = play_episodes(agent, settings, episodes, epsilon=eps, seed=seed, record=1 if record else 0,
                               on_episode=show)
        if record is not None:
            write_gif(played[0].frames, record)
    summary = evaluation_summary([e.score for e in played])
    typer.echo(f"{settings.env}: mean return {summary['mean']:.2f} ± {summary['std']:.2f} over {episodes} games "
               f"(min {summary['min']:g}, max {summary['max']:g})")
    if record is not None:
        typer.echo(f"wrote {record}")


@rl_app.command("evaluate")
def evaluate_command(
    run: Path = typer.Argument(..., help="run folder of `striate rl train`"),
    episodes: int = typer.Option(30, "--episodes", "-n", help="games to play"),
    epsilon: float | None = typer.Option(None, "--epsilon", help="random-action probability [the run's "
                                                                 "evaluation epsilon]"),
    seed: int = typer.Option(12345, "--seed"),
) -> None:
    """The agent's return over full games with the game's own rewards: mean, sd, a 95% interval, min and max."""
    from striate.cli import user_errors
    from striate.rl.training import evaluation_summary, load_agent, play_episodes

    with user_errors():
        _check_episodes(episodes)
        agent, settings, _ = load_agent(run)
        eps = _epsilon(epsilon, settings)
        played = play_episodes(agent, settings, episodes, epsilon=eps, seed=seed)
    s = evaluation_summary([e.score for e in played])
    interval = f" (95% interval of the mean ± {s['ci95']:.2f})" if episodes > 1 else ""
    typer.echo(f"{settings.env}: return {s['mean']:.2f} ± {s['std']:.2f}{interval} over {episodes} games with "
               f"ε = {eps:g}; min {s['min']:g}, max {s['max']:g}; {sum(e.steps for e in played):,} agent steps")


@rl_app.command("report")
def report_command(run: Path = typer.Argument(..., help="run folder of `striate rl train`")) -> None:
    """Draw the learning curve and write report.html again from the run folder."""
    from striate.cli import user_errors
    from striate.rl.report import draw_curve, write_rl_report
    from striate.rl.training import load_agent

    with user_errors():
        load_agent(run)  # the same checks as play: a finished DQN run
        draw_curve(run)
        path = write_rl_report(run)
    typer.echo(str(path))


def _check_episodes(episodes: int) -> None:
    if episodes < 1:
        raise ConfigError(f"Invalid `--episodes`: expected at least 1 game, received {episodes}.")


def _check_record(record: Path | None) -> None:
    if record is None:
        return
    if record.suffix.lower() != ".gif":
        raise ConfigError(f"Invalid `--record` {str(record)!r}: expected a .gif file name, received "
                          f"{record.suffix or 'no extension'}; name it e.g. game.gif.")
    if record.is_dir() or not record.parent.is_dir():
        raise ConfigError(f"Invalid `--record` {str(record)!r}: expected a file in an existing folder; create "
                          f"{record.parent} first or choose another path.")


def _epsilon(epsilon: float | None, settings) -> float:
    value = settings.eval_epsilon if epsilon is None else epsilon
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"Invalid `--epsilon`: expected a probability in [0, 1], received {value}.")
    return float(value)
