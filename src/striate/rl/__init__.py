"""Deep Q-learning from pixels (Mnih et al. 2015): the replay memory and the learning targets.

`ReplayMemory` stores each frame once as uint8 and rebuilds `history`-frame stacks when sampling, with n-step
returns; `PrioritizedReplayMemory` adds proportional prioritised replay (Schaul et al. 2016) over a `SumTree`.
`td_target`, `double_dqn_target` and `huber_td_loss` turn a sampled `Batch` and the networks' Q-values into a loss.
The network itself is the zoo's `dqn` (`striate.models.create("dqn", ...)`). `make_atari` (in `striate.rl.envs`,
imported on use: it needs gymnasium and ale-py) gives a game with the paper's preprocessing from gymnasium's wrappers.
"""

from striate.rl.replay import Batch, PrioritizedReplayMemory, ReplayMemory, SumTree
from striate.rl.targets import double_dqn_target, huber_td_loss, td_target

__all__ = ["Batch", "PrioritizedReplayMemory", "ReplayMemory", "SumTree", "double_dqn_target", "huber_td_loss",
           "td_target"]
