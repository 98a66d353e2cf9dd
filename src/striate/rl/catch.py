"""Catch (as in DeepMind's bsuite): a ball falls down a 10x5 screen and a paddle on the bottom row must be under it.

A game small enough to learn in seconds on a CPU, for tests and for checking a setting before an Atari run: 9 steps
per episode, actions left / stay / right, reward +1 for a catch and -1 for a miss when the ball reaches the bottom
row. A uniformly random policy scores about -0.5, a perfect one +1. Observations are `(10, 5)` uint8 screens, 255
where the ball and the paddle are. Registered in gymnasium as `striate/Catch-v0` when `striate.rl.envs` makes an
environment, so it goes through the same path as any gymnasium game with image observations.
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

ENV_ID = "striate/Catch-v0"


class Catch(gymnasium.Env):
    """Args: rows, columns: the screen. render_mode: "rgb_array" for `(rows * 16, columns * 16, 3)` frames."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, rows: int = 10, columns: int = 5, render_mode: str | None = None):
        self.rows, self.columns, self.render_mode = int(rows), int(columns), render_mode
        self.observation_space = spaces.Box(0, 255, (self.rows, self.columns), np.uint8)
        self.action_space = spaces.Discrete(3)

    def get_action_meanings(self) -> list[str]:
        return ["LEFT", "STAY", "RIGHT"]

    def _screen(self) -> np.ndarray:
        screen = np.zeros((self.rows, self.columns), np.uint8)
        screen[self.ball_row, self.ball_column] = 255
        screen[self.rows - 1, self.paddle] = 255
        return screen

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        self.ball_row, self.ball_column = 0, int(self.np_random.integers(self.columns))
        self.paddle = self.columns // 2
        return self._screen(), {}

    def step(self, action):
        self.paddle = int(np.clip(self.paddle + int(action) - 1, 0, self.columns - 1))
        self.ball_row += 1
        terminated = self.ball_row == self.rows - 1
        reward = (1.0 if self.paddle == self.ball_column else -1.0) if terminated else 0.0
        return self._screen(), reward, terminated, False, {}

    def render(self) -> np.ndarray:
        return np.repeat(np.repeat(np.stack([self._screen()] * 3, axis=-1), 16, axis=0), 16, axis=1)


def register() -> None:
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(ENV_ID, entry_point=Catch, max_episode_steps=50)
