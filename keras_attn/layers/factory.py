"""The name -> attention layer factory that models and flags use (timm's
`create_attn.py`): variants differ by one argument, `attention="cbam"`."""

import keras

from keras_attn.layers.cbam import CBAM
from keras_attn.layers.eca import ECA
from keras_attn.layers.squeeze_excite import SqueezeExcite
from keras_attn.layers.unified_attention import UnifiedSpatialAttention

ATTENTION_NAMES = ("none", "unified", "se", "cbam", "eca")

_LAYERS = {
    "unified": UnifiedSpatialAttention,
    "se": SqueezeExcite,
    "cbam": CBAM,
    "eca": ECA,
}


def get_attention(
    attention: str, name: str = "attention", **kwargs
) -> keras.layers.Layer | None:
    """Builds the attention layer `attention`, one of `ATTENTION_NAMES`.

    `"none"` gives `None`. `name` is the Keras layer name; `kwargs` go to the
    layer's constructor (e.g. `branches=("contextual",)` for an ablation of
    the unified layer).
    """
    if attention not in ATTENTION_NAMES:
        raise ValueError(
            f"Unknown attention '{attention}'. "
            f"Choose one of: {', '.join(ATTENTION_NAMES)}."
        )
    if attention == "none":
        return None
    return _LAYERS[attention](name=name, **kwargs)
