"""Training: the `Trainer`, its callbacks, and `train()` which runs a whole configured job into a run folder."""

from striate.train.callbacks import Callback, MetricsLogger, ProgressBar
from striate.train.trainer import Trainer

__all__ = ["Callback", "MetricsLogger", "ProgressBar", "Trainer"]
