"""Atari environments with the preprocessing of Mnih et al. 2015, from gymnasium's own wrappers.

`make_atari("ALE/Pong-v5")` is gymnasium + ale-py (which ships the game ROMs, so nothing is downloaded) wrapped by
`AtariPreprocessing` (up to 30 no-op starts, frame skip 4 with the maximum over the last two frames, grey scale,
84x84 by area interpolation, and, for training, a life lost ends the episode), sign-clipped rewards for training, and
`FrameStackObservation` of 4 frames whose padding after a reset repeats the first frame, as `ReplayMemory` does.
Sticky actions (ALE v5's default) are off, as in the paper; `sticky=0.25` turns them on.

Observations are uint8 `(stack, 84, 84)`; the network scales them by 1/255.
"""

from __future__ import annotations

import numpy as np

from striate.errors import ConfigError, did_you_mean

INSTALL = "pip install 'striate[rl]'"


def require_gymnasium():
    """gymnasium with the ALE registered; a one-line error naming the extra when packages are missing."""
    try:
        import ale_py
        import cv2  # noqa: F401  (AtariPreprocessing resizes with it)
        import gymnasium
    except ImportError as error:
        raise ConfigError(f"Atari environments need the packages gymnasium, ale-py and opencv-python-headless, found "
                          f"no {error.name}: {INSTALL}.") from None
    gymnasium.register_envs(ale_py)
    return gymnasium


def clip_rewards(env):
    """`env` with rewards replaced by their sign (-1, 0, +1), as the paper trains on every game."""
    from gymnasium.wrappers import TransformReward

    return TransformReward(env, lambda reward: float(np.sign(reward)))


def make_atari(env_id: str, *, train: bool = True, noop_max: int = 30, frame_skip: int = 4, screen_size: int = 84,
               stack: int = 4, clip: bool = True, sticky: float = 0.0, render_mode: str | None = None):
    """An Atari game as DQN sees it (see the module docstring).

    Args:
        env_id: a gymnasium id such as "ALE/Pong-v5" or "ALE/Breakout-v5".
        train: training episodes end at a lost life and rewards are clipped; evaluation plays full games with
            the game's own rewards.
        noop_max, frame_skip, screen_size: `AtariPreprocessing`'s.
        stack: frames per observation.
        clip: clip rewards to their sign while training.
        sticky: ALE's repeat-action probability.
        render_mode: "rgb_array" to record episodes.
    """
    gymnasium = require_gymnasium()
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    atari = [name for name in gymnasium.registry if name.startswith("ALE/")]
    if env_id not in gymnasium.registry:
        raise ConfigError(f"Unknown environment {env_id!r}: expected an Atari id such as ALE/Pong-v5 or "
                          f"ALE/Breakout-v5 ({len(atari)} are registered).{did_you_mean(env_id, atari)}")
    for name, value, low in (("frame_skip", frame_skip, 1), ("screen_size", screen_size, 8), ("stack", stack, 1),
                             ("noop_max", noop_max, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"Invalid `{name}`: expected an integer of at least {low}, received {value!r}.")
    if not 0.0 <= sticky < 1.0:
        raise ConfigError(f"Invalid `sticky`: expected a probability in [0, 1), received {sticky!r}.")
    env = gymnasium.make(env_id, frameskip=1, repeat_action_probability=sticky, render_mode=render_mode)
    env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size,
                             terminal_on_life_loss=train, grayscale_obs=True, scale_obs=False)
    if train and clip:
        env = clip_rewards(env)
    return FrameStackObservation(env, stack, padding_type="reset")
