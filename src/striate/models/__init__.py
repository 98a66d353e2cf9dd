"""The model zoo: `create(name, num_classes=..., in_channels=..., input_size=...)` and the registry behind it."""

from striate.models import convnet as _convnet  # noqa: F401  (registers)
from striate.models import lenet as _lenet  # noqa: F401  (registers)
from striate.models._base import Classifier
from striate.models._registry import ModelEntry, create, get_entry, list_models, register_model

__all__ = ["Classifier", "ModelEntry", "create", "get_entry", "list_models", "register_model"]
