"""Data: datasets as uint8 images at their stored size, few-shot sampling,
augmentation.

`load_dataset` and friends are free of TensorFlow; `augment` (Keras layers) is
imported on demand: `from keras_attn.data.augment import build_augmenter`.
"""

from keras_attn.data.datasets import DATASET_NAMES, load_dataset
from keras_attn.data.fewshot import DataError, sample_per_class
from keras_attn.data.shapes import SHAPE_CLASSES, make_shapes
from keras_attn.data.splits import Dataset, Split

__all__ = [
    "DATASET_NAMES",
    "SHAPE_CLASSES",
    "DataError",
    "Dataset",
    "Split",
    "load_dataset",
    "make_shapes",
    "sample_per_class",
]
