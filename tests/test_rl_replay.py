"""The DQN replay memory and targets against hand-built episodes, direct formulas and a cumulative-sum reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from striate.errors import ConfigError, ShapeError
from striate.rl import PrioritizedReplayMemory, ReplayMemory, SumTree, double_dqn_target, huber_td_loss, td_target


def frame(value: int) -> np.ndarray:
    return np.full((2, 2), value, np.uint8)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rows_by_index(memory, draws: int = 400, seed: int = 0) -> dict[int, tuple]:
    """Each sampled index -> (state frame ids, next-state frame ids, action, reward, done, discount)."""
    batch = memory.sample(draws, gen(seed))
    rows = {}
    for b, index in enumerate(batch.indices.tolist()):
        rows[index] = (batch.states[b, :, 0, 0].tolist(), batch.next_states[b, :, 0, 0].tolist(),
                       int(batch.actions[b]), float(batch.rewards[b]), float(batch.dones[b]), float(batch.discounts[b]))
    return rows


def episode(memory, first: int, steps: list[int], terminal: bool) -> None:
    """Frames `first, steps...`; action = frame id reached, reward = frame id / 10."""
    memory.start_episode(frame(first))
    for i, value in enumerate(steps):
        memory.add(frame(value), action=value, reward=value / 10, done=terminal and i == len(steps) - 1)


# -- stacks ----------------------------------------------------------------------------------------------------------


def test_stacks_rebuilt_after_reset_and_across_wrap_around():
    memory = ReplayMemory(8, frame_shape=(2, 2), history=3, n_step=1, gamma=0.5)
    episode(memory, 1, [2, 3, 4], terminal=True)  # slots 0-3
    episode(memory, 11, [12, 13], terminal=False)  # slots 4-6, truncated by the next start
    rows = rows_by_index(memory)
    assert rows == {
        0: ([1, 1, 1], [1, 1, 2], 2, pytest.approx(0.2), 0.0, 0.5),
        1: ([1, 1, 2], [1, 2, 3], 3, pytest.approx(0.3), 0.0, 0.5),
        2: ([1, 2, 3], [2, 3, 4], 4, pytest.approx(0.4), 1.0, 0.5),
        4: ([11, 11, 11], [11, 11, 12], 12, pytest.approx(1.2), 0.0, 0.5),
        5: ([11, 11, 12], [11, 12, 13], 13, pytest.approx(1.3), 0.0, 0.5),
    }
    # Third episode: 21 in slot 7, then 22..26 overwrite slots 0-4 (the first episode and the second's first frame).
    episode(memory, 21, [22, 23, 24, 25], terminal=False)
    rows = rows_by_index(memory)
    assert rows[4][:2] == ([11, 11, 11], [11, 11, 12]) and rows[5][:2] == ([11, 11, 12], [11, 12, 13])
    assert sorted(rows) == [0, 1, 2, 4, 5, 7]  # slot 3 holds the newest frame (25), with no transition out yet
    memory.add(frame(26), action=26, reward=2.6, done=False)
    rows = rows_by_index(memory)
    assert {k: v[:2] for k, v in rows.items()} == {
        7: ([21, 21, 21], [21, 21, 22]),
        0: ([21, 21, 22], [21, 22, 23]),
        1: ([21, 22, 23], [22, 23, 24]),
        2: ([22, 23, 24], [23, 24, 25]),
        3: ([23, 24, 25], [24, 25, 26]),
    }
    assert len(memory) == 5  # slot 5 (12 -> 13) lost frame 11 to the overwrite


def test_no_sampled_stack_spans_an_episode_boundary():
    """Random episodes (terminated or truncated) through a small circular memory; every sampled stack, return and
    bootstrap state is rebuilt from the episode log kept here."""
    rng = np.random.default_rng(0)
    history, n_step, gamma = 4, 3, 0.9
    memory = ReplayMemory(37, frame_shape=(1, 2), history=history, n_step=n_step, gamma=gamma)
    lengths, terminated = {}, {}
    checked = 0
    for ep in range(60):
        length, ends = int(rng.integers(1, 9)), bool(rng.random() < 0.5)
        lengths[ep], terminated[ep] = length, ends
        memory.start_episode(np.array([[ep, 0]], np.uint8))
        for t in range(1, length + 1):
            memory.add(np.array([[ep, t]], np.uint8), action=t, reward=ep + t / 10, done=ends and t == length)
        if ep % 3 == 2:
            checked += _check_batch(memory.sample(64, gen(ep)), lengths, terminated, history, n_step, gamma)
    assert checked == 20 * 64


@pytest.mark.parametrize("prioritized", [False, True])
def test_interleaved_environments_keep_their_own_episodes(prioritized):
    """Three environments step in lock-step (as a vector of environments acts), each with episodes of random
    lengths; frames carry (episode, step) with episode ids unique across streams, and every sampled stack, return
    and bootstrap state must come from one environment's own episode, as the log says."""
    rng = np.random.default_rng(1)
    history, n_step, gamma, streams = 4, 3, 0.9, 3
    kind = PrioritizedReplayMemory if prioritized else ReplayMemory
    memory = kind(3 * 29, frame_shape=(1, 2), history=history, n_step=n_step, gamma=gamma, streams=streams)
    assert memory.segment == 29
    lengths, terminated, checked = {}, {}, 0
    state = []  # per stream: [episode id, step, length]
    next_id = 0
    for s in range(streams):
        length, ends = int(rng.integers(1, 9)), bool(rng.random() < 0.5)
        lengths[next_id], terminated[next_id] = length, ends
        memory.start_episode(np.array([[next_id, 0]], np.uint8), stream=s)
        state.append([next_id, 0])
        next_id += 1
    for step in range(400):
        for s in range(streams):
            ep, t = state[s]
            t += 1
            memory.add(np.array([[ep, t]], np.uint8), action=t, reward=ep + t / 10,
                       done=terminated[ep] and t == lengths[ep], stream=s)
            state[s][1] = t
            if t == lengths[ep]:
                length, ends = int(rng.integers(1, 9)), bool(rng.random() < 0.5)
                lengths[next_id], terminated[next_id] = length, ends
                memory.start_episode(np.array([[next_id, 0]], np.uint8), stream=s)
                state[s] = [next_id, 0]
                next_id = (next_id + 1) % 256
                lengths.pop(next_id, None)  # ids wrap at 256; a reused id is a new episode
        if step % 40 == 39:
            checked += _check_batch(memory.sample(64, gen(step)), lengths, terminated, history, n_step, gamma)
    assert checked == 10 * 64


def test_multi_channel_frames_stack_channels_oldest_first():
    memory = ReplayMemory(16, frame_shape=(3, 2, 2), history=2)
    memory.start_episode(np.stack([np.full((2, 2), 10 + c, np.uint8) for c in range(3)]))
    memory.add(np.stack([np.full((2, 2), 20 + c, np.uint8) for c in range(3)]), action=1, reward=1.0, done=False)
    memory.add(np.stack([np.full((2, 2), 30 + c, np.uint8) for c in range(3)]), action=2, reward=1.0, done=True)
    batch = memory.sample(32, gen(0))
    for b in range(32):
        first = batch.indices[b].item() == 0
        assert batch.states.shape == (32, 6, 2, 2)
        expected = [10, 11, 12, 10, 11, 12] if first else [10, 11, 12, 20, 21, 22]
        assert batch.states[b, :, 0, 0].tolist() == expected
        expected_next = [10, 11, 12, 20, 21, 22] if first else [20, 21, 22, 30, 31, 32]
        assert batch.next_states[b, :, 1, 1].tolist() == expected_next


def _check_batch(batch, lengths, terminated, history, n_step, gamma) -> int:
    for b in range(len(batch.indices)):
        eps_, ts = batch.states[b, :, 0, 0].tolist(), batch.states[b, :, 0, 1].tolist()
        ep, t = eps_[-1], ts[-1]
        assert eps_ == [ep] * history
        assert ts == [max(t - (history - 1 - k), 0) for k in range(history)]  # first frame repeated, never zeros
        k = min(n_step, lengths[ep] - t)
        assert k >= 1
        expected_return = sum(gamma ** m * (ep + (t + 1 + m) / 10) for m in range(k))
        assert float(batch.rewards[b]) == pytest.approx(expected_return, rel=1e-6)
        assert float(batch.discounts[b]) == pytest.approx(gamma ** k, rel=1e-6)
        assert float(batch.dones[b]) == float(terminated[ep] and t + k == lengths[ep])
        assert batch.next_states[b, :, 0, 0].tolist() == [ep] * history
        assert batch.next_states[b, :, 0, 1].tolist() == [max(t + k - (history - 1 - j), 0) for j in range(history)]
        assert int(batch.actions[b]) == t + 1
    return len(batch.indices)


# -- uniform sampling ------------------------------------------------------------------------------------------------


def test_uniform_sampling_frequencies():
    memory = ReplayMemory(8, frame_shape=(2, 2), history=3)
    episode(memory, 1, [2, 3, 4], terminal=True)
    episode(memory, 11, [12, 13], terminal=False)
    draws = 50_000
    counts = np.bincount(memory.sample(draws, gen(1)).indices.numpy(), minlength=8)
    valid = [0, 1, 2, 4, 5]
    assert counts[[3, 6, 7]].sum() == 0  # terminal frame, unfinished transition, empty slot
    p = 1 / len(valid)
    chi2 = (((counts[valid] - draws * p) ** 2) / (draws * p)).sum()
    assert chi2 < 18.5  # chi-square, 4 degrees of freedom, p = 0.001


# -- prioritised replay ----------------------------------------------------------------------------------------------


def test_sum_tree_against_cumulative_sum():
    rng = np.random.default_rng(3)
    tree = SumTree(13)
    leaves = rng.random(13) * (rng.random(13) < 0.7)
    tree.update(np.arange(13), leaves)
    tree.update([4, 4, 9], [0.0, 2.5, 0.0])  # the last of a repeated index wins
    tree.set(11, 0.75)
    leaves[4], leaves[9], leaves[11] = 2.5, 0.0, 0.75
    assert tree.total == pytest.approx(leaves.sum(), rel=1e-12)
    queries = np.concatenate([rng.random(500) * leaves.sum(), np.cumsum(leaves)[:-1], [0.0]])
    expected = np.searchsorted(np.cumsum(leaves), queries, side="right")
    found = tree.find(queries)
    positive = leaves[expected] > 0  # a query exactly on a boundary before zero leaves goes to the next positive one
    np.testing.assert_array_equal(found[positive], expected[positive])
    assert (leaves[found] > 0).all()
    assert (leaves[tree.find([leaves.sum()])] > 0).all()  # rounding up to the total still lands on a priority


def prioritised(alpha=0.7, beta=0.5, n_step=1):
    memory = PrioritizedReplayMemory(16, frame_shape=(2, 2), history=2, n_step=n_step, alpha=alpha, beta=beta, eps=0.01)
    episode(memory, 1, [2, 3, 4, 5, 6], terminal=True)  # transitions at slots 0-4
    episode(memory, 11, [12, 13], terminal=True)  # slots 6, 7
    return memory


def test_prioritised_probabilities_and_weights_match_the_formulas():
    alpha, beta, eps = 0.7, 0.5, 0.01
    memory = prioritised(alpha, beta)
    slots = np.array([0, 1, 2, 3, 4, 6, 7])
    td = np.array([0.5, -2.0, 0.0, 1.0, 3.0, -0.25, 0.1])
    memory.update_priorities(torch.tensor(slots), torch.tensor(td))
    p = (np.abs(td) + eps) ** alpha
    expected = np.zeros(16)
    expected[slots] = p / p.sum()
    np.testing.assert_allclose(memory.probabilities(), expected, rtol=1e-12)

    draws = 60_000
    batch = memory.sample(draws, gen(2))
    counts = np.bincount(batch.indices.numpy(), minlength=16)
    assert counts[[5, *range(8, 16)]].sum() == 0
    np.testing.assert_allclose(counts[slots] / draws, expected[slots], atol=4 * np.sqrt(0.25 / draws))

    weights = (len(slots) * expected[batch.indices.numpy()]) ** -beta
    np.testing.assert_allclose(batch.weights.numpy(), weights / weights.max(), rtol=1e-6)
    assert batch.weights.max() == 1.0


def test_new_transitions_get_the_largest_priority_seen():
    memory = prioritised(alpha=0.5)
    memory.update_priorities([0, 1], [4.0, -8.0])
    episode(memory, 21, [22], terminal=True)  # slot 9
    leaves = memory.probabilities() * memory._tree.total
    assert leaves[9] == pytest.approx((8.0 + 0.01) ** 0.5)
    assert leaves[2] == pytest.approx(1.0)  # added before any update: the initial maximum, 1


def test_uniform_alpha_zero_gives_uniform_probabilities_and_unit_weights():
    memory = prioritised(alpha=0.0)
    memory.update_priorities([0, 1, 2], [5.0, 0.0, 1.0])
    probs = memory.probabilities()
    np.testing.assert_allclose(probs[[0, 1, 2, 3, 4, 6, 7]], 1 / 7)
    np.testing.assert_allclose(memory.sample(32, gen()).weights.numpy(), 1.0)


# -- n-step returns --------------------------------------------------------------------------------------------------


def test_n_step_returns_by_hand():
    memory = ReplayMemory(16, frame_shape=(2, 2), history=2, n_step=3, gamma=0.5)
    memory.start_episode(frame(0))
    for t, reward in enumerate([1.0, 2.0, 3.0, 4.0], start=1):
        memory.add(frame(t), action=0, reward=reward, done=t == 4)
    memory.start_episode(frame(10))  # slot 5
    memory.add(frame(11), action=0, reward=1.0, done=False)
    memory.add(frame(12), action=0, reward=1.0, done=False)
    assert len(memory) == 4  # slots 5 and 6 wait for a third step or the episode's end
    waiting = ReplayMemory(16, frame_shape=(2, 2), history=2, n_step=3)
    episode(waiting, 0, [1, 2], terminal=False)
    with pytest.raises(ConfigError, match="expected at least one complete transition, received 3 stored frames"):
        waiting.sample(1)
    memory.start_episode(frame(20))  # truncates the second episode: no done, bootstrap from its last frame
    rows = rows_by_index(memory, draws=300)
    got = {k: (v[1][-1], v[3], v[4], v[5]) for k, v in rows.items()}  # (bootstrap frame, return, done, gamma^k)
    assert got == {
        0: (3, 1 + 0.5 * 2 + 0.25 * 3, 0.0, 0.125),
        1: (4, 2 + 0.5 * 3 + 0.25 * 4, 1.0, 0.125),
        2: (4, 3 + 0.5 * 4, 1.0, 0.25),
        3: (4, 4.0, 1.0, 0.5),
        5: (12, 1 + 0.5 * 1, 0.0, 0.25),
        6: (12, 1.0, 0.0, 0.5),
    }


# -- targets and loss ------------------------------------------------------------------------------------------------

NEXT_Q_ONLINE = torch.tensor([[1.0, 5.0], [3.0, 2.0]])
NEXT_Q_TARGET = torch.tensor([[4.0, 0.5], [-1.0, 7.0]])
REWARDS = torch.tensor([1.0, 2.0])


def test_td_target_by_hand():
    assert td_target(REWARDS, torch.tensor([0.0, 1.0]), 0.9, NEXT_Q_TARGET).tolist() == pytest.approx([4.6, 2.0])
    got = td_target(REWARDS, torch.tensor([False, False]), torch.tensor([0.81, 0.9]), NEXT_Q_TARGET)
    assert got.tolist() == pytest.approx([1 + 0.81 * 4, 2 + 0.9 * 7])


def test_double_dqn_target_by_hand():
    # online argmax: action 1 then action 0; the target network values them at 0.5 and -1.
    got = double_dqn_target(REWARDS, torch.tensor([0.0, 0.0]), 0.9, NEXT_Q_ONLINE, NEXT_Q_TARGET)
    assert got.tolist() == pytest.approx([1 + 0.9 * 0.5, 2 - 0.9])
    got = double_dqn_target(REWARDS, torch.tensor([1.0, 0.0]), 0.9, NEXT_Q_ONLINE, NEXT_Q_TARGET)
    assert got.tolist() == pytest.approx([1.0, 2 - 0.9])


def test_targets_carry_no_gradient():
    online = NEXT_Q_ONLINE.clone().requires_grad_()
    target = NEXT_Q_TARGET.clone().requires_grad_()
    assert not double_dqn_target(REWARDS, torch.zeros(2), 0.9, online, target).requires_grad
    assert not td_target(REWARDS, torch.zeros(2), 0.9, target).requires_grad


def test_weighted_huber_loss_by_hand():
    q = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]], requires_grad=True)
    actions = torch.tensor([1, 0, 1])
    targets = torch.tensor([2.5, 3.2, -3.0])  # errors 0.5, 0.2 (quadratic) and -3 (linear: 3 - 0.5)
    loss, td = huber_td_loss(q, actions, targets, torch.tensor([1.0, 0.5, 0.25]))
    assert loss.item() == pytest.approx((0.5 * 0.25 + 0.5 * 0.5 * 0.04 + 0.25 * 2.5) / 3)
    assert td.tolist() == pytest.approx([0.5, 0.2, -3.0])
    loss.backward()
    assert q.grad[:, 0].tolist() == pytest.approx([0.0, -0.5 * 0.2 / 3, 0.0])
    unweighted, _ = huber_td_loss(q, actions, targets)
    assert unweighted.item() == pytest.approx((0.125 + 0.02 + 2.5) / 3)


# -- storage, saving, errors -----------------------------------------------------------------------------------------


def test_bytes_per_transition():
    memory = ReplayMemory(64, frame_shape=(84, 84))
    # one 84x84 uint8 frame, an int64 action, a float32 reward and four one-byte flags
    assert memory.bytes_per_transition == 84 * 84 + 8 + 4 + 4
    assert memory.bytes_per_transition < 4 * 84 * 84 / 3.9  # a stored 4-frame stack would be 28,224
    assert PrioritizedReplayMemory(64, (84, 84)).bytes_per_transition == 84 * 84 + 16 + 2 * 64 * 8 / 64


def test_state_dict_round_trip_through_safetensors(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    memory = prioritised(n_step=3)
    memory.update_priorities([0, 3, 6], [2.0, 0.5, 1.5])
    episode(memory, 21, [22, 23], terminal=False)  # left open: its two pending transitions must survive too
    state = memory.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    safetensors.save_file(state, tmp_path / "replay.safetensors")
    restored = PrioritizedReplayMemory(16, frame_shape=(2, 2), history=2, n_step=3, alpha=0.7, beta=0.5, eps=0.01)
    restored.load_state_dict(safetensors.load_file(tmp_path / "replay.safetensors"))
    for m in (memory, restored):
        m.add(frame(24), action=24, reward=2.4, done=True)
    assert len(restored) == len(memory) == 10
    a, b = memory.sample(64, gen(5)), restored.sample(64, gen(5))
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    np.testing.assert_array_equal(memory.probabilities(), restored.probabilities())
    with pytest.raises(ConfigError, match=r"expected \(version, capacity, streams, frame shape, history, n_step"):
        ReplayMemory(16, frame_shape=(2, 2), history=3).load_state_dict(ReplayMemory(16, (2, 2)).state_dict())


def test_errors_name_the_fix():
    memory = ReplayMemory(8, frame_shape=(2, 2), history=2)
    with pytest.raises(ConfigError, match="expected `start_episode\\(first_frame\\)` first"):
        memory.add(frame(1), 0, 0.0, False)
    with pytest.raises(ShapeError, match=r"expected uint8 of shape \(2, 2\), received float64 of shape \(3, 2\)"):
        memory.start_episode(np.zeros((3, 2)))
    with pytest.raises(ConfigError, match=r"than \(history \+ n_step\) \* streams = 4 frames, received 4"):
        ReplayMemory(4, history=2, n_step=2)
    memory.start_episode(frame(0))
    memory.add(frame(1), 0, 0.0, True)
    with pytest.raises(ConfigError, match="open episode"):
        memory.add(frame(2), 0, 0.0, False)
