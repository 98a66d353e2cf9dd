"""Data: in-memory datasets by name, their splits and batched loading."""

from striate.data._dataset import Dataset, Splits, channel_stats
from striate.data.loader import BatchLoader
from striate.data.sources import DATASETS, image_to_array, load_data, load_digits, load_fashion_mnist, load_image_folder

__all__ = ["DATASETS", "BatchLoader", "Dataset", "Splits", "channel_stats", "image_to_array", "load_data",
           "load_digits", "load_fashion_mnist", "load_image_folder"]
