"""Atari preprocessing against the raw emulator: frame skip with the maximum over the last two frames, grey scale and
area resizing, stacks that repeat the first frame after a reset, sign-clipped rewards, and episodes that end at a lost
life only while training; MinAtar's object maps, seeds and pictures against the game's own state; Catch by hand
through the path any gymnasium game with screens takes."""

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


# -- MinAtar, Catch and other gymnasium games ---------------------------------------------------------------------


def test_minatar_observations_are_the_games_object_maps_channels_first():
    from striate.rl.envs import env_info, make_env

    env = make_env("MinAtar/Breakout")
    info = env_info(env, "MinAtar/Breakout")
    assert (info.frame_shape, info.history, info.num_actions, info.scale) == ((4, 10, 10), 1, 6, 1.0)
    game = env.unwrapped.game
    observation, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(40):
        state = game.state()  # (10, 10, 4) booleans
        assert observation.dtype == np.uint8 and observation.shape == (4, 10, 10)
        for c in range(4):
            assert np.array_equal(observation[c], state[:, :, c].astype(np.uint8))
        np.testing.assert_array_equal(info.newest_frame(observation), observation)
        observation, _, terminated, truncated, _ = env.step(int(rng.integers(6)))
        if terminated or truncated:
            observation, _ = env.reset()


def test_minatar_games_are_reproducible_from_their_seed():
    from striate.rl.envs import make_env

    def play(seed: int) -> list[bytes]:
        env, frames = make_env("MinAtar/SpaceInvaders"), []
        observation, _ = env.reset(seed=seed)
        for step in range(60):
            frames.append(observation.tobytes())
            observation, _, terminated, _, _ = env.step(step % 6)
            if terminated:
                break
        return frames

    assert play(5) == play(5)
    assert make_env("MinAtar/Seaquest").observation_space.shape == (10, 10, 10)


def test_minatar_rendering_colours_each_objects_cells():
    from striate.rl.envs import make_env
    from striate.rl.minatar import _PALETTE

    env = make_env("MinAtar/Breakout", render_mode="rgb_array")
    observation, _ = env.reset(seed=0)
    picture = env.render()
    assert picture.shape == (160, 160, 3) and picture.dtype == np.uint8
    for row in range(10):
        for column in range(10):
            present = np.flatnonzero(observation[:, row, column])
            colour = _PALETTE[present[-1] + 1] if len(present) else _PALETTE[0]
            assert np.array_equal(picture[16 * row + 8, 16 * column + 8], colour), (row, column)


def test_catch_by_hand_and_stacked_through_the_gymnasium_path():
    from striate.rl.envs import env_info, make_env

    env = make_env("striate/Catch-v0")  # any gymnasium game: channels first, 4 frames stacked
    info = env_info(env, "striate/Catch-v0")
    assert (info.frame_shape, info.history, info.observation_shape) == ((10, 5), 4, (4, 10, 5))
    observation, _ = env.reset(seed=1)
    assert all(np.array_equal(observation[k], observation[0]) for k in range(4))  # the reset frame repeated
    column = int(np.flatnonzero(observation[-1, 0])[0])
    assert observation[-1, 9, 2] == 255 and observation[-1].sum() == 2 * 255  # paddle in the middle, one ball
    paddle, previous = 2, observation[-1]
    for step in range(1, 10):
        move = int(np.sign(column - paddle)) + 1  # follow the ball: 0 left, 1 stay, 2 right
        paddle += move - 1
        observation, reward, terminated, _, _ = env.step(move)
        assert observation[-1, step, column] == 255 and observation[-1, 9, paddle] == 255
        assert np.array_equal(observation[-2], previous)  # the stack shifts by one frame per step
        previous = observation[-1]
        assert terminated == (step == 9)
    assert reward == 1.0
    observation, _ = env.reset(seed=1)
    for _ in range(9):  # run away from the ball: a miss
        observation, reward, terminated, _, _ = env.step(0 if column > 2 else 2)
    assert terminated and reward == -1.0
