"""Data: datasets as uint8 images at their stored size, few-shot sampling,
augmentation.

The names below are loaded on first use (PEP 562), so importing one
submodule (`keras_attn.data.splits`, which the run folder needs) does not load
every dataset loader. `load_dataset` and friends are free of TensorFlow;
`augment` (Keras layers) is imported on demand:
`from keras_attn.data.augment import build_augmenter`.
"""

import importlib

_EXPORTS = {
    "DATASET_NAMES": "keras_attn.data.datasets",
    "load_dataset": "keras_attn.data.datasets",
    "DataError": "keras_attn.errors",
    "sample_per_class": "keras_attn.data.fewshot",
    "SHAPE_CLASSES": "keras_attn.data.shapes",
    "make_shapes": "keras_attn.data.shapes",
    "Dataset": "keras_attn.data.splits",
    "Split": "keras_attn.data.splits",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_attn.data' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
