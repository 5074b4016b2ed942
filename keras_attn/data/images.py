"""Compatibility: the image contract lives in `keras_attn.images`.

`keras_attn.data.images.load_image` is named by the README of earlier
releases and by every model card written before the move, so this name stays
an alias of that module (the same module object: patching one patches both).
"""

import sys

from keras_attn import images

sys.modules[__name__] = images
