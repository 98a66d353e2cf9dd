"""The model zoo: `create(name, num_classes=..., in_channels=..., input_size=...)` and the registry behind it."""

from striate.models import alexnet as _alexnet  # noqa: F401  (registers)
from striate.models import allconv as _allconv  # noqa: F401  (registers)
from striate.models import atomnet as _atomnet  # noqa: F401  (registers)
from striate.models import capsnet as _capsnet  # noqa: F401  (registers)
from striate.models import convnet as _convnet  # noqa: F401  (registers)
from striate.models import dqn as _dqn  # noqa: F401  (registers)
from striate.models import googlenet as _googlenet  # noqa: F401  (registers)
from striate.models import lenet as _lenet  # noqa: F401  (registers)
from striate.models import multicolumn as _multicolumn  # noqa: F401  (registers)
from striate.models import neocognitron as _neocognitron  # noqa: F401  (registers)
from striate.models import resnet as _resnet  # noqa: F401  (registers)
from striate.models import tcn as _tcn  # noqa: F401  (registers)
from striate.models import tdnn as _tdnn  # noqa: F401  (registers)
from striate.models import textcnn as _textcnn  # noqa: F401  (registers)
from striate.models import timeseries as _timeseries  # noqa: F401  (registers)
from striate.models import twostream as _twostream  # noqa: F401  (registers)
from striate.models import vgg as _vgg  # noqa: F401  (registers)
from striate.models import video as _video  # noqa: F401  (registers)
from striate.models._base import Classifier
from striate.models._registry import ModelEntry, create, get_entry, list_models, register_model

__all__ = ["Classifier", "ModelEntry", "create", "get_entry", "list_models", "register_model"]
