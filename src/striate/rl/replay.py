"""Replay memories for DQN: each frame stored once as uint8, stacks of `history` frames rebuilt when sampling.

Storing the frame once costs `H * W` bytes per transition (7,056 for an 84x84 grey frame) plus 16 bytes of action,
reward and flags, against 28,224 bytes for one stored 4-frame stack (56,448 when the next state's stack is stored
too), so a one-million-transition memory needs about 7 GB instead of 28-56 GB.

Layout: slot `i` holds a frame and, when one was taken from it, the transition out of it (`actions[i]`,
`rewards[i]`, `dones[i]`); the frame it led to is in slot `i + 1`. An episode is written as
`start_episode(first_frame)` followed by `add(next_frame, action, reward, done)` per step, the usual order of an
environment loop (`obs = env.reset()`; then `obs, reward, done = env.step(action)`).

Several environments acting side by side (a vector of `streams`) each write their own episodes into their own
contiguous share of the slots, so consecutive steps of one environment stay in consecutive slots; sampling is uniform
(or prioritised) over all of them.

Frames may be `(H, W)` (grey screens) or `(C, H, W)` (MinAtar's object channels); stacks of `(C, H, W)` frames are
returned as `(history * C, H, W)`, oldest frame's channels first, the input layout of the networks.

A stack never spans an episode boundary: the slots before an episode's first frame are filled with that first frame
(not zeros). The agent's own frame stack at the start of an episode must pad the same way, and repeating the first
frame keeps every input a plausible screen, where zeros would show the network a black screen the game never
displays. A transition becomes sampleable once its n-step return is complete (n later frames, or an episode end),
and stops being sampleable when its slot or a frame of its stack is overwritten.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np
import torch

from striate.errors import ConfigError, ShapeError

_STATE_VERSION = 2


class Batch(NamedTuple):
    """A sampled batch, `B` transitions with n-step returns.

    states, next_states: `(B, history, H, W)` uint8 (`(B, history * C, H, W)` for `(C, H, W)` frames). actions,
    indices: `(B,)` int64. rewards (the discounted n-step
    return), dones (1.0 where the episode terminated within the n steps), discounts (`gamma ** k`, `k` the steps
    actually summed), weights (importance weights, ones for uniform sampling): `(B,)` float32.
    """

    states: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_states: torch.Tensor
    dones: torch.Tensor
    discounts: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor


class ReplayMemory:
    """A circular replay memory of `capacity` frames with uniform sampling and n-step returns.

    Args:
        capacity: frames kept; the oldest are overwritten. Each stream gets `capacity // streams` slots, which must
            exceed `history + n_step`.
        frame_shape: `(H, W)` of one grey frame or `(C, H, W)` of a multi-channel one.
        history: frames per stacked state (4 in Mnih et al. 2015).
        n_step: rewards summed per return, `r_t + gamma r_{t+1} + ... + gamma^{k-1} r_{t+k-1}`, `k <= n_step`, cut
            at episode ends. An episode that ends by termination gets `done = 1`; one cut short (a time limit, i.e.
            `start_episode` called without a `done`) bootstraps from its last stored frame.
        gamma: discount per step.
        streams: environments writing episodes side by side; `start_episode` and `add` name theirs.

    Example:
        >>> memory = ReplayMemory(100, frame_shape=(84, 84))
        >>> memory.start_episode(np.zeros((84, 84), np.uint8))
        >>> memory.add(np.ones((84, 84), np.uint8), action=1, reward=0.5, done=True)
        >>> memory.sample(2, torch.Generator().manual_seed(0)).states.shape
        torch.Size([2, 4, 84, 84])
    """

    def __init__(self, capacity: int, frame_shape: tuple[int, int] = (84, 84), history: int = 4, n_step: int = 1,
                 gamma: float = 0.99, streams: int = 1):
        if history < 1 or n_step < 1:
            raise ConfigError(f"Invalid `history`/`n_step`: expected both at least 1, received {history}/{n_step}.")
        if streams < 1:
            raise ConfigError(f"Invalid `streams`: expected at least 1 environment, received {streams}.")
        if capacity // streams <= history + n_step:
            raise ConfigError(f"Invalid `capacity`: expected more than (history + n_step) * streams = "
                              f"{(history + n_step) * streams} frames, received {capacity}; raise `capacity`.")
        if len(frame_shape) not in (2, 3):
            raise ConfigError(f"Invalid `frame_shape`: expected (H, W) or (C, H, W), received {tuple(frame_shape)}.")
        self.streams, self.segment = int(streams), int(capacity) // int(streams)
        self.capacity, self.frame_shape = self.segment * self.streams, tuple(int(s) for s in frame_shape)
        self.history, self.n_step, self.gamma = int(history), int(n_step), float(gamma)
        self._frames = np.zeros((self.capacity, *self.frame_shape), np.uint8)
        self._actions = np.zeros(self.capacity, np.int64)
        self._rewards = np.zeros(self.capacity, np.float32)
        self._dones = np.zeros(self.capacity, bool)
        self._starts = np.zeros(self.capacity, bool)  # first frame of an episode
        self._lasts = np.zeros(self.capacity, bool)  # no transition out of this frame (yet)
        self._sampleable = np.zeros(self.capacity, bool)
        self._count = 0
        self._cursor = np.zeros(self.streams, np.int64)  # per stream: next slot to write, relative to its first slot
        self._size = np.zeros(self.streams, np.int64)  # per stream: slots holding a frame
        self._latest = np.full(self.streams, -1, np.int64)  # newest frame of the open episode, -1 when none is open
        self._pending: list[deque[int]] = [deque() for _ in range(self.streams)]  # n-step return not complete yet

    # -- writing ------------------------------------------------------------------------------------------------------

    def start_episode(self, frame, stream: int = 0) -> None:
        """Store an episode's first observation (a `frame_shape` uint8 array) written by environment `stream`; an
        open episode of that stream without `done` counts as truncated."""
        self._flush(self._stream(stream))
        self._latest[stream] = self._write_frame(frame, start=True, stream=stream)

    def add(self, frame, action: int, reward: float, done: bool, stream: int = 0) -> None:
        """Store the step of environment `stream` from its newest frame: `action` taken, `reward` received, `frame`
        reached and whether the episode terminated there."""
        p = int(self._latest[self._stream(stream)])
        if p < 0:
            raise ConfigError("`ReplayMemory.add` needs an open episode: expected `start_episode(first_frame)` first, "
                              "received a step with no episode open; call `start_episode` after reset and after done.")
        self._actions[p], self._rewards[p], self._dones[p] = int(action), float(reward), bool(done)
        self._lasts[p] = False
        self._latest[stream] = self._write_frame(frame, start=False, stream=stream)
        pending = self._pending[stream]
        pending.append(p)
        if done:
            self._flush(stream)
        elif len(pending) == self.n_step:
            self._set_sampleable(pending.popleft(), True)

    def _stream(self, stream: int) -> int:
        if not 0 <= stream < self.streams:
            raise ConfigError(f"Invalid `stream`: expected an environment index in [0, {self.streams}), received "
                              f"{stream}; build the memory with `streams` equal to the number of environments.")
        return stream

    def _flush(self, stream: int) -> None:
        pending = self._pending[stream]
        while pending:
            self._set_sampleable(pending.popleft(), True)
        self._latest[stream] = -1

    def _write_frame(self, frame, start: bool, stream: int) -> int:
        frame = np.asarray(frame.cpu() if isinstance(frame, torch.Tensor) else frame)
        if frame.shape != self.frame_shape or frame.dtype != np.uint8:
            raise ShapeError(f"Invalid `frame`: expected uint8 of shape {self.frame_shape}, received {frame.dtype} "
                             f"of shape {tuple(frame.shape)}; convert observations to uint8 {self.frame_shape} first.")
        q = stream * self.segment + int(self._cursor[stream])
        if self._size[stream] == self.segment:
            self._forget(q)
        self._frames[q] = frame
        self._starts[q], self._lasts[q], self._dones[q] = start, True, False
        self._actions[q], self._rewards[q] = 0, 0.0
        self._cursor[stream] = (self._cursor[stream] + 1) % self.segment
        self._size[stream] = min(self._size[stream] + 1, self.segment)
        return q

    def _forget(self, q: int) -> None:
        """Slot `q` (its stream's oldest) is about to be overwritten: its transition and any stack reaching back to it
        go."""
        self._set_sampleable(q, False)
        s = q
        for _ in range(1, self.history):
            s = int(self._next(s))
            if self._starts[s]:
                break
            self._set_sampleable(s, False)

    def _next(self, slots):
        """The slot after each of `slots` in its own stream (wrapping within the stream's share)."""
        base = slots - slots % self.segment
        return base + (slots - base + 1) % self.segment

    def _previous(self, slots):
        base = slots - slots % self.segment
        return base + (slots - base - 1) % self.segment

    def _set_sampleable(self, slot: int, value: bool) -> None:
        if self._sampleable[slot] != value:
            self._sampleable[slot] = value
            self._count += 1 if value else -1

    # -- reading ------------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Transitions that can be sampled now."""
        return self._count

    @property
    def bytes_per_transition(self) -> float:
        """Bytes of storage per slot: the uint8 frame plus action, reward and flags (7,072 for 84x84 frames)."""
        return sum(a.nbytes for a in self._arrays().values()) / self.capacity

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """Draw `batch_size` transitions (with replacement) and rebuild their stacks; see `Batch` for the shapes."""
        if self._count == 0:
            raise ConfigError(f"Cannot sample: expected at least one complete transition, received {self._size.sum()} "
                              f"stored frames and none complete; add more steps before sampling.")
        indices, weights = self._draw(int(batch_size), generator)
        returns, discounts, dones, boot = self._n_step(indices)
        return Batch(
            states=self._stacks(indices),
            actions=torch.from_numpy(self._actions[indices]),
            rewards=torch.from_numpy(returns.astype(np.float32)),
            next_states=self._stacks(boot),
            dones=torch.from_numpy(dones.astype(np.float32)),
            discounts=torch.from_numpy(discounts.astype(np.float32)),
            indices=torch.from_numpy(indices.astype(np.int64)),
            weights=torch.from_numpy(weights.astype(np.float32)),
        )

    def _stacks(self, indices: np.ndarray) -> torch.Tensor:
        stacks = self._frames[self._stack_slots(indices)]  # (B, history, *frame_shape)
        if len(self.frame_shape) == 3:
            stacks = stacks.reshape(len(indices), -1, *self.frame_shape[1:])  # (B, history * C, H, W)
        return torch.from_numpy(stacks)

    def _draw(self, batch_size: int, generator: torch.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        """Uniform over sampleable slots: rejection from all stored slots (exactly uniform on the accepted ones),
        falling back to an explicit list when few are sampleable."""
        chosen: list[np.ndarray] = []
        needed = batch_size
        ends = np.cumsum(self._size)  # each stream's stored slots are the first `size` of its share
        for _ in range(8):
            draws = torch.randint(0, int(ends[-1]), (2 * needed + 8,), generator=generator).numpy()
            streams = np.searchsorted(ends, draws, side="right")
            candidates = streams * self.segment + draws - (ends - self._size)[streams]
            accepted = candidates[self._sampleable[candidates]][:needed]
            chosen.append(accepted)
            needed -= len(accepted)
            if needed == 0:
                break
        if needed:
            valid = np.flatnonzero(self._sampleable)
            chosen.append(valid[torch.randint(0, len(valid), (needed,), generator=generator).numpy()])
        return np.concatenate(chosen), np.ones(batch_size)

    def _stack_slots(self, indices: np.ndarray) -> np.ndarray:
        """`(B,)` newest slots -> `(B, history)` slots, oldest first, repeating the episode's first frame."""
        slots = np.empty((len(indices), self.history), np.int64)
        slots[:, -1] = indices
        for k in range(self.history - 2, -1, -1):
            newer = slots[:, k + 1]
            slots[:, k] = np.where(self._starts[newer], newer, self._previous(newer))
        return slots

    def _n_step(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Discounted return, `gamma ** k`, termination flag and bootstrap slot for each transition in `indices`."""
        returns, discounts = np.zeros(len(indices)), np.ones(len(indices))
        dones, active = np.zeros(len(indices), bool), np.ones(len(indices), bool)
        slots = indices.copy()
        for _ in range(self.n_step):
            returns += np.where(active, discounts * self._rewards[slots], 0.0)
            discounts = np.where(active, discounts * self.gamma, discounts)
            ended = self._dones[slots]
            dones |= active & ended
            following = self._next(slots)
            slots = np.where(active, following, slots)
            active &= ~(ended | self._lasts[following])
        return returns, discounts, dones, slots

    # -- saving -------------------------------------------------------------------------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"frames": self._frames, "actions": self._actions, "rewards": self._rewards, "dones": self._dones,
                "starts": self._starts, "lasts": self._lasts, "sampleable": self._sampleable}

    def _config(self) -> list[float]:
        return [_STATE_VERSION, self.capacity, self.streams, *self.frame_shape, self.history, self.n_step,
                self.gamma]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything needed to continue exactly, as tensors only (savable with safetensors, no pickle)."""
        state = {k: torch.from_numpy(a.copy()) for k, a in self._arrays().items()}
        state["config"] = torch.tensor(self._config(), dtype=torch.float64)
        state["counters"] = torch.from_numpy(np.stack([self._cursor, self._size, self._latest], axis=1))  # (S, 3)
        state["count"] = torch.tensor(self._count, dtype=torch.int64)
        state["pending"] = torch.tensor([(s, p) for s, queue in enumerate(self._pending) for p in queue],
                                        dtype=torch.int64).reshape(-1, 2)  # (K, 2) stream, slot; oldest first
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore from `state_dict()`; the memory must have been built with the same settings."""
        saved = [float(v) for v in state["config"].tolist()]
        if saved != [float(v) for v in self._config()]:
            raise ConfigError(f"Invalid replay state: expected (version, capacity, streams, frame shape, history, "
                              f"n_step, gamma) = "
                              f"{self._config()}, received {saved}; build the memory with the saved settings.")
        for key, array in self._arrays().items():
            array[...] = state[key].numpy()
        counters = state["counters"].numpy()
        self._cursor, self._size, self._latest = (counters[:, k].copy() for k in range(3))
        self._count = int(state["count"])
        self._pending = [deque() for _ in range(self.streams)]
        for stream, slot in state["pending"].tolist():
            self._pending[stream].append(slot)


class SumTree:
    """A binary tree whose leaves hold `capacity` non-negative priorities and whose inner nodes hold sums.

    Written by hand because neither numpy nor torch offers a prefix sum with O(log N) point updates and O(log N)
    search: `cumsum` + `searchsorted` (or `torch.multinomial`) costs O(N) per sample and per priority update, which
    for a million transitions sampled every four steps dominates training. Parents are recomputed from their
    children on every update (never adjusted by a difference), so rounding errors do not accumulate.

    Layout: node 1 is the root, node `i` has children `2i` and `2i + 1`, leaf `j` is node `size + j` with `size` the
    next power of two, so every leaf is at the same depth and the descent keeps leaf order.
    """

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._size = 1 << max(0, (self.capacity - 1).bit_length())
        self._tree = np.zeros(2 * self._size, np.float64)

    @property
    def total(self) -> float:
        return float(self._tree[1])

    @property
    def leaves(self) -> np.ndarray:
        """`(capacity,)` the priorities (a view)."""
        return self._tree[self._size:self._size + self.capacity]

    def update(self, indices, values) -> None:
        """Set the leaves `indices` `(K,)` to `values` `(K,)` (the last wins for repeated indices)."""
        nodes = np.asarray(indices, np.int64) + self._size
        self._tree[nodes] = np.asarray(values, np.float64)
        while nodes.size and nodes[0] > 1:
            nodes = np.unique(nodes // 2)
            self._tree[nodes] = self._tree[2 * nodes] + self._tree[2 * nodes + 1]

    def set(self, index: int, value: float) -> None:
        """Set one leaf: the per-step path, a plain loop that is ~10x faster than `update` for a single index."""
        node = int(index) + self._size
        tree = self._tree
        tree[node] = value
        while node > 1:
            node //= 2
            tree[node] = tree[2 * node] + tree[2 * node + 1]

    def find(self, values) -> np.ndarray:
        """`(K,)` prefix sums in `[0, total)` -> `(K,)` leaves `j` with `sum(leaves[:j]) <= value < sum(leaves[:j+1])`;
        always a leaf with positive priority, even when rounding puts a value at `total`."""
        values = np.asarray(values, np.float64).copy()
        nodes = np.ones(len(values), np.int64)
        for _ in range(self._size.bit_length() - 1):  # one level per step, root to leaves
            left = self._tree[2 * nodes]
            right = (values >= left) & (self._tree[2 * nodes + 1] > 0)
            values = np.where(right, values - left, values)
            nodes = 2 * nodes + right
        return nodes - self._size


class PrioritizedReplayMemory(ReplayMemory):
    """Proportional prioritised replay (Schaul et al. 2016) on top of `ReplayMemory`.

    Transition `i` is drawn with `P(i) = p_i^alpha / sum_k p_k^alpha`, `p_i = |delta_i| + eps` (new transitions get
    the largest priority seen so far, so each is replayed at least once soon), by stratified sampling: the total is cut
    into `B` equal ranges and one value drawn in each, as in the paper; each draw's marginal is still `P(i)` on
    average over the batch. Importance weights `w_i = (N P(i))^-beta`, `N` the sampleable transitions, are divided
    by the batch's largest weight (as Dopamine does; the paper's "max_i w_i" is read per batch), so they only scale
    the loss down. The caller anneals `beta` towards 1 by setting the attribute.

    Args:
        alpha: prioritisation exponent, 0 for uniform. beta: initial importance exponent. eps: keeps priorities > 0.
        Others: as `ReplayMemory`.
    """

    def __init__(self, capacity: int, frame_shape: tuple[int, int] = (84, 84), history: int = 4, n_step: int = 1,
                 gamma: float = 0.99, streams: int = 1, alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6):
        if alpha < 0 or beta < 0 or eps <= 0:
            raise ConfigError(f"Invalid prioritised replay settings: expected alpha >= 0, beta >= 0 and eps > 0, "
                              f"received alpha={alpha}, beta={beta}, eps={eps}.")
        self.alpha, self.beta, self.eps = float(alpha), float(beta), float(eps)
        self._tree = SumTree(capacity // max(1, streams) * max(1, streams))
        self._max_priority = 1.0
        super().__init__(capacity, frame_shape, history, n_step, gamma, streams)

    def _set_sampleable(self, slot: int, value: bool) -> None:
        super()._set_sampleable(slot, value)
        self._tree.set(slot, self._max_priority ** self.alpha if value else 0.0)

    def update_priorities(self, indices, td_errors) -> None:
        """Set `p_i = |td_error_i| + eps` for the sampled `indices` `(B,)`; slots overwritten since are skipped."""
        indices = np.asarray(torch.as_tensor(indices).cpu(), np.int64)
        priorities = np.abs(np.asarray(torch.as_tensor(td_errors).detach().cpu(), np.float64)) + self.eps
        keep = self._sampleable[indices]
        self._tree.update(indices[keep], priorities[keep] ** self.alpha)
        if keep.any():
            self._max_priority = max(self._max_priority, float(priorities[keep].max()))

    def probabilities(self) -> np.ndarray:
        """`(capacity,)` float64 `P(i)`, zero where nothing is sampleable."""
        return self._tree.leaves / self._tree.total

    def _draw(self, batch_size: int, generator: torch.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        total = self._tree.total
        offsets = torch.rand(batch_size, generator=generator, dtype=torch.float64).numpy()
        indices = self._tree.find((np.arange(batch_size) + offsets) * (total / batch_size))
        weights = (self._count * self._tree.leaves[indices] / total) ** -self.beta
        return indices, weights / weights.max()

    @property
    def bytes_per_transition(self) -> float:
        """As `ReplayMemory`, plus the sum tree's float64 nodes (16 bytes a slot when `capacity` is a power of 2)."""
        return super().bytes_per_transition + self._tree._tree.nbytes / self.capacity

    def _config(self) -> list[float]:
        return [*super()._config(), self.alpha, self.eps]

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = super().state_dict()
        state["priorities"] = torch.from_numpy(self._tree.leaves.copy())
        state["max_priority"] = torch.tensor(self._max_priority, dtype=torch.float64)
        state["beta"] = torch.tensor(self.beta, dtype=torch.float64)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        super().load_state_dict(state)
        self._tree.update(np.arange(self.capacity), state["priorities"].numpy())
        self._max_priority, self.beta = float(state["max_priority"]), float(state["beta"])
