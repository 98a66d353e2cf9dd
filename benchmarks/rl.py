"""DQN: frames/s against Stable-Baselines3 and a CleanRL-style script, and returns after a fixed frame budget.

    python benchmarks/rl.py speed [--minatar-steps 20000] [--atari-steps 6000] [--repeats 3]
    python benchmarks/rl.py returns [--games Breakout SpaceInvaders] [--frames 500k] [--pong-frames 1M]

`speed`: each contender trains on the same environment object striate makes (so preprocessing is identical) with
the same settings (replay 100k steps, batch 32, learning from step 1,000, an update every step on MinAtar and every
4 on Atari, target update every 1,000 steps, Adam) for a fixed number of agent steps; frames/s counts acting plus
learning, timed over the training loop alone (not imports, set-up or the final evaluation). Each contender runs in
a fresh process, `--repeats` times, in turn; the table gives medians.

- striate: `train_dqn` (evaluation and checkpoints pushed past the end).
- Stable-Baselines3's `DQN` (its `CnnPolicy` with NatureCNN on Atari; the same MinAtar network as a features
  extractor on MinAtar, whose 0/1 maps are not images to SB3).
- a CleanRL-style single-file loop (what `dqn_atari.py` does: a buffer of whole observation stacks, `nn.Sequential`,
  plain Adam), written here as a user would.

`returns`: striate's defaults on MinAtar games (Young & Tian's settings, Adam) for `--frames`, then 30 full games
with the final network, beside a uniformly random policy; Pong for `--pong-frames` with CleanRL's settings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, median, run_worker, save

SETTINGS = {
    "minatar": {"env": "MinAtar/Breakout", "train_every": 1, "network": "minatar_dqn"},
    "atari": {"env": "ALE/Pong-v5", "train_every": 4, "network": "dqn"},
}
COMMON = {"buffer": 100_000, "batch_size": 32, "learning_starts": 1_000, "target_update": 1_000, "lr": 1e-4,
          "gamma": 0.99}


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# --- workers: one contender, one process ------------------------------------------------------------------------


def worker(contender: str, family: str, steps: int, threads: int) -> dict:
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    config = {**COMMON, **SETTINGS[family]}
    if contender == "striate":
        seconds, extra = _striate(config, family, steps)
    elif contender == "sb3":
        seconds, extra = _sb3(config, family, steps)
    else:
        seconds, extra = _cleanrl(config, family, steps)
    frames = steps * (4 if family == "atari" else 1)
    return {"contender": contender, "family": family, "steps": steps, "seconds": seconds,
            "frames_per_second": frames / seconds, **extra}


def _striate(config: dict, family: str, steps: int) -> tuple[float, dict]:
    import tempfile

    from striate.rl.training import DQNSettings, train_dqn

    frames = steps * (4 if family == "atari" else 1)
    settings = DQNSettings(env=config["env"], frames=frames, network=config["network"], buffer=config["buffer"],
                           threads=torch_threads(),
                           batch_size=config["batch_size"], learning_starts=config["learning_starts"],
                           train_every=config["train_every"], target_update=config["target_update"], lr=config["lr"],
                           eval_every=10 * frames, checkpoint_every=10 * frames, eval_episodes=1)
    with tempfile.TemporaryDirectory() as folder:
        run = train_dqn(settings, out=folder, quiet=True, record=False)
        results = json.loads((run / "results.json").read_text())
    return results["seconds"], {"bytes_per_transition": results["replay_bytes_per_transition"]}


def _sb3(config: dict, family: str, steps: int) -> tuple[float, dict]:
    import torch.nn as nn
    from stable_baselines3 import DQN
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    from striate.rl.envs import make_env

    env = make_env(config["env"], train=True)

    class MinAtarFeatures(BaseFeaturesExtractor):
        def __init__(self, space):
            super().__init__(space, features_dim=16 * 8 * 8)
            self.net = nn.Sequential(nn.Conv2d(space.shape[0], 16, 3), nn.ReLU(), nn.Flatten())

        def forward(self, x):
            return self.net(x)

    policy_kwargs = {"normalize_images": False, "features_extractor_class": MinAtarFeatures, "net_arch": [128]} \
        if family == "minatar" else {}
    model = DQN("CnnPolicy", env, buffer_size=config["buffer"], batch_size=config["batch_size"],
                learning_starts=config["learning_starts"], train_freq=config["train_every"], gradient_steps=1,
                target_update_interval=config["target_update"], learning_rate=config["lr"], gamma=config["gamma"],
                exploration_fraction=0.1, exploration_final_eps=0.01, policy_kwargs=policy_kwargs, verbose=0, seed=0)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - start
    buffer = model.replay_buffer
    stored = sum(getattr(buffer, key).nbytes for key in ("observations", "next_observations", "actions", "rewards",
                                                          "dones", "timeouts"))
    return seconds, {"bytes_per_transition": stored / buffer.buffer_size}


def _cleanrl(config: dict, family: str, steps: int) -> tuple[float, dict]:
    """The loop of CleanRL's dqn_atari.py, with a plain numpy buffer of whole observations."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from striate.rl.envs import make_env

    env = make_env(config["env"], train=True)
    shape, actions = env.observation_space.shape, env.action_space.n
    if family == "minatar":
        def network():
            return nn.Sequential(nn.Conv2d(shape[0], 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 8, 128),
                                 nn.ReLU(), nn.Linear(128, actions))
        scale = 1.0
    else:
        def network():
            return nn.Sequential(nn.Conv2d(shape[0], 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                                 nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
                                 nn.Linear(512, actions))
        scale = 1 / 255
    q, target = network(), network()
    target.load_state_dict(q.state_dict())
    optimizer = torch.optim.Adam(q.parameters(), lr=config["lr"])
    size = config["buffer"]
    observations = np.zeros((size, *shape), np.uint8)
    next_observations = np.zeros((size, *shape), np.uint8)
    taken, rewards, dones = np.zeros(size, np.int64), np.zeros(size, np.float32), np.zeros(size, np.float32)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    position = full = 0
    start = time.perf_counter()
    for step in range(steps):
        epsilon = max(0.01, 1 - step / (0.1 * steps))
        if rng.random() < epsilon:
            action = int(rng.integers(actions))
        else:
            with torch.no_grad():
                action = int(q(torch.as_tensor(obs[None]).float() * scale).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        observations[position], next_observations[position] = obs, next_obs
        taken[position], rewards[position], dones[position] = action, reward, float(terminated)
        position, full = (position + 1) % size, min(full + 1, size)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
        if step >= config["learning_starts"] and step % config["train_every"] == 0:
            index = rng.integers(0, full, config["batch_size"])
            x = torch.as_tensor(observations[index]).float() * scale
            x_next = torch.as_tensor(next_observations[index]).float() * scale
            with torch.no_grad():
                best = target(x_next).max(dim=1).values
                y = torch.as_tensor(rewards[index]) + config["gamma"] * best * (1 - torch.as_tensor(dones[index]))
            chosen = q(x).gather(1, torch.as_tensor(taken[index])[:, None]).squeeze(1)
            loss = F.smooth_l1_loss(chosen, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if step % config["target_update"] == 0:
            target.load_state_dict(q.state_dict())
    seconds = time.perf_counter() - start
    arrays = (observations, next_observations, taken, rewards, dones)
    return seconds, {"bytes_per_transition": sum(a.nbytes for a in arrays) / size}


# --- parts ------------------------------------------------------------------------------------------------------


def speed(args) -> dict:
    rows, raw = [], []
    for family, steps in (("minatar", args.minatar_steps), ("atari", args.atari_steps)):
        results: dict[str, list[dict]] = {"cleanrl": [], "sb3": [], "striate": []}
        for repeat in range(args.repeats):
            for contender in results:
                result = run_worker(["worker", contender, family, str(steps), str(args.threads)], script="rl.py",
                                    timeout=7200)
                results[contender].append(result)
                raw.append(result)
                print(f"{family} {contender} #{repeat + 1}: {result['frames_per_second']:.0f} frames/s", flush=True)
        base = median(r["frames_per_second"] for r in results["sb3"])
        for contender, runs in results.items():
            fps = median(r["frames_per_second"] for r in runs)
            rows.append([SETTINGS[family]["env"], contender, f"{fps:,.0f}", f"{fps / base:.2f}x",
                         f"{runs[0]['bytes_per_transition']:,.0f}"])
    table = markdown_table(["environment", "contender", "frames/s (median)", "vs SB3", "replay bytes/transition"],
                           rows)
    print(table)
    return {"table": table, "runs": raw}


def returns(args) -> dict:
    import tempfile

    from striate.rl.envs import make_env
    from striate.rl.training import DQNSettings, evaluation_summary, load_agent, play_episodes

    rows, raw = [], []
    jobs = [(f"MinAtar/{game}", args.frames) for game in args.games]
    if args.pong_frames:
        jobs.append(("ALE/Pong-v5", args.pong_frames))
    out = Path(args.out or tempfile.mkdtemp(prefix="rl-returns-"))
    for env_id, frames in jobs:
        from striate.rl.training import train_dqn

        start = time.perf_counter()
        run = train_dqn(DQNSettings(env=env_id, frames=frames, seed=args.seed, threads=args.threads), out=out,
                        quiet=False)
        seconds = time.perf_counter() - start
        agent, settings, _ = load_agent(run)
        final = evaluation_summary([e.score for e in play_episodes(agent, settings, 30, epsilon=settings.eval_epsilon,
                                                                   seed=777)])
        env = make_env(env_id, train=False)
        rng, scores = np.random.default_rng(0), []
        for number in range(30):
            env.reset(seed=10_000 + number)
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
                total, done = total + reward, terminated or truncated
            scores.append(total)
        random = evaluation_summary(scores)
        results = json.loads((run / "results.json").read_text())
        raw.append({"env": env_id, "frames": frames, "run": str(run), "final": final, "random": random,
                    "seconds": seconds, "best_evaluation": results["best_return"]})
        rows.append([env_id, f"{frames:,}", f"{final['mean']:.2f} ± {final['ci95']:.2f}",
                     f"{results['best_return']:.2f}", f"{random['mean']:.2f}", f"{seconds / 60:.0f} min",
                     f"{results['frames_per_second']:,.0f}"])
        print(markdown_table(["game", "frames", "return (30 games, ± 95%)", "best evaluation", "random policy",
                              "time", "frames/s"], rows), flush=True)
    return {"table": rows, "runs": raw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    w = sub.add_parser("worker")
    w.add_argument("contender")
    w.add_argument("family")
    w.add_argument("steps", type=int)
    w.add_argument("threads", type=int)
    s = sub.add_parser("speed")
    s.add_argument("--minatar-steps", type=int, default=20_000)
    s.add_argument("--atari-steps", type=int, default=6_000)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--threads", type=int, default=1, help="PyTorch threads, the same for every contender")
    r = sub.add_parser("returns")
    r.add_argument("--games", nargs="+", default=["Breakout", "SpaceInvaders"])
    r.add_argument("--frames", type=lambda t: int(float(t.lower().replace("k", "e3").replace("m", "e6"))),
                   default=500_000)
    r.add_argument("--pong-frames", type=lambda t: int(float(t.lower().replace("k", "e3").replace("m", "e6"))),
                   default=0)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=1, help="PyTorch threads (1: steady beside other work)")
    r.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.part == "worker":
        print(json.dumps(worker(args.contender, args.family, args.steps, args.threads)))
        return
    payload = speed(args) if args.part == "speed" else returns(args)
    payload["machine"] = machine()
    print(f"saved {save(f'rl-{args.part}', payload)}")


if __name__ == "__main__":
    main()
