"""Attention layers and the name -> layer factory used by models and flags."""

from keras_attn.layers.cbam import CBAM
from keras_attn.layers.eca import ECA
from keras_attn.layers.factory import ATTENTION_NAMES, get_attention
from keras_attn.layers.squeeze_excite import SqueezeExcite
from keras_attn.layers.unified_attention import BRANCHES, UnifiedSpatialAttention

__all__ = [
    "ATTENTION_NAMES",
    "BRANCHES",
    "CBAM",
    "ECA",
    "SqueezeExcite",
    "UnifiedSpatialAttention",
    "get_attention",
]
