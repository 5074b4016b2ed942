"""keras-attn: a learned spatial-attention module on a pretrained ResNet-18.

Few-shot fine-tuning, attention maps you can look at, and quantised TFLite
export. See README.md.

Importing the package registers every class a keras-attn `model.keras`
names (keras-hub's `ResNetBackbone`, our attention layers, `ResizeImages`,
the optimizer), so after `import keras_attn` a plain
`keras.saving.load_model(path)` loads it, as after `import keras_hub` for
keras-hub models.
"""

from keras_attn.utils.quiet_tf import import_tensorflow_quietly

import_tensorflow_quietly()  # keras-hub imports TensorFlow: quiet unless asked not to

import keras_hub  # noqa: E402, F401  (registers ResNetBackbone)

from keras_attn import layers, models, optimizers, runs  # noqa: E402, F401
from keras_attn.saving import load_model  # noqa: E402, F401

__version__ = "0.1.0"
