"""The DQN agent: an online and a target Q-network from the zoo, epsilon-greedy acting and one learning step.

`DQNAgent.learn` is DQN's training step (Mnih et al. 2015): sample a batch, compute the (Double-DQN, n-step)
target with the target network, take an Adam step on the importance-weighted Huber loss with gradients clipped to
norm 10, and give prioritised replay its new priorities. The target network is a frozen copy that `sync_target`
refreshes every `target_update` steps; acting and targets run under `torch.inference_mode`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from striate.rl.replay import Batch, PrioritizedReplayMemory
from striate.rl.targets import double_dqn_target, huber_td_loss, td_target


@dataclass(frozen=True)
class LinearSchedule:
    """`start` at step 0, moving linearly to `end` at step `steps`, then `end` (DQN's exploration rate)."""

    start: float
    end: float
    steps: int

    def __call__(self, step: int) -> float:
        if self.steps <= 0 or step >= self.steps:
            return self.end
        return self.start + (self.end - self.start) * step / self.steps


class DQNAgent:
    """Q-learning with a replay memory and a target network.

    Args:
        network: a Q-network `(N, C, H, W)` -> `(N, A)` (the zoo's `dqn` or `minatar_dqn`). num_actions: `A`.
        scale: the factor mapping stored uint8 observations to the network's input (1/255 for screens).
        gamma: the discount. double: Double-DQN targets. lr: Adam's learning rate (eps 1.5e-4, as in Rainbow and
        Dopamine). max_grad_norm: gradient clipping.
        device: where the networks run.
    """

    def __init__(self, network: nn.Module, num_actions: int, *, scale: float, gamma: float = 0.99,
                 double: bool = False, lr: float = 1e-4, max_grad_norm: float = 10.0,
                 device: str | torch.device = "cpu"):
        self.device, self.num_actions = torch.device(device), int(num_actions)
        self.online = network.to(self.device).train()
        self.target = copy.deepcopy(self.online).eval().requires_grad_(False)
        self.scale, self.gamma, self.double = float(scale), float(gamma), bool(double)
        self.max_grad_norm = float(max_grad_norm)
        # The fused kernel updates every parameter in one call: a third less time per update than the per-tensor loop
        # for the small networks DQN uses, where the optimizer is a large part of a step.
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=lr, eps=1.5e-4, fused=True)
        self.updates = 0

    def _input(self, observations) -> torch.Tensor:
        x = torch.as_tensor(observations).to(self.device, non_blocking=True)
        return x.float().mul_(self.scale)

    @torch.inference_mode()
    def q_values(self, observations) -> torch.Tensor:
        """`(N, C, H, W)` uint8 observations -> `(N, A)` Q-values of the online network."""
        self.online.eval()
        try:
            return self.online(self._input(observations)).float()
        finally:
            self.online.train()

    def act(self, observations, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        """Epsilon-greedy actions `(N,)` for observations `(N, C, H, W)`: a uniform random action with probability
        `epsilon`, else the greedy one (the network is not run when every action is random)."""
        count = len(observations)
        explore = rng.random(count) < epsilon
        if explore.all():
            return rng.integers(0, self.num_actions, count)
        actions = self.q_values(observations).argmax(dim=1).cpu().numpy()
        if explore.any():
            actions[explore] = rng.integers(0, self.num_actions, int(explore.sum()))
        return actions

    def learn(self, batch: Batch, memory=None) -> tuple[float, float]:
        """One gradient step on `batch`; returns the loss and the mean Q(s, a). With a prioritised `memory`, the
        sampled transitions get their new priorities."""
        states = self._input(batch.states)
        with torch.inference_mode():
            next_states = self._input(batch.next_states)
            next_target = self.target(next_states)
            rewards, dones = batch.rewards.to(self.device), batch.dones.to(self.device)
            discounts = batch.discounts.to(self.device)
            if self.double:
                targets = double_dqn_target(rewards, dones, discounts, self.online(next_states), next_target)
            else:
                targets = td_target(rewards, dones, discounts, next_target)
        q = self.online(states)
        loss, td_errors = huber_td_loss(q, batch.actions.to(self.device), targets.clone(),
                                        batch.weights.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.online.parameters(), self.max_grad_norm, foreach=True)
        self.optimizer.step()
        self.updates += 1
        if isinstance(memory, PrioritizedReplayMemory):
            memory.update_priorities(batch.indices, td_errors)
        chosen = q.detach().gather(1, batch.actions.to(self.device).long().unsqueeze(1))
        return float(loss.detach()), float(chosen.mean())

    def sync_target(self) -> None:
        """Copy the online network's weights into the target network."""
        self.target.load_state_dict(self.online.state_dict())

    def state_dict(self) -> dict:
        return {"online": self.online.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
