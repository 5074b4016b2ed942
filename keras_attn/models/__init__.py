"""The keras-attn models: the ResNet-18 backbone and the attention classifier."""

from keras_attn.models.backbone import load_backbone
from keras_attn.models.classifier import (
    attention_model,
    build_classifier,
    get_backbone,
    set_backbone_trainable,
)

__all__ = [
    "attention_model",
    "build_classifier",
    "get_backbone",
    "load_backbone",
    "set_backbone_trainable",
]
