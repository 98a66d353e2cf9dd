"""The deep Q-network of Mnih et al. 2015 ("Human-level control through deep reinforcement learning", Nature)."""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models._utils import flat_features


class DQN(Classifier):
    """Three convolutions and one hidden layer mapping a stack of frames to one Q-value per action.

    Layers: conv 8x8/4 32, conv 4x4/2 64, conv 3x3/1 64, FC 512, FC `num_actions`, ReLU after each hidden layer; on
    the paper's 84x84x4 input (four preprocessed grey frames) the maps are 20x20, 9x9 and 7x7 and the network has
    1,693,362 parameters for the 18 actions of the full Atari action set. The output is linear: Q-values, not
    logits. Pixel scaling (the paper feeds [0, 255] frames; dividing by 255 is usual) is left to the caller.

    Input: `(N, 4, 84, 84)`; other sizes work if the three convolutions fit (at least 36x36).
    Features: `(N, 64, 7, 7)` on 84x84, the third convolution's map. Output: `(N, num_actions)`.
    """

    output_kind = "q_values"

    def __init__(self, num_actions: int = 18, in_channels: int = 4, input_size: tuple[int, int] = (84, 84)):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 8, stride=4), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(inplace=True),
        )
        flat = flat_features(self.features, (in_channels, *input_size))
        self.hidden = nn.Sequential(nn.Linear(flat, 512), nn.ReLU(inplace=True))
        self.head = nn.Linear(512, num_actions)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, 64, H', W')`."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(features.flatten(1)))  # (N, 64, 7, 7) -> (N, 3136) -> (N, num_actions)


@register_model("dqn", paper="Mnih et al. 2015", input_shape=(4, 84, 84))
def dqn(num_actions: int = 18, in_channels: int = 4, input_size: tuple[int, int] = (84, 84)) -> DQN:
    """DQN Q-network: one Q-value per action; 1,693,362 parameters for 84x84x4 frames and 18 actions."""
    return DQN(num_actions, in_channels, tuple(input_size))
