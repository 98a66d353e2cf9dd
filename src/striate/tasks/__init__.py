"""Tasks own what depends on the kind of target: loss, metrics, monitor, results, plots and prediction format.

`classification` (K exclusive classes), `multilabel` (any subset of K labels) and `regression` (real values) are
registered here; further tasks (forecasting, anomaly detection, survival) plug in the same way: a module with a
`Task` subclass decorated by `register_task`, imported below.
"""

from striate.tasks._base import OUTPUT_KINDS, TASKS, Task, create_task, register_task, task_from_description
from striate.tasks.classification import Classification
from striate.tasks.forecast import Forecast
from striate.tasks.multilabel import MultiLabel, average_precision
from striate.tasks.regression import Regression
from striate.tasks.survival import Survival as Survival  # registers; re-exported (redundant alias)

__all__ = ["OUTPUT_KINDS", "TASKS", "Classification", "Forecast", "MultiLabel", "Regression", "Task",
           "average_precision", "create_task", "register_task", "task_from_description"]
