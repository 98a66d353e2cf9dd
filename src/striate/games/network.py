"""The policy/value network of AlphaGo Zero and AlphaZero (Silver et al. 2017, 2018), sized for small boards.

A stem convolution, a tower of the zoo's residual blocks (`striate.models.resnet.BasicBlock`: two 3x3 conv-BN layers
and an identity shortcut), and two heads: the policy head (1x1 convolution to 2 planes, BN, ReLU, a linear layer to
one logit per action of the game's fixed action space) and the value head (1x1 convolution to 1 plane, BN, ReLU,
a hidden layer, tanh: the expected result from the view of the player to move, in [-1, 1]).

`evaluator(network, game)` turns it into what tree search calls: a batch of states in, prior probabilities over the
legal actions (illegal ones get exactly 0) and values out, in one forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.models.resnet import BasicBlock, conv_bn


class PolicyValueNet(nn.Module):
    """`(N, C, H, W)` planes -> `(N, num_actions)` policy logits and `(N,)` values in [-1, 1].

    Args:
        planes_shape: `(C, H, W)` of the game's planes. num_actions: the game's action space.
        channels: width of the tower (AlphaZero: 256). blocks: residual blocks (AlphaZero: 19 or 39).
        value_hidden: units of the value head's hidden layer (AlphaZero: 256).
    """

    def __init__(self, planes_shape: Sequence[int], num_actions: int, channels: int = 64, blocks: int = 5,
                 value_hidden: int = 64):
        super().__init__()
        in_channels, height, width = (int(s) for s in planes_shape)
        self.planes_shape, self.num_actions = (in_channels, height, width), int(num_actions)
        self.config = {"planes_shape": [in_channels, height, width], "num_actions": int(num_actions),
                       "channels": int(channels), "blocks": int(blocks), "value_hidden": int(value_hidden)}
        self.stem = nn.Sequential(conv_bn(in_channels, channels, 3), nn.ReLU(inplace=True))
        self.tower = nn.Sequential(*(BasicBlock(channels, channels) for _ in range(blocks)))
        self.policy = nn.Sequential(conv_bn(channels, 2, 1), nn.ReLU(inplace=True), nn.Flatten(),
                                    nn.Linear(2 * height * width, num_actions))
        self.value = nn.Sequential(conv_bn(channels, 1, 1), nn.ReLU(inplace=True), nn.Flatten(),
                                   nn.Linear(height * width, value_hidden), nn.ReLU(inplace=True),
                                   nn.Linear(value_hidden, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.tower(self.stem(x))  # (N, channels, H, W)
        return self.policy(features), self.value(features).squeeze(1)  # (N, A), (N,)


def alphazero_loss(logits: torch.Tensor, values: torch.Tensor, policy_targets: torch.Tensor,
                   value_targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`(z - v)^2 - pi . log p` averaged over the batch (the L2 term is the optimizer's weight decay).

    Args: logits `(N, A)`, values `(N,)`, policy_targets `(N, A)` visit distributions (zero on illegal actions),
    value_targets `(N,)` game results from the view of the player to move. Returns the total, value and policy parts.
    """
    value_loss = F.mse_loss(values, value_targets)
    policy_loss = -(policy_targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    return value_loss + policy_loss, value_loss.detach(), policy_loss.detach()


def evaluator(network: nn.Module, game, device: str | torch.device = "cpu") -> Callable:
    """`evaluate(states) -> (priors float32 (B, A), values float32 (B,))` for tree search: softmax over the legal
    actions only (illegal ones exactly 0), values from the view of each state's player to move.

    The policy head indexes actions in the frame of the planes (`game.policy_index`: checkers turns the board for
    White), so each legal action's logit is read at its own index."""
    device = torch.device(device)

    @torch.inference_mode()
    def evaluate(states: list) -> tuple[np.ndarray, np.ndarray]:
        network.eval()
        planes = torch.from_numpy(np.stack([game.planes(s) for s in states])).to(device)
        logits, values = network(planes)
        logits = logits.float().cpu().numpy()
        priors = np.zeros((len(states), game.num_actions), np.float32)
        for b, state in enumerate(states):
            legal = list(game.legal_actions(state))
            if not legal:
                continue
            chosen = logits[b, [game.policy_index(state, a) for a in legal]]
            chosen = np.exp(chosen - chosen.max())
            priors[b, legal] = chosen / chosen.sum()
        return priors, values.float().cpu().numpy()

    return evaluate


def policy_target(game, state, visits: np.ndarray) -> np.ndarray:
    """A visit distribution over actions `(A,)` -> the policy head's frame `(A,)` (see `evaluator`)."""
    target = np.zeros(game.num_actions, np.float32)
    for action in np.flatnonzero(visits):
        target[game.policy_index(state, int(action))] += visits[action]
    return target / max(target.sum(), 1e-12)
