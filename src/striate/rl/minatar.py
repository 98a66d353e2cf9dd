"""MinAtar (Young & Tian 2019) as a gymnasium environment with channels-first uint8 observations.

MinAtar's own gymnasium wrapper (`minatar.gym`) returns `(10, 10, C)` booleans and needs seaborn to draw; the network
and the replay memory want `(C, 10, 10)` uint8, and a recorded game wants RGB frames without seaborn, so this class
wraps `minatar.Environment` directly (a few lines) instead of chaining observation wrappers around theirs.

Defaults follow the paper: sticky actions with probability 0.1, difficulty ramping on, all 6 actions (the paper's
agents use the full set; `minimal_actions=True` gives each game's own subset).
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

GAMES = {"Asterix": "asterix", "Breakout": "breakout", "Freeway": "freeway", "Seaquest": "seaquest",
         "SpaceInvaders": "space_invaders"}
"""Gymnasium-style names (`MinAtar/Breakout`) -> MinAtar's module names."""

_PALETTE = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                     [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 190]], np.uint8)
"""Background, then one colour per object channel (up to 10, Seaquest's count)."""


class MinAtarEnv(gymnasium.Env):
    """One MinAtar game: observations `(C, 10, 10)` uint8 in {0, 1}, one channel per kind of object.

    Args:
        game: "Breakout", "Asterix", "Freeway", "Seaquest" or "SpaceInvaders" (or MinAtar's lower-case names).
        sticky: probability that the previous action repeats (0.1 in the paper).
        ramping: difficulty ramping, as in the paper.
        minimal_actions: the game's own action subset instead of all 6.
        render_mode: "rgb_array" gives `(10 * scale, 10 * scale, 3)` frames for recordings.
        scale: pixels per cell when rendering.
    """

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, game: str = "Breakout", *, sticky: float = 0.1, ramping: bool = True,
                 minimal_actions: bool = False, render_mode: str | None = None, scale: int = 16):
        from minatar import Environment

        self.game_name = GAMES.get(game, game)
        self.game = Environment(self.game_name, sticky_action_prob=sticky, difficulty_ramping=ramping)
        self.action_set = list(self.game.minimal_action_set()) if minimal_actions else list(range(6))
        height, width, channels = self.game.state_shape()
        self.observation_space = spaces.Box(0, 1, (channels, height, width), np.uint8)
        self.action_space = spaces.Discrete(len(self.action_set))
        self.render_mode, self.scale = render_mode, int(scale)

    def _observation(self) -> np.ndarray:
        return np.ascontiguousarray(self.game.state().transpose(2, 0, 1), dtype=np.uint8)  # (H, W, C) -> (C, H, W)

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.game.seed(seed)
        elif not hasattr(self, "_seeded"):  # MinAtar's own RandomState is unseeded: draw its seed from gymnasium's
            self.game.seed(int(self.np_random.integers(2**31)))
        self._seeded = True
        self.game.reset()
        return self._observation(), {}

    def step(self, action):
        reward, terminated = self.game.act(self.action_set[int(action)])
        return self._observation(), float(reward), bool(terminated), False, {}

    def render(self) -> np.ndarray:
        """`(10 * scale, 10 * scale, 3)` uint8: each cell coloured by its highest object channel."""
        state = self.game.state()  # (H, W, C) bool
        index = np.where(state.any(axis=2), state.shape[2] - np.argmax(state[:, :, ::-1], axis=2), 0)
        cells = _PALETTE[index % len(_PALETTE)]  # (H, W, 3)
        return np.repeat(np.repeat(cells, self.scale, axis=0), self.scale, axis=1)
