"""DQN end to end on Catch (learns in seconds): learning beats a random policy, the run folder holds what it promises,
an interrupted run resumes, and `striate rl` trains, plays, records, evaluates and reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from striate.cli import app
from striate.rl.envs import make_env
from striate.rl.training import DQNSettings, load_agent, play_episodes, train_dqn
from striate.train.checkpoint import latest_checkpoint, load_checkpoint

CATCH = {"env": "striate/Catch-v0", "network": "minatar_dqn", "history": 1, "learning_starts": 200,
         "train_every": 1, "target_update": 100, "epsilon_frames": 1_500, "buffer": 5_000, "lr": 1e-3,
         "eval_episodes": 20, "threads": 1}
"""Catch settings that learn it within 3,000 steps (a 9-step game: about 330 games)."""

CATCH_ARGS = ["--env", "striate/Catch-v0", "--network", "minatar_dqn", "--learning-starts", "200",
              "--train-every", "1", "--target-update", "100", "--epsilon-frames", "1500", "--buffer", "5000",
              "--lr", "1e-3", "--threads", "1", "--quiet"]


def random_return(games: int = 300) -> float:
    env, rng, total = make_env("striate/Catch-v0", train=False, history=1), np.random.default_rng(0), 0.0
    for number in range(games):
        env.reset(seed=number)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(3)))
            total, done = total + reward, terminated or truncated
    return total / games


@pytest.fixture(scope="module")
def catch_run(tmp_path_factory) -> Path:
    settings = DQNSettings(frames=3_000, eval_every=1_000, checkpoint_every=1_000, **CATCH)
    return train_dqn(settings, out=tmp_path_factory.mktemp("rl"), quiet=True)


def test_dqn_learns_catch_far_better_than_random(catch_run):
    chance = random_return()
    assert -0.75 < chance < -0.3  # a random paddle is under the ball about a quarter of the time
    agent, settings, _ = load_agent(catch_run)
    scores = [e.score for e in play_episodes(agent, settings, 50, epsilon=0.0, seed=4242)]
    assert np.mean(scores) >= 0.8, scores  # at least 45 of 50 balls caught


def test_run_folder_holds_curve_evaluations_game_and_report(catch_run):
    for name in ("config.yaml", "agent.json", "model.safetensors", "curve.jsonl", "evaluations.jsonl", "curve.png",
                 "episode.gif", "results.json", "report.html"):
        assert (catch_run / name).is_file(), name
    assert not (catch_run / ".incomplete").exists()
    curve = [json.loads(line) for line in (catch_run / "curve.jsonl").read_text().splitlines()]
    assert [row["step"] for row in curve] == [1_000, 2_000, 3_000]
    assert curve[-1]["episodes"] == pytest.approx(3_000 / 9, abs=2)  # every Catch game is 9 steps
    assert curve[0]["epsilon"] == pytest.approx(1 - 0.99 * 999 / 1_500, abs=1e-5)  # the rate step 999 acted with
    assert curve[-1]["updates"] == 3_000 - 200 + 1  # one update per step from step 200 on
    evaluations = [json.loads(line) for line in (catch_run / "evaluations.jsonl").read_text().splitlines()]
    assert [row["frames"] for row in evaluations] == [1_000, 2_000, 3_000]
    assert all(len(row["returns"]) == 20 and set(row["returns"]) <= {-1.0, 1.0} for row in evaluations)
    results = json.loads((catch_run / "results.json").read_text())
    assert results["frames"] == 3_000 and results["final_return"] == evaluations[-1]["mean"]
    assert results["best_return"] == max(row["mean"] for row in evaluations)
    assert results["replay_bytes_per_transition"] == 10 * 5 + 16  # one (10, 5) frame + action, reward and flags
    with Image.open(catch_run / "episode.gif") as gif:
        assert gif.n_frames == 10 and gif.size == (5 * 16, 10 * 16)  # 9 steps: the first screen and 9 more
    page = (catch_run / "report.html").read_text()
    for text in ("Learning curve", "Evaluations", "Recorded game", "data:image/gif;base64,", "minatar_dqn",
                 "Q along the game"):
        assert text in page, text
    state, manifest = load_checkpoint(latest_checkpoint(catch_run))
    assert manifest["step"] == 3_000 and state["replay"] is None  # the memory is saved only when asked


def test_resume_continues_the_curve_and_refills_the_memory(tmp_path):
    settings = DQNSettings(frames=1_200, eval_every=600, checkpoint_every=600, **CATCH)
    run = train_dqn(settings, out=tmp_path, quiet=True, record=False)
    train_dqn(resume=run, frames=2_400, quiet=True, record=False)
    curve = [json.loads(line) for line in (run / "curve.jsonl").read_text().splitlines()]
    assert [row["step"] for row in curve] == [1_000, 2_000]
    # 1,200 steps learned from step 200 (1,001 updates), then the memory refilled for 200 steps: learning again
    # from step 1,400, 601 updates by the row of step 2,000 and 1,001 by the end
    assert curve[-1]["updates"] == (1_200 - 200 + 1) + (2_000 - 1_400 + 1)
    state, _ = load_checkpoint(latest_checkpoint(run))
    assert state["counters"]["updates"] == (1_200 - 200 + 1) + (2_400 - 1_400 + 1)
    evaluations = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    assert [row["frames"] for row in evaluations] == [600, 1_200, 1_800, 2_400]
    assert json.loads((run / "results.json").read_text())["frames"] == 2_400


def test_resume_with_a_saved_memory_learns_at_once(tmp_path):
    settings = DQNSettings(frames=600, eval_every=600, checkpoint_every=600, save_replay=True, **CATCH)
    run = train_dqn(settings, out=tmp_path, quiet=True, record=False)
    state, _ = load_checkpoint(latest_checkpoint(run))
    assert int(state["replay"]["count"]) > 500  # the memory's transitions travel with the checkpoint
    train_dqn(resume=run, frames=1_000, quiet=True, record=False)
    state, _ = load_checkpoint(latest_checkpoint(run))
    assert state["counters"]["updates"] == 1_000 - 200 + 1  # no refill: every step after 600 learned


def test_ctrl_c_writes_a_checkpoint_and_resume_finishes(tmp_path):
    """A real process interrupted by SIGINT: one line naming the resume command, exit code 130, then --resume."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    command = [sys.executable, "-m", "striate", "rl", "train", *CATCH_ARGS, "--frames", "200k",
               "--checkpoint-every", "500", "--eval-every", "100k", "--out", str(tmp_path), "--name", "catch"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "catch"
    deadline = time.monotonic() + 120
    while latest_checkpoint(run) is None and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Interrupted by SIGINT at frame" in lines[0], lines
    assert f"resume with `striate rl train --resume {run}`" in lines[0]
    assert (run / ".incomplete").exists() and not (run / "model.safetensors").exists()
    stopped = load_checkpoint(latest_checkpoint(run))[1]["step"]
    target = stopped + 300
    result = subprocess.run([sys.executable, "-m", "striate", "rl", "train", "--resume", str(run), "--frames",
                             str(target), "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(run)
    assert json.loads((run / "results.json").read_text())["frames"] == target
    assert not (run / ".incomplete").exists()


def test_cli_play_records_and_evaluate_and_report(catch_run, tmp_path):
    runner = CliRunner()
    gif = tmp_path / "game.gif"
    result = runner.invoke(app, ["rl", "play", str(catch_run), "--episodes", "3", "--record", str(gif)])
    assert result.exit_code == 0, result.output
    assert result.output.count("game ") == 3 and "in 9 steps" in result.output
    with Image.open(gif) as image:
        assert image.n_frames == 10
    result = runner.invoke(app, ["rl", "evaluate", str(catch_run), "--episodes", "20"])
    assert result.exit_code == 0, result.output
    assert "over 20 games with ε = 0" in result.output
    mean = float(result.output.split("return ")[1].split(" ")[0])
    assert mean >= 0.8
    (catch_run / "report.html").unlink()
    result = runner.invoke(app, ["rl", "report", str(catch_run)])
    assert result.exit_code == 0 and (catch_run / "report.html").is_file()


def test_cli_train_writes_a_run(tmp_path):
    result = CliRunner().invoke(app, ["rl", "train", *CATCH_ARGS, "--frames", "400", "--eval-every", "400",
                                      "--eval-episodes", "2", "--out", str(tmp_path), "--name", "tiny"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(tmp_path / "tiny")
    settings = DQNSettings.from_dict(__import__("yaml").safe_load((tmp_path / "tiny" / "config.yaml").read_text()))
    assert (settings.frames, settings.network, settings.lr, settings.threads) == (400, "minatar_dqn", 1e-3, 1)


def test_every_variant_together_learns_catch_with_several_environments(tmp_path):
    """Double DQN, a dueling head, prioritised replay and 3-step returns, acting in 3 environments at once."""
    settings = DQNSettings(frames=3_000, eval_every=3_000, checkpoint_every=3_000, double=True, dueling=True,
                           prioritized=True, n_step=3, envs=3, **CATCH)
    run = train_dqn(settings, out=tmp_path, quiet=True, record=False)
    results = json.loads((run / "results.json").read_text())
    assert results["frames"] == 3_000 and results["episodes"] == pytest.approx(3_000 / 9, abs=3)
    assert results["replay_bytes_per_transition"] == pytest.approx(10 * 5 + 16 + 8 * 2 * 8192 / 4_998, rel=1e-6)
    record = json.loads((run / "agent.json").read_text())
    assert record["architecture"]["kwargs"]["dueling"] is True
    agent, settings, _ = load_agent(run)
    scores = [e.score for e in play_episodes(agent, settings, 50, epsilon=0.0, seed=99)]
    assert np.mean(scores) >= 0.8, scores
