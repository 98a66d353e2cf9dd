"""Data: datasets by name, their typed description, split strategies, preprocessing and batched loading.

Where a new kind of data goes: a loader module here (images in `sources`, series in `timeseries` and `forecast`, text in
`textdata`, tables in `tabular`) whose functions are registered by name with `register_dataset`; everything after
loading reads the `Dataset` description only.
"""

from striate.data import sources as _sources  # noqa: F401  (registers first: listed first)
from striate.data import survival as _survival  # noqa: F401  (registers)
from striate.data import tabular as _tabular  # noqa: F401  (registers)
from striate.data import textdata as _textdata  # noqa: F401  (registers)
from striate.data import timeseries as _timeseries  # noqa: F401  (registers)
from striate.data import volumes as _volumes  # noqa: F401  (registers)
from striate.data._dataset import INPUT_KINDS, NORMALIZATIONS, TARGET_KINDS, Dataset, Splits, channel_stats
from striate.data._registry import DatasetEntry, list_datasets, load_data, parse_data_spec, register_dataset
from striate.data.loader import BatchLoader
from striate.data.preprocess import Pipeline, Preprocess
from striate.data.sources import image_to_array, load_digits, load_fashion_mnist, load_image_folder

__all__ = ["INPUT_KINDS", "NORMALIZATIONS", "TARGET_KINDS", "BatchLoader", "Dataset", "DatasetEntry", "Pipeline",
           "Preprocess", "Splits", "channel_stats", "image_to_array", "list_datasets", "load_data", "load_digits",
           "load_fashion_mnist", "load_image_folder", "parse_data_spec", "register_dataset"]
