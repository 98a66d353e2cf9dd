"""The DQN agent against hand computations: the epsilon schedule, epsilon-greedy acting, and one learning step
replayed with PyTorch's plain Adam, clipping and the targets written out."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.models import create
from striate.rl import PrioritizedReplayMemory, ReplayMemory
from striate.rl.agent import DQNAgent, LinearSchedule


def test_linear_schedule_by_hand():
    schedule = LinearSchedule(1.0, 0.1, 100)
    assert [schedule(s) for s in (0, 25, 50, 99, 100, 1000)] == pytest.approx([1.0, 0.775, 0.55, 0.109, 0.1, 0.1])
    assert LinearSchedule(1.0, 0.05, 0)(0) == 0.05  # no decay: the final value from the start


class Fixed(nn.Module):
    """Q-values that are a fixed table per observation's first pixel, to check acting."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = nn.Parameter(table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table[x[:, 0, 0, 0].long()]


def test_epsilon_greedy_acting():
    table = torch.tensor([[0.0, 2.0, 1.0], [5.0, -1.0, 0.0]])
    agent = DQNAgent(Fixed(table), 3, scale=1.0)
    observations = np.zeros((4000, 1, 1, 1), np.uint8)
    observations[::2] = 1  # half the rows see state 1
    rng = np.random.default_rng(0)
    greedy = agent.act(observations, 0.0, rng)
    assert greedy.tolist() == [0, 1] * 2000  # the argmax of each state's row
    uniform = agent.act(observations, 1.0, rng)
    counts = np.bincount(uniform, minlength=3)
    assert (((counts - 4000 / 3) ** 2) / (4000 / 3)).sum() < 13.8  # chi-square, 2 degrees of freedom, p = 0.001
    mixed = agent.act(observations, 0.3, rng)
    agree = (mixed == greedy).mean()
    assert agree == pytest.approx(0.7 + 0.3 / 3, abs=0.03)  # exploration picks the greedy action a third of the time


def filled_memory(kind=ReplayMemory, **options) -> ReplayMemory:
    rng = np.random.default_rng(0)
    memory = kind(64, frame_shape=(4, 10, 10), history=1, gamma=0.9, **options)
    for episode in range(4):
        memory.start_episode(rng.integers(0, 2, (4, 10, 10), dtype=np.uint8))
        for t in range(10):
            memory.add(rng.integers(0, 2, (4, 10, 10), dtype=np.uint8), int(rng.integers(6)), float(rng.normal()),
                       done=t == 9 and episode % 2 == 0)
    return memory


@pytest.mark.parametrize("double", [False, True])
def test_one_learning_step_equals_the_written_out_update(double):
    torch.manual_seed(0)
    network = create("minatar_dqn", num_actions=6, in_channels=4)
    reference = copy.deepcopy(network)
    agent = DQNAgent(network, 6, scale=1.0, gamma=0.9, double=double, lr=1e-3, max_grad_norm=0.5)
    with torch.no_grad():  # a target network that differs from the online one, so the targets tell them apart
        for p in agent.target.parameters():
            p.add_(0.05 * torch.randn_like(p))
    target = copy.deepcopy(agent.target)
    memory = filled_memory()
    batch = memory.sample(16, torch.Generator().manual_seed(3))
    loss, mean_q = agent.learn(batch)

    x, x_next = batch.states.double(), batch.next_states.double()
    online64, target64 = copy.deepcopy(reference).double(), target.double()
    with torch.no_grad():
        following = target64(x_next)
        if double:
            best = [int(online64(x_next[b:b + 1]).argmax()) for b in range(16)]
        else:
            best = [int(following[b].argmax()) for b in range(16)]
        y = torch.tensor([float(batch.rewards[b]) + float(batch.discounts[b]) * (1 - float(batch.dones[b]))
                          * float(following[b, best[b]]) for b in range(16)], dtype=torch.float64)
    chosen = online64(x)[torch.arange(16), batch.actions]
    expected_loss = F.smooth_l1_loss(chosen, y)
    assert loss == pytest.approx(float(expected_loss.detach()), rel=1e-5)
    assert mean_q == pytest.approx(float(chosen.detach().mean()), rel=1e-5)
    expected_loss.backward()
    nn.utils.clip_grad_norm_(online64.parameters(), 0.5)
    torch.optim.Adam(online64.parameters(), lr=1e-3, eps=1.5e-4).step()
    for (name, got), want in zip(agent.online.named_parameters(), online64.parameters(), strict=True):
        torch.testing.assert_close(got.double(), want.detach(), rtol=1e-4, atol=1e-6, msg=name)
    for got, want in zip(agent.target.parameters(), target.parameters(), strict=True):
        assert torch.equal(got.double(), want)  # learning leaves the target network alone
    agent.sync_target()
    for got, want in zip(agent.target.parameters(), agent.online.parameters(), strict=True):
        assert torch.equal(got, want)


def test_learning_gives_prioritised_replay_the_new_td_errors():
    torch.manual_seed(0)
    agent = DQNAgent(create("minatar_dqn", num_actions=6), 6, scale=1.0)
    memory = filled_memory(PrioritizedReplayMemory, alpha=0.6, eps=0.01)
    batch = memory.sample(8, torch.Generator().manual_seed(1))
    with torch.no_grad():
        q = agent.online(batch.states.float())[torch.arange(8), batch.actions]
        following = agent.target(batch.next_states.float()).max(dim=1).values
        td = batch.rewards + batch.discounts * (1 - batch.dones) * following - q
    agent.learn(batch, memory)
    probabilities = memory.probabilities()
    expected = (td.abs().double().numpy() + 0.01) ** 0.6
    chosen = batch.indices.numpy()
    last = {index: k for k, index in enumerate(chosen)}  # a repeated index keeps its last priority
    ratio = probabilities[list(last)] / expected[list(last.values())]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)  # P(i) proportional to (|delta_i| + eps)^alpha
