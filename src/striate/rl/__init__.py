"""Deep Q-learning from pixels (Mnih et al. 2015): environments, the replay memory, targets, the agent and training.

    from striate.rl import DQNSettings, load_agent, play_episodes, train_dqn

    run = train_dqn(DQNSettings(env="MinAtar/Breakout", frames=500_000, double=True), out="runs")
    agent, settings, _ = load_agent(run)
    scores = [game.score for game in play_episodes(agent, settings, 10, epsilon=0.0, seed=0)]

`make_env` gives a game as DQN sees it (Atari with the paper's preprocessing from gymnasium's wrappers, MinAtar, or
any gymnasium game with image observations; it needs the `rl` extra). `ReplayMemory` stores each frame once as
uint8 and rebuilds `history`-frame stacks when sampling, with n-step returns; `PrioritizedReplayMemory` adds
proportional prioritised replay (Schaul et al. 2016) over a `SumTree`. `td_target`, `double_dqn_target` and
`huber_td_loss` turn a sampled `Batch` into a loss; `DQNAgent` acts and learns with the zoo's `dqn` or
`minatar_dqn`; `train_dqn` runs the whole loop into a run folder (`striate.rl.training`).
"""

from striate.rl.agent import DQNAgent, LinearSchedule
from striate.rl.envs import EnvInfo, env_info, make_atari, make_env
from striate.rl.replay import Batch, PrioritizedReplayMemory, ReplayMemory, SumTree
from striate.rl.targets import double_dqn_target, huber_td_loss, td_target
from striate.rl.training import DQNSettings, load_agent, play_episodes, train_dqn

__all__ = ["Batch", "DQNAgent", "DQNSettings", "EnvInfo", "LinearSchedule", "PrioritizedReplayMemory",
           "ReplayMemory", "SumTree", "double_dqn_target", "env_info", "huber_td_loss", "load_agent", "make_atari",
           "make_env", "play_episodes", "td_target", "train_dqn"]
