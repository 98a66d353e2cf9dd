"""striate: convolutional neural networks on PyTorch, from data to a trained, explained, exported model.

    >>> import striate
    >>> run = striate.train(data="digits", epochs=3)  # doctest: +SKIP
    >>> striate.load(run.path).predict(["shoe.png"])  # doctest: +SKIP
"""

from striate import explain
from striate.config import RunConfig
from striate.errors import ConfigError, DataError, OutputError, RunFolderError, ShapeError, StriateError, TrainingError
from striate.runs import Run, load
from striate.train.job import train

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataError", "OutputError", "Run", "RunConfig", "RunFolderError", "ShapeError",
           "StriateError", "TrainingError", "explain", "load", "train"]
