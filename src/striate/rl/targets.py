"""Q-learning targets and the loss of DQN: TD and Double-DQN targets, importance-weighted Huber loss.

Shapes: `B` transitions, `A` actions. Targets are returned detached: gradients flow only through the online
network's `Q(s, a)` in the loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def td_target(rewards: torch.Tensor, dones: torch.Tensor, discounts: torch.Tensor | float,
              next_q_target: torch.Tensor) -> torch.Tensor:
    """The DQN target `r + gamma^k (1 - done) max_a Q_target(s', a)` (Mnih et al. 2015).

    Args:
        rewards: `(B,)` the (n-step) returns. dones: `(B,)` 1 where the episode terminated (bool or float).
        discounts: `(B,)` or a float, `gamma ** k` for `k` summed rewards. next_q_target: `(B, A)` target network
            on the next states.

    Returns: `(B,)`, detached.
    """
    return _bootstrap(rewards, dones, discounts, next_q_target.detach().max(dim=1).values)


def double_dqn_target(rewards: torch.Tensor, dones: torch.Tensor, discounts: torch.Tensor | float,
                      next_q_online: torch.Tensor, next_q_target: torch.Tensor) -> torch.Tensor:
    """The Double-DQN target (van Hasselt et al. 2016): the online network picks `a* = argmax_a Q_online(s', a)`, the
    target network values it, `r + gamma^k (1 - done) Q_target(s', a*)`, which removes max's upward bias.

    Args:
        next_q_online, next_q_target: `(B, A)` online and target networks on the next states. Others: as
            `td_target`.

    Returns: `(B,)`, detached.
    """
    best = next_q_online.detach().argmax(dim=1, keepdim=True)  # (B, 1)
    return _bootstrap(rewards, dones, discounts, next_q_target.detach().gather(1, best).squeeze(1))


def _bootstrap(rewards, dones, discounts, next_values: torch.Tensor) -> torch.Tensor:
    alive = 1.0 - dones.to(next_values.dtype)
    return (rewards.to(next_values.dtype) + discounts * alive * next_values).detach()


def huber_td_loss(q_values: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor,
                  weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Huber loss (`smooth_l1_loss`, quadratic within 1 of the target) between `Q(s, a)` and the targets, averaged
    with importance weights (all ones when `weights` is None).

    Args:
        q_values: `(B, A)` online network on the states. actions: `(B,)` int64 actions taken. targets: `(B,)`.
        weights: `(B,)` importance weights from prioritised replay.

    Returns: the scalar loss and the `(B,)` TD errors `target - Q(s, a)` (detached), the new priorities.
    """
    chosen = q_values.gather(1, actions.long().unsqueeze(1)).squeeze(1)  # (B, A) -> (B,)
    per_sample = F.smooth_l1_loss(chosen, targets.detach(), reduction="none")  # (B,)
    if weights is not None:
        per_sample = per_sample * weights.to(per_sample.dtype)
    return per_sample.mean(), (targets - chosen).detach()
