"""Training a DQN agent end to end: settings, the acting/learning loop, evaluation, checkpoints and the run folder.

    run = train_dqn(DQNSettings(env="MinAtar/Breakout", frames=500_000), out="runs")

The loop acts in `envs` environments at once (gymnasium's `SyncVectorEnv`; one batched forward pass picks every
environment's action), writes each environment's steps into its own share of the replay memory, learns every
`train_every` agent steps once `learning_starts` steps are stored, refreshes the target network every
`target_update` steps and plays `eval_episodes` full games every `eval_every` frames. Frames count what the game
renders: an Atari agent step is 4 frames (frame skip), a MinAtar step one, so `frames=10_000_000` on Pong is
2,500,000 agent steps, the "10M frames" of the papers (CleanRL's "10M steps" are agent steps, 40M frames).

Run folder (`out/NAME`):

    config.yaml         the settings, enough to train again or resume
    agent.json          environment, network and observation layout; what `load_agent` rebuilds the agent from
    model.safetensors   the online network at the end
    curve.jsonl         one row per logging interval: frames, episodes, return, epsilon, loss, Q, frames/s
    evaluations.jsonl   one row per evaluation: every episode's return
    curve.png           training and evaluation returns against frames
    episode.gif         a recorded evaluation game
    results.json        final evaluation, speed, replay memory size
    report.html         the page (`striate.rl.report`)
    checkpoints/        complete state (networks, Adam, counters, RNGs; the replay memory with `save_replay`)

Ctrl-C or SIGTERM finishes the current step, writes a checkpoint and stops; `train_dqn(resume=RUN)` (the CLI's
`--resume RUN`) continues from it, with a larger `frames` to train longer. Without a saved replay memory the
environments restart and the memory refills for `learning_starts` steps before learning goes on.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from striate._io import atomic_write_json, atomic_write_text, atomic_write_yaml
from striate.errors import ConfigError, Interrupted, RunFolderError
from striate.rl.agent import DQNAgent, LinearSchedule
from striate.rl.envs import EnvInfo, default_history, env_info, family_of, make_env
from striate.rl.replay import PrioritizedReplayMemory, ReplayMemory
from striate.runs import mark_complete, mark_incomplete, new_run_dir
from striate.train.records import (
    StopOnSignal,
    append_jsonl,
    keep_rows,
    load_weights,
    read_jsonl,
    read_record,
    read_settings,
    save_weights,
)

AGENT_FORMAT = "striate.rl/1"

FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    # CleanRL's dqn_atari.py settings (Mnih et al. 2015 with Adam), with a 100k-frame memory (700 MB, not 7 GB).
    "atari": {"network": "dqn", "frames": 10_000_000, "lr": 1e-4, "buffer": 100_000, "learning_starts": 80_000,
              "train_every": 4, "target_update": 1_000, "epsilon_end": 0.01, "epsilon_frames": 4_000_000,
              "eval_epsilon": 0.05, "eval_every": 250_000, "checkpoint_every": 1_000_000},
    # Young & Tian 2019's DQN on MinAtar (their RMSProp replaced by Adam).
    "minatar": {"network": "minatar_dqn", "frames": 5_000_000, "lr": 2.5e-4, "buffer": 100_000,
                "learning_starts": 5_000, "train_every": 1, "target_update": 1_000, "epsilon_end": 0.1,
                "epsilon_frames": 100_000, "eval_epsilon": 0.0, "eval_every": 100_000, "checkpoint_every": 250_000,
                # Batches of 32 through a 132k-parameter network are too small for a second thread to pay off, and
                # when another process holds a core two threads wait on each other: 550 against 77 frames/s here.
                "threads": 1},
    "gymnasium": {"network": "dqn", "frames": 1_000_000, "lr": 1e-4, "buffer": 100_000, "learning_starts": 10_000,
                  "train_every": 4, "target_update": 1_000, "epsilon_end": 0.01, "epsilon_frames": 100_000,
                  "eval_epsilon": 0.05, "eval_every": 50_000, "checkpoint_every": 250_000},
}
"""Per kind of game, what a setting left at None becomes (threads: None keeps PyTorch's own count)."""


@dataclass
class DQNSettings:
    """Everything a DQN run is made of; None means the default of the game's family (`FAMILY_DEFAULTS`).

    Frames (`frames`, `epsilon_frames`, `eval_every`, `checkpoint_every`) count rendered frames; `buffer`,
    `learning_starts`, `train_every` and `target_update` count agent steps, as the papers do.
    """

    env: str = "MinAtar/Breakout"
    frames: int | None = None
    network: str | None = None
    double: bool = False
    dueling: bool = False
    prioritized: bool = False
    n_step: int = 1
    gamma: float = 0.99
    lr: float | None = None
    batch_size: int = 32
    buffer: int | None = None
    learning_starts: int | None = None
    train_every: int | None = None
    target_update: int | None = None
    epsilon_start: float = 1.0
    epsilon_end: float | None = None
    epsilon_frames: int | None = None
    alpha: float = 0.5
    beta: float = 0.4
    envs: int = 1
    history: int | None = None
    sticky: float | None = None
    eval_every: int | None = None
    eval_episodes: int = 10
    eval_epsilon: float | None = None
    checkpoint_every: int | None = None
    save_replay: bool = False
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> DQNSettings:
        """A copy with every None filled from the family's defaults, checked."""
        family = family_of(self.env)
        values = asdict(self)
        for key, value in FAMILY_DEFAULTS[family].items():
            if values.get(key) is None:
                values[key] = value
        values["history"] = values["history"] or default_history(self.env)
        settings = DQNSettings(**values)
        settings.check()
        return settings

    @property
    def frame_skip(self) -> int:
        return 4 if family_of(self.env) == "atari" else 1

    @property
    def steps(self) -> int:
        """Agent steps in `frames`."""
        return int(self.frames) // self.frame_skip

    def check(self) -> None:
        positive = {"frames": self.frames, "batch_size": self.batch_size, "buffer": self.buffer,
                    "train_every": self.train_every, "target_update": self.target_update, "envs": self.envs,
                    "n_step": self.n_step, "eval_episodes": self.eval_episodes, "eval_every": self.eval_every,
                    "checkpoint_every": self.checkpoint_every, "history": self.history}
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"Invalid `{name}`: expected a positive integer, received {value!r}.")
        for name, value in {"learning_starts": self.learning_starts, "epsilon_frames": self.epsilon_frames}.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"Invalid `{name}`: expected an integer of at least 0, received {value!r}.")
        for name, value in {"gamma": self.gamma, "epsilon_start": self.epsilon_start, "epsilon_end": self.epsilon_end,
                            "eval_epsilon": self.eval_epsilon}.items():
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"Invalid `{name}`: expected a number in [0, 1], received {value!r}.")
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ConfigError(f"Invalid `lr`: expected a positive learning rate such as 1e-4, received {self.lr!r}.")
        if self.buffer // self.envs <= self.history + self.n_step:
            raise ConfigError(f"Invalid `buffer`: expected more than (history + n_step) x envs = "
                              f"{(self.history + self.n_step) * self.envs} steps, received {self.buffer}.")
        if self.buffer < self.learning_starts:
            raise ConfigError(f"Invalid `buffer`: expected at least learning_starts = {self.learning_starts:,} steps "
                              f"(learning waits for that many in memory), received {self.buffer:,}; raise --buffer "
                              f"or lower --learning-starts.")
        if self.learning_starts < self.batch_size:
            raise ConfigError(f"Invalid `learning_starts`: expected at least batch_size = {self.batch_size} steps in "
                              f"memory before learning, received {self.learning_starts}; raise it.")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ConfigError(f"Invalid `threads`: expected a positive number of CPU threads, received "
                              f"{self.threads!r}.")
        if self.extra:
            raise ConfigError(f"Unknown settings {', '.join(sorted(self.extra))}: expected names from "
                              f"{', '.join(f.name for f in fields(DQNSettings) if f.name != 'extra')}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "settings") -> DQNSettings:
        if not isinstance(data, dict):
            raise ConfigError(f"Invalid {source}: expected a mapping of DQN settings, found {type(data).__name__}.")
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        return data


# --- building ---------------------------------------------------------------------------------------------------


def build_network(settings: DQNSettings, info: EnvInfo) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The zoo's Q-network for the environment's observations; also its architecture record for `agent.json`."""
    import inspect

    from striate.models import create, list_models

    q_networks = [entry.name for entry in list_models() if "num_actions" in inspect.signature(entry.build).parameters]
    if settings.network not in q_networks:
        from striate.errors import did_you_mean

        known = settings.network in {entry.name for entry in list_models()}
        raise ConfigError(f"{'Network' if known else 'Unknown network'} {settings.network!r}"
                          f"{' is not a Q-network' if known else ''}: expected one of {', '.join(q_networks)}."
                          f"{'' if known else did_you_mean(settings.network, q_networks)}")
    channels, height, width = info.observation_shape
    kwargs = {"num_actions": info.num_actions, "in_channels": channels, "input_size": [height, width]}
    if settings.dueling:
        kwargs["dueling"] = True
    try:
        network = create(settings.network, **kwargs)
    except (RuntimeError, ValueError):
        raise ConfigError(f"Network {settings.network!r} does not fit {info.env_id}'s observations of shape "
                          f"{info.observation_shape}: its convolutions need larger screens; choose minatar_dqn.") \
            from None
    return network, {"name": settings.network, "kwargs": kwargs}


def build_memory(settings: DQNSettings, info: EnvInfo) -> ReplayMemory:
    common = {"frame_shape": info.frame_shape, "history": settings.history, "n_step": settings.n_step,
              "gamma": settings.gamma, "streams": settings.envs}
    if settings.prioritized:
        return PrioritizedReplayMemory(settings.buffer, alpha=settings.alpha, beta=settings.beta, **common)
    return ReplayMemory(settings.buffer, **common)


def make_vector_env(settings: DQNSettings, count: int | None = None):
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    def one():
        return make_env(settings.env, train=True, history=settings.history, sticky=settings.sticky)

    return SyncVectorEnv([one for _ in range(count or settings.envs)], autoreset_mode=AutoresetMode.SAME_STEP)


# --- evaluation -------------------------------------------------------------------------------------------------


@dataclass
class Episode:
    """One evaluation game: its (unclipped) return, agent steps, and the frames when recorded."""

    score: float
    steps: int
    frames: list[np.ndarray] = field(default_factory=list)
    q_values: list[float] = field(default_factory=list)


def play_episodes(agent: DQNAgent, settings: DQNSettings, episodes: int, *, epsilon: float, seed: int,
                  record: int = 0, on_episode=None) -> list[Episode]:
    """Play `episodes` full games (Atari: every life, game rewards) with epsilon-greedy actions; the first `record`
    of them keep their rendered frames and the greedy action's Q-value per step."""
    env = make_env(settings.env, train=False, history=settings.history, sticky=settings.sticky,
                   render_mode="rgb_array" if record else None)
    rng = np.random.default_rng(seed)
    played = []
    try:
        for number in range(episodes):
            observation, _ = env.reset(seed=seed + number)
            recording = number < record
            episode = Episode(0.0, 0)
            while True:
                if recording:
                    episode.frames.append(env.render())
                    q = agent.q_values(observation[None])[0]
                    episode.q_values.append(float(q.max()))
                    action = int(q.argmax()) if rng.random() >= epsilon else int(rng.integers(agent.num_actions))
                else:
                    action = int(agent.act(observation[None], epsilon, rng)[0])
                observation, reward, terminated, truncated, _ = env.step(action)
                episode.score += float(reward)
                episode.steps += 1
                if terminated or truncated:
                    break
            if recording:
                episode.frames.append(env.render())
            played.append(episode)
            if on_episode is not None:
                on_episode(number, episode)
    finally:
        env.close()
    return played


# --- the loop ---------------------------------------------------------------------------------------------------


@dataclass
class _Counters:
    step: int = 0
    episodes: int = 0
    updates: int = 0
    syncs: int = 0
    next_log: int = 0
    next_eval: int = 0
    next_checkpoint: int = 0
    learn_from: int = 0
    owed: int = 0  # agent steps taken since the last update, towards the next `train_every`
    elapsed: float = 0.0


def train_dqn(settings: DQNSettings | None = None, *, out: str | Path = "runs", name: str | None = None,
              resume: str | Path | None = None, frames: int | None = None, console: Console | None = None,
              quiet: bool = False, record: bool = True) -> Path:
    """Train (or, with `resume`, continue) a DQN agent; returns the run folder. See the module docstring."""
    console = console or Console(stderr=True)
    if resume is not None:
        run_dir = Path(resume)
        settings = _read_settings(run_dir)
        if frames is not None:
            settings.frames = int(frames)
        settings = settings.resolved()
    else:
        settings = (settings or DQNSettings()).resolved()
        if frames is not None:
            settings.frames = int(frames)
            settings.check()
    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    try:
        return _train(settings, resume, out, name, console, quiet, record)
    finally:
        torch.set_num_threads(threads)


def _train(settings: DQNSettings, resume, out, name, console: Console, quiet: bool, record: bool) -> Path:
    torch.manual_seed(settings.seed)
    probe = make_env(settings.env, train=True, history=settings.history, sticky=settings.sticky)
    info = env_info(probe, settings.env, settings.history)
    probe.close()
    network, architecture = build_network(settings, info)
    agent = DQNAgent(network, info.num_actions, scale=info.scale, gamma=settings.gamma, double=settings.double,
                     lr=settings.lr, device=settings.device)
    memory = build_memory(settings, info)
    rng = np.random.default_rng(settings.seed)
    counters, restored = _Counters(), None
    if resume is None:
        run_dir = new_run_dir(out, name or _default_name(settings))
        atomic_write_yaml(run_dir / "config.yaml", settings.to_dict(), comment="striate rl train settings")
        atomic_write_json(run_dir / "agent.json", _agent_record(settings, info, architecture))
        for file in ("curve.jsonl", "evaluations.jsonl"):
            atomic_write_text(run_dir / file, "")
    else:
        run_dir = Path(resume)
        counters, restored = _restore(run_dir, agent, memory, rng, settings, console, quiet)
        mark_incomplete(run_dir)
    loop = _Loop(settings, info, agent, memory, rng, counters, run_dir, console, quiet, restored)
    loop.run()
    loop.finish(record=record)
    mark_complete(run_dir)
    return run_dir


def _default_name(settings: DQNSettings) -> str:
    game = settings.env.split("/")[-1].split("-v")[0].lower()
    flags = (("double", settings.double), ("dueling", settings.dueling), ("per", settings.prioritized),
             (f"n{settings.n_step}", settings.n_step > 1))
    variants = [flag for flag, on in flags if on]
    return "-".join(["dqn", *variants, game])


def _agent_record(settings: DQNSettings, info: EnvInfo, architecture: dict[str, Any]) -> dict[str, Any]:
    return {"format": AGENT_FORMAT, "env": settings.env, "family": info.family, "architecture": architecture,
            "frame_shape": list(info.frame_shape), "history": info.history, "scale": info.scale,
            "observation_shape": list(info.observation_shape), "action_names": list(info.action_names),
            "frame_skip": settings.frame_skip}


class _Loop:
    def __init__(self, settings, info, agent, memory, rng, counters, run_dir, console, quiet, restored=None):
        self.settings, self.info, self.agent, self.memory, self.rng = settings, info, agent, memory, rng
        self.counters, self.run_dir, self.console, self.quiet = counters, Path(run_dir), console, quiet
        skip = settings.frame_skip
        self.epsilon = LinearSchedule(settings.epsilon_start, settings.epsilon_end, settings.epsilon_frames // skip)
        self.returns: deque[float] = deque(maxlen=100)
        self.interval = {"returns": [], "losses": [], "q": []}
        self.log_every = max(settings.steps // 200, 1_000)
        self.generator = torch.Generator().manual_seed(settings.seed)  # replay sampling
        if restored is not None:
            self.generator.set_state(restored["rng"]["replay"])
            self.returns.extend(restored["returns"])
        self.eval_every = max(settings.eval_every // skip, 1)
        self.checkpoint_every = max(settings.checkpoint_every // skip, 1)

    # -- acting and learning -------------------------------------------------------------------------------------

    def run(self) -> None:
        s, c = self.settings, self.counters
        if c.step >= s.steps:
            return
        envs = make_vector_env(s)
        observations, _ = envs.reset(seed=s.seed + 7919 * c.step)
        for i in range(s.envs):
            self.memory.start_episode(self.info.newest_frame(observations[i]), stream=i)
        c.next_log = c.next_log or self.log_every
        c.next_eval = c.next_eval or self.eval_every
        c.next_checkpoint = c.next_checkpoint or self.checkpoint_every
        progress = _Progress(self.console, s.steps, s.frame_skip, c.step, quiet=self.quiet)
        started, start_step = time.perf_counter(), c.step
        self._window = (time.perf_counter(), c.step)
        try:
            with StopOnSignal() as stop:
                while c.step < s.steps:
                    epsilon = self.epsilon(c.step)
                    actions = self.agent.act(observations, epsilon, self.rng)
                    observations = self._step(envs, observations, actions)
                    c.step += s.envs
                    self._learn()
                    if isinstance(self.memory, PrioritizedReplayMemory):
                        self.memory.beta = s.beta + (1.0 - s.beta) * min(1.0, c.step / s.steps)
                    if c.step >= c.next_log:
                        self._log(epsilon, c.elapsed + time.perf_counter() - started)
                        c.next_log += self.log_every
                    progress.update(c.step, epsilon, self._mean_return(), self._fps())
                    if c.step >= c.next_eval:
                        c.next_eval += self.eval_every
                        progress.pause()
                        self._evaluate()
                        progress.resume()
                    if c.step >= c.next_checkpoint or stop.number is not None:
                        if c.step >= c.next_checkpoint:
                            c.next_checkpoint += self.checkpoint_every
                        c.elapsed += time.perf_counter() - started
                        started = time.perf_counter()
                        path = self._checkpoint()
                        if stop.number is not None:
                            progress.stop()
                            raise Interrupted(f"Interrupted by {stop.name} at frame {c.step * s.frame_skip:,}: "
                                              f"checkpoint {path.name} was written; resume with `striate rl train "
                                              f"--resume {self.run_dir}`.", stop.number)
        finally:
            progress.stop()
            envs.close()
        c.elapsed += time.perf_counter() - started
        self.speed = (c.step - start_step) * s.frame_skip / max(time.perf_counter() - started, 1e-9)

    def _step(self, envs, observations, actions):
        next_observations, rewards, terminated, truncated, infos = envs.step(actions)
        ended = terminated | truncated
        frame = self.info.newest_frame
        for i in range(len(actions)):
            if ended[i]:
                self.memory.add(frame(infos["final_obs"][i]), int(actions[i]), float(rewards[i]),
                                bool(terminated[i]), stream=i)
                self.memory.start_episode(frame(next_observations[i]), stream=i)
                final = infos["final_info"]
                if "episode" in final and final["_episode"][i]:
                    score = float(final["episode"]["r"][i])
                    self.returns.append(score)
                    self.interval["returns"].append(score)
                    self.counters.episodes += 1
            else:
                self.memory.add(frame(next_observations[i]), int(actions[i]), float(rewards[i]), False, stream=i)
        return next_observations

    def _learn(self) -> None:
        s, c = self.settings, self.counters
        if c.step < max(s.learning_starts, c.learn_from) or len(self.memory) < s.batch_size:
            return
        c.owed += s.envs
        while c.owed >= s.train_every:
            c.owed -= s.train_every
            loss, q = self.agent.learn(self.memory.sample(s.batch_size, self.generator), self.memory)
            self.interval["losses"].append(loss)
            self.interval["q"].append(q)
            c.updates += 1
        if c.step // s.target_update > c.syncs:
            c.syncs = c.step // s.target_update
            self.agent.sync_target()

    def _mean_return(self) -> float | None:
        return float(np.mean(self.returns)) if self.returns else None

    def _fps(self) -> float:
        now = time.perf_counter()
        then, step = self._window
        fps = (self.counters.step - step) * self.settings.frame_skip / max(now - then, 1e-9)
        if now - then > 10:
            self._window = (now, self.counters.step)
        return fps

    # -- records -------------------------------------------------------------------------------------------------

    def _log(self, epsilon: float, elapsed: float) -> None:
        c, interval = self.counters, self.interval
        row = {"step": c.step, "frames": c.step * self.settings.frame_skip, "episodes": c.episodes,
               "return": _mean(interval["returns"]), "return_100": self._mean_return(), "epsilon": round(epsilon, 5),
               "loss": _mean(interval["losses"]), "q": _mean(interval["q"]), "updates": c.updates,
               "frames_per_second": round(self._fps(), 1), "elapsed": round(elapsed, 2)}
        append_jsonl(self.run_dir / "curve.jsonl", row)
        self.interval = {"returns": [], "losses": [], "q": []}

    def _evaluate(self) -> dict[str, Any]:
        s, c = self.settings, self.counters
        started = time.perf_counter()
        episodes = play_episodes(self.agent, s, s.eval_episodes, epsilon=s.eval_epsilon,
                                 seed=s.seed + 1_000_003 + c.step)
        scores = [e.score for e in episodes]
        row = {"step": c.step, "frames": c.step * s.frame_skip, "returns": scores, "mean": float(np.mean(scores)),
               "std": float(np.std(scores)), "seconds": round(time.perf_counter() - started, 2)}
        append_jsonl(self.run_dir / "evaluations.jsonl", row)
        if not self.quiet:
            self.console.print(f"evaluation at frame {row['frames']:,}: return {row['mean']:.2f} ± {row['std']:.2f} "
                               f"over {len(scores)} games")
        return row

    def _checkpoint(self) -> Path:
        from striate.train.checkpoint import save_checkpoint

        c = self.counters
        state = {"agent": self.agent.state_dict(), "counters": asdict(c), "returns": list(self.returns),
                 "rng": {"numpy": self.rng.bit_generator.state, "torch": torch.get_rng_state(),
                         "replay": self.generator.get_state()},
                 "replay": self.memory.state_dict() if self.settings.save_replay else None}
        return save_checkpoint(self.run_dir, state, epoch=0, step=c.step)

    def finish(self, record: bool = True) -> None:
        """After the last step: the final evaluation (recording the first game), weights, results, pictures, page."""
        from striate.rl.report import draw_curve, write_gif, write_rl_report

        s, c = self.settings, self.counters
        self._checkpoint()
        save_weights(self.run_dir / "model.safetensors", self.agent.online)
        evaluations = read_jsonl(self.run_dir / "evaluations.jsonl", "striate rl train")
        if not evaluations or evaluations[-1]["step"] != c.step:
            evaluations.append(self._evaluate())
        recorded = []
        if record:
            recorded = play_episodes(self.agent, s, 1, epsilon=s.eval_epsilon, seed=s.seed + 99, record=1)
            write_gif(recorded[0].frames, self.run_dir / "episode.gif")
        final = evaluations[-1]
        best = max(evaluations, key=lambda row: row["mean"])
        results = {"env": s.env, "frames": c.step * s.frame_skip, "steps": c.step, "episodes": c.episodes,
                   "updates": c.updates, "final_return": final["mean"], "final_return_std": final["std"],
                   "final_returns": final["returns"], "best_return": best["mean"], "best_frames": best["frames"],
                   "training_return_100": self._mean_return(), "seconds": round(c.elapsed, 1),
                   "frames_per_second": round(c.step * s.frame_skip / max(c.elapsed, 1e-9), 1),
                   "replay_bytes_per_transition": self.memory.bytes_per_transition,
                   "recorded_return": recorded[0].score if recorded else None}
        atomic_write_json(self.run_dir / "results.json", results)
        draw_curve(self.run_dir)
        write_rl_report(self.run_dir, recorded=recorded[0] if recorded else None)
        if not self.quiet:
            self.console.print(f"[bold]{s.env}[/]: return {final['mean']:.2f} ± {final['std']:.2f} after "
                               f"{results['frames']:,} frames ({results['frames_per_second']:,.0f} frames/s); "
                               f"run folder {self.run_dir}")


class _Progress:
    """A rich bar with frames/s, the mean of the last 100 returns and epsilon; plain lines off a terminal."""

    def __init__(self, console: Console, total: int, frame_skip: int, done: int, quiet: bool):
        self.console, self.total, self.skip, self.quiet = console, total, frame_skip, quiet
        self._bar = None
        self._last_line = time.perf_counter()
        if quiet:
            return
        if console.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]frames"), BarColumn(), TextColumn("{task.fields[frames]}"),
                                 TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=console)
            self._bar.start()
            self._task = self._bar.add_task("train", total=total, completed=done, stats="", frames="")

    def update(self, step: int, epsilon: float, mean_return: float | None, fps: float) -> None:
        if self.quiet:
            return
        stats = (f"{fps:,.0f} frames/s  return {'-' if mean_return is None else f'{mean_return:.2f}'}  "
                 f"ε {epsilon:.3f}")
        frames = f"{step * self.skip:,}/{self.total * self.skip:,}"
        if self._bar is not None:
            if step % 64 < 8 or step >= self.total:
                self._bar.update(self._task, completed=step, stats=stats, frames=frames)
        elif time.perf_counter() - self._last_line > 30 or step >= self.total:
            self._last_line = time.perf_counter()
            self.console.print(f"frames {frames}  {stats}")

    def pause(self) -> None:
        if self._bar is not None:
            self._bar.stop()

    def resume(self) -> None:
        if self._bar is not None:
            self._bar.start()

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# --- files ------------------------------------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _read_settings(run_dir: Path) -> DQNSettings:
    return DQNSettings.from_dict(read_settings(run_dir, "striate rl train", "agent.json"),
                                 str(run_dir / "config.yaml"))


def _restore(run_dir: Path, agent: DQNAgent, memory: ReplayMemory, rng: np.random.Generator,
             settings: DQNSettings, console: Console, quiet: bool) -> tuple[_Counters, dict[str, Any]]:
    from striate.train.checkpoint import latest_checkpoint, load_checkpoint

    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise RunFolderError(f"Cannot resume {run_dir}: expected a checkpoint in {run_dir / 'checkpoints'}, found "
                             f"none; train again.")
    state, _ = load_checkpoint(checkpoint)
    agent.load_state_dict(state["agent"])
    counters = _Counters(**state["counters"])
    rng.bit_generator.state = state["rng"]["numpy"]
    torch.set_rng_state(state["rng"]["torch"])
    refilled = ""
    if state.get("replay") is not None:
        memory.load_state_dict(state["replay"])
    else:
        counters.learn_from, counters.owed = counters.step + settings.learning_starts, 0
        refilled = f"; the replay memory was not saved, so it refills for {settings.learning_starts:,} steps"
    for file in ("curve.jsonl", "evaluations.jsonl"):  # rows written after the checkpoint are replayed again
        keep_rows(run_dir / file, "step", counters.step)
    if not quiet:
        console.print(f"Resuming {run_dir} from {checkpoint.name} (frame {counters.step * settings.frame_skip:,})"
                      f"{refilled}.")
    return counters, state


# --- loading a trained agent ------------------------------------------------------------------------------------


def load_agent(run_dir: str | Path, device: str = "cpu") -> tuple[DQNAgent, DQNSettings, dict[str, Any]]:
    """The trained agent of a run folder (weights from `model.safetensors`, never a pickle), its settings and its
    `agent.json` record."""
    from striate.models import create

    run_dir = Path(run_dir)
    record = read_record(run_dir, "agent.json", AGENT_FORMAT, "striate rl train", "DQN")
    settings = _read_settings(run_dir).resolved()
    architecture = record["architecture"]
    network = create(architecture["name"], **{k: tuple(v) if isinstance(v, list) else v
                                              for k, v in architecture["kwargs"].items()})
    load_weights(run_dir, network, architecture["name"], "striate rl train")
    agent = DQNAgent(network, int(architecture["kwargs"]["num_actions"]), scale=float(record["scale"]),
                     gamma=settings.gamma, double=settings.double, lr=settings.lr, device=device)
    agent.online.eval()
    return agent, settings, record


def evaluation_summary(scores: list[float]) -> dict[str, float]:
    """Mean, standard deviation, a 95% interval of the mean (normal approximation), min and max."""
    values = np.asarray(scores, np.float64)
    half = 1.96 * values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return {"mean": float(values.mean()), "std": float(values.std()), "ci95": float(half),
            "min": float(values.min()), "max": float(values.max()), "episodes": len(values)}
