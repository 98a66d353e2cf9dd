"""Atari preprocessing against the raw emulator: frame skip with the maximum over the last two frames, grey scale and
area resizing, stacks that repeat the first frame after a reset, sign-clipped rewards, and episodes that end at a lost
life only while training."""

from __future__ import annotations

import numpy as np
import pytest

from striate.errors import ConfigError

gymnasium = pytest.importorskip("gymnasium")
pytest.importorskip("ale_py")
cv2 = pytest.importorskip("cv2")

from striate.rl.envs import clip_rewards, make_atari  # noqa: E402


def raw_pong():
    import ale_py

    gymnasium.register_envs(ale_py)
    return gymnasium.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.0)


def expected_frame(ale, previous: np.ndarray) -> np.ndarray:
    """max(grey frame t-1, grey frame t) resized to 84x84 by area interpolation, as the paper's preprocessing."""
    return cv2.resize(np.maximum(previous, ale.getScreenGrayscale()), (84, 84), interpolation=cv2.INTER_AREA)


def test_observations_are_the_max_of_the_last_two_of_four_frames_grey_and_resized():
    env, raw = make_atari("ALE/Pong-v5", noop_max=0), raw_pong()
    obs, _ = env.reset(seed=3)
    raw.reset(seed=3)
    ale = raw.unwrapped.ale
    first = cv2.resize(ale.getScreenGrayscale(), (84, 84), interpolation=cv2.INTER_AREA)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert all(np.array_equal(obs[i], first) for i in range(4))  # the stack after a reset repeats the first frame
    rng = np.random.default_rng(0)
    stacked = [first] * 4
    for _ in range(12):
        action = int(rng.integers(env.action_space.n))
        obs, *_ = env.step(action)
        for repeat in range(4):
            if repeat == 3:
                previous = ale.getScreenGrayscale()
            raw.step(action)
        stacked = [*stacked[1:], expected_frame(ale, previous)]
        assert all(np.array_equal(obs[i], stacked[i]) for i in range(4))
    assert len({frame.tobytes() for frame in stacked}) > 1  # the game moved, so the comparison meant something


def test_rewards_are_clipped_to_their_sign():
    class Rewards(gymnasium.Env):
        observation_space = gymnasium.spaces.Discrete(1)
        action_space = gymnasium.spaces.Discrete(1)
        values = (3.5, -2.0, 0.0, 0.1, -0.25)

        def reset(self, *, seed=None, options=None):
            self.step_number = 0
            return 0, {}

        def step(self, action):
            reward = self.values[self.step_number]
            self.step_number += 1
            return 0, reward, self.step_number == len(self.values), False, {}

    env = clip_rewards(Rewards())
    env.reset()
    assert [env.step(0)[1] for _ in Rewards.values] == [1.0, -1.0, 0.0, 1.0, -1.0]


def test_a_lost_life_ends_a_training_episode_but_not_an_evaluation_game():
    # Breakout needs FIRE to serve; serve, then do nothing until the ball is lost
    def serve_and_wait(train: bool):
        env = make_atari("ALE/Breakout-v5", train=train, noop_max=0)
        env.reset(seed=0)
        ale = env.unwrapped.ale
        start = ale.lives()
        env.step(1)  # FIRE
        for _ in range(3000):
            _, _, terminated, truncated, _ = env.step(0)
            if ale.lives() < start or terminated or truncated:
                return start, ale.lives(), terminated
        raise AssertionError("no life was lost in 3,000 steps")

    start, lives, terminated = serve_and_wait(train=True)
    assert lives == start - 1 and terminated  # training: the lost life ends the episode
    start, lives, terminated = serve_and_wait(train=False)
    assert lives == start - 1 and not terminated  # evaluation: the game goes on


def test_bad_environments_and_options_are_one_line_errors():
    with pytest.raises(ConfigError, match=r"Unknown environment 'ALE/Pongg-v5': expected an Atari id .*Did you mean "
                                          r"`ALE/Pong-v5`"):
        make_atari("ALE/Pongg-v5")
    with pytest.raises(ConfigError, match=r"Invalid `frame_skip`: expected an integer of at least 1, received 0"):
        make_atari("ALE/Pong-v5", frame_skip=0)
    with pytest.raises(ConfigError, match=r"Invalid `sticky`: expected a probability in \[0, 1\), received 1.5"):
        make_atari("ALE/Pong-v5", sticky=1.5)
