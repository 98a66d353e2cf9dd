"""Deep Q-networks: the Nature DQN of Mnih et al. 2015 ("Human-level control through deep reinforcement learning")
for 84x84 Atari screens, the small network of Young & Tian 2019 (MinAtar) for 10x10 object maps, and the dueling head
of Wang et al. 2016 for either."""

from __future__ import annotations

import torch
import torch.nn as nn

from striate.models._base import Classifier
from striate.models._registry import register_model
from striate.models._utils import flat_features


class DuelingHead(nn.Module):
    """`Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)` from two streams of one hidden layer each (Wang et al. 2016).

    Subtracting the mean advantage makes V and A identifiable (any constant could move between them otherwise)
    and is the paper's choice over the max. Input `(N, in_features)`, output `(N, num_actions)`.
    """

    def __init__(self, in_features: int, hidden: int, num_actions: int):
        super().__init__()
        self.in_features = in_features
        self.value = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))
        self.advantage = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                                       nn.Linear(hidden, num_actions))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(x)  # (N, A)
        return self.value(x) + advantage - advantage.mean(dim=1, keepdim=True)


class _QNetwork(Classifier):
    """Convolutions, then one hidden layer and a linear Q-value per action, or a dueling head of that width."""

    output_kind = "q_values"

    def _build_head(self, flat: int, hidden: int, num_actions: int, dueling: bool) -> None:
        self.hidden_width, self.dueling = hidden, bool(dueling)
        if dueling:
            self.hidden = nn.Identity()
            self.head = DuelingHead(flat, hidden, num_actions)
        else:
            self.hidden = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(inplace=True))
            self.head = nn.Linear(hidden, num_actions)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, F, H', W')`, the last convolution's map."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(features.flatten(1)))  # (N, F, H', W') -> (N, F*H'*W') -> (N, num_actions)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh head (plain or dueling, as built) for `num_classes` actions."""
        flat = self.head.in_features if self.dueling else self.hidden[0].in_features
        self._build_head(flat, self.hidden_width, num_classes, self.dueling)


class DQN(_QNetwork):
    """Three convolutions and one hidden layer mapping a stack of frames to one Q-value per action.

    Layers: conv 8x8/4 32, conv 4x4/2 64, conv 3x3/1 64, FC 512, FC `num_actions`, ReLU after each hidden layer; on
    the paper's 84x84x4 input (four preprocessed grey frames) the maps are 20x20, 9x9 and 7x7 and the network has
    1,693,362 parameters for the 18 actions of the full Atari action set. The output is linear: Q-values, not
    logits. Pixel scaling (the paper feeds [0, 255] frames; dividing by 255 is usual) is left to the caller.
    `dueling=True` replaces FC 512 and the output layer by a value and an advantage stream of 512 units each.

    Input: `(N, 4, 84, 84)`; other sizes work if the three convolutions fit (at least 36x36).
    Features: `(N, 64, 7, 7)` on 84x84, the third convolution's map. Output: `(N, num_actions)`.
    """

    def __init__(self, num_actions: int = 18, in_channels: int = 4, input_size: tuple[int, int] = (84, 84),
                 dueling: bool = False):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 8, stride=4), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(inplace=True),
        )
        self._build_head(flat_features(self.features, (in_channels, *input_size)), 512, num_actions, dueling)


class MinAtarDQN(_QNetwork):
    """The Q-network of Young & Tian 2019 for MinAtar's 10x10 object maps: one 3x3 convolution of 16 filters
    (stride 1, no padding), FC 128, FC `num_actions`, ReLU after the hidden layers.

    MinAtar observations are `C` binary channels (one per kind of object; 4 for Breakout, 10 for Seaquest), fed as
    0/1 without frame stacking (the paper's agents see one frame; `in_channels = history * C` otherwise).
    Input: `(N, C, 10, 10)`. Features: `(N, 16, 8, 8)`. Output: `(N, num_actions)`. 132,566 parameters for
    Breakout's 4 channels and 6 actions.
    """

    def __init__(self, num_actions: int = 6, in_channels: int = 4, input_size: tuple[int, int] = (10, 10),
                 dueling: bool = False):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(in_channels, 16, 3, stride=1), nn.ReLU(inplace=True))
        self._build_head(flat_features(self.features, (in_channels, *input_size)), 128, num_actions, dueling)


@register_model("dqn", paper="Mnih et al. 2015", input_shape=(4, 84, 84))
def dqn(num_actions: int = 18, in_channels: int = 4, input_size: tuple[int, int] = (84, 84),
        dueling: bool = False) -> DQN:
    """DQN Q-network: one Q-value per action; 1,693,362 parameters for 84x84x4 frames and 18 actions."""
    return DQN(num_actions, in_channels, tuple(input_size), dueling)


@register_model("minatar_dqn", paper="Young & Tian 2019", input_shape=(4, 10, 10))
def minatar_dqn(num_actions: int = 6, in_channels: int = 4, input_size: tuple[int, int] = (10, 10),
                dueling: bool = False) -> MinAtarDQN:
    """MinAtar's Q-network: one 3x3 convolution and FC 128; 132,566 parameters for Breakout (4x10x10, 6 actions)."""
    return MinAtarDQN(num_actions, in_channels, tuple(input_size), dueling)
