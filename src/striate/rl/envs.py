"""Environments for DQN: Atari with the preprocessing of Mnih et al. 2015 from gymnasium's own wrappers, MinAtar, and
any gymnasium environment with image observations (`make_env` picks by id).

`make_atari("ALE/Pong-v5")` is gymnasium + ale-py (which ships the game ROMs, so nothing is downloaded) wrapped by
`AtariPreprocessing` (up to 30 no-op starts, frame skip 4 with the maximum over the last two frames, grey scale,
84x84 by area interpolation, and, for training, a life lost ends the episode), sign-clipped rewards for training, and
`FrameStackObservation` of 4 frames whose padding after a reset repeats the first frame, as `ReplayMemory` does.
Sticky actions (ALE v5's default) are off, as in the paper; `sticky=0.25` turns them on.

Observations are uint8 `(stack, 84, 84)`; the network scales them by 1/255.

`make_env("MinAtar/Breakout")` is MinAtar (`striate.rl.minatar`): `(C, 10, 10)` object maps, one frame per state as
in Young & Tian 2019. Any other id is `gymnasium.make(id)`, which must observe images `(H, W)`, `(H, W, C)` or
`(C, H, W)` uint8; they are made channels-first. With `history > 1` frames are stacked, `(history * C, H, W)`,
oldest first, the first frame repeated after a reset. Every environment records its episode's unclipped return
(`RecordEpisodeStatistics`, `info["episode"]["r"]`), which is what progress and curves show; with the paper's
training settings an Atari training episode ends at a lost life, so its return is one life's score.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    from striate.rl.catch import register

    register()
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
    env = _record(env)
    if train and clip:
        env = clip_rewards(env)
    return FrameStackObservation(env, stack, padding_type="reset")


MINATAR_PREFIX = "MinAtar/"
MAX_STEPS = 27_000
"""A cap on agent steps per episode where the game has none (MinAtar, other gymnasium games without a time limit):
27,000 agent steps is the 30 minutes of play (108,000 frames at frame skip 4) ALE v5 gives an Atari game."""


@dataclass(frozen=True)
class EnvInfo:
    """What the agent needs to know about an environment.

    frame_shape: one stored frame, `(H, W)` or `(C, H, W)`. history: frames per state. observation_shape: what the
    network sees, `(history * C, H, W)`. family: "atari", "minatar" or "gymnasium". scale: the factor that maps an
    observation to [0, 1] (1/255 for screens, 1 for MinAtar's 0/1 maps).
    """

    env_id: str
    family: str
    frame_shape: tuple[int, ...]
    history: int
    num_actions: int
    action_names: tuple[str, ...]
    scale: float

    @property
    def channels(self) -> int:
        return self.frame_shape[0] if len(self.frame_shape) == 3 else 1

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (self.history * self.channels, *self.frame_shape[-2:])

    def newest_frame(self, observation: np.ndarray) -> np.ndarray:
        """The newest frame of a stacked observation `(history * C, H, W)` -> `frame_shape`."""
        return observation[-1] if len(self.frame_shape) == 2 else observation[-self.channels:]


def _record(env):
    from gymnasium.wrappers import RecordEpisodeStatistics

    return RecordEpisodeStatistics(env)


def family_of(env_id: str) -> str:
    return "atari" if env_id.startswith("ALE/") else "minatar" if env_id.startswith(MINATAR_PREFIX) else "gymnasium"


def make_env(env_id: str, *, train: bool = True, history: int | None = None, render_mode: str | None = None,
             sticky: float | None = None, max_steps: int = MAX_STEPS):
    """The environment `env_id` as DQN sees it: stacked uint8 `(history * C, H, W)` observations, see the module.

    Args:
        env_id: "ALE/Pong-v5" (any ALE id), "MinAtar/Breakout" (Asterix, Breakout, Freeway, Seaquest,
            SpaceInvaders) or any registered gymnasium id with image observations.
        train: training settings (Atari: a lost life ends the episode, rewards clipped) or evaluation (full games).
        history: frames per state; default 4 for Atari and other games, 1 for MinAtar.
        render_mode: "rgb_array" to record episodes.
        sticky: the probability that the previous action repeats (default: 0 for Atari, as in the paper; 0.1 for
            MinAtar, as in its paper).
        max_steps: the episode cap where the game has none.
    """
    gymnasium = require_gymnasium()
    family = family_of(env_id)
    if history is not None and (not isinstance(history, int) or isinstance(history, bool) or history < 1):
        raise ConfigError(f"Invalid `history`: expected an integer of at least 1, received {history!r}.")
    if family == "atari":
        return make_atari(env_id, train=train, stack=history or 4, sticky=0.0 if sticky is None else sticky,
                          render_mode=render_mode)
    if family == "minatar":
        from gymnasium.wrappers import TimeLimit

        from striate.rl.minatar import GAMES, MinAtarEnv

        game = env_id[len(MINATAR_PREFIX):].split("-v")[0]
        if game not in GAMES:
            raise ConfigError(f"Unknown MinAtar game {game!r}: expected one of {', '.join(GAMES)} (as "
                              f"MinAtar/Breakout).{did_you_mean(game, list(GAMES))}")
        env = MinAtarEnv(game, sticky=0.1 if sticky is None else sticky, render_mode=render_mode)
        return _stacked(_record(TimeLimit(env, max_steps)), history or 1)
    if env_id not in gymnasium.registry:
        raise ConfigError(f"Unknown environment {env_id!r}: expected an Atari id (ALE/Pong-v5), a MinAtar game "
                          f"(MinAtar/Breakout) or a registered gymnasium id."
                          f"{did_you_mean(env_id, list(gymnasium.registry))}")
    env = gymnasium.make(env_id, render_mode=render_mode)
    space = env.observation_space
    if not (isinstance(space, gymnasium.spaces.Box) and space.dtype == np.uint8 and len(space.shape) in (2, 3)):
        found = f"{type(space).__name__} {getattr(space, 'dtype', '')} of shape {getattr(space, 'shape', None)}"
        env.close()
        raise ConfigError(f"Environment {env_id!r} does not observe images: expected uint8 observations of shape "
                          f"(H, W), (H, W, C) or (C, H, W), found {found}; wrap it to return screens.")
    if env.spec is None or env.spec.max_episode_steps is None:
        from gymnasium.wrappers import TimeLimit

        env = TimeLimit(env, max_steps)
    return _stacked(_record(_channels_first(env)), history or 4)


def _channels_first(env):
    """`(H, W)` -> `(1, H, W)`; `(H, W, C)` with `C` <= 4 < `H` -> `(C, H, W)`; `(C, H, W)` unchanged."""
    from gymnasium import spaces
    from gymnasium.wrappers import TransformObservation

    shape = env.observation_space.shape
    if len(shape) == 2:
        move = lambda o: o[None]  # noqa: E731
        new = (1, *shape)
    elif shape[-1] <= 4 < shape[0]:
        move = lambda o: np.ascontiguousarray(o.transpose(2, 0, 1))  # noqa: E731
        new = (shape[2], shape[0], shape[1])
    else:
        return env
    return TransformObservation(env, move, spaces.Box(0, 255, new, np.uint8))


def _stacked(env, history: int):
    """`(C, H, W)` observations -> `(history * C, H, W)`, oldest first, a reset's frame repeated before it."""
    if history == 1:
        return env
    from gymnasium import spaces
    from gymnasium.wrappers import FrameStackObservation, TransformObservation

    channels, height, width = env.observation_space.shape
    env = FrameStackObservation(env, history, padding_type="reset")  # (history, C, H, W)
    high = int(env.observation_space.high.max())
    return TransformObservation(env, lambda o: o.reshape(history * channels, height, width),
                                spaces.Box(0, high, (history * channels, height, width), np.uint8))


def default_history(env_id: str) -> int:
    """Frames per state unless told: 1 for MinAtar (its paper's agents see one frame), 4 elsewhere."""
    return 1 if family_of(env_id) == "minatar" else 4


def env_info(env, env_id: str, history: int | None = None) -> EnvInfo:
    """Describe an environment made by `make_env(env_id, history=history)`."""
    history = history or default_history(env_id)
    stacked, height, width = env.observation_space.shape
    channels = stacked // history
    frame_shape = (height, width) if channels == 1 else (channels, height, width)
    family = family_of(env_id)
    return EnvInfo(env_id, family, frame_shape, history, int(env.action_space.n), _action_names(env),
                   1.0 if family == "minatar" else 1 / 255)


def _action_names(env) -> tuple[str, ...]:
    base = env.unwrapped
    if hasattr(base, "get_action_meanings"):  # ALE
        return tuple(base.get_action_meanings())
    if hasattr(base, "action_set"):  # MinAtar: its action letters
        letters = ["n", "l", "u", "r", "d", "f"]
        names = {"n": "NOOP", "l": "LEFT", "u": "UP", "r": "RIGHT", "d": "DOWN", "f": "FIRE"}
        return tuple(names[letters[a]] for a in base.action_set)
    return tuple(str(a) for a in range(env.action_space.n))
