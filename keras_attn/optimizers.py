"""AdamW with a learning-rate multiplier for chosen variables.

Fine-tuning a pretrained backbone at a fraction of the head's learning rate is
the usual recipe for small datasets; Keras 3 optimizers have no per-variable
rates, so this subclass scales the rate inside `update_step`, which every
backend's apply path (TF, JAX stateless, torch) calls per variable.
"""

import keras


@keras.saving.register_keras_serializable(package="keras_attn")
class ScaledAdamW(keras.optimizers.AdamW):
    """`AdamW` that multiplies the learning rate of some variables.

    Args:
        lr_multipliers: variable path -> multiplier (e.g. 0.1 for every
            backbone weight). Variables not listed use the plain rate.
        **kwargs: `keras.optimizers.AdamW` arguments.
    """

    def __init__(self, lr_multipliers: dict[str, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.lr_multipliers = dict(lr_multipliers or {})

    def build(self, var_list):
        super().build(var_list)
        # Backends hand `update_step` their own variable objects (TF passes the
        # tf.Variable), so look the scale up by the optimizer's variable index.
        self._lr_scales = [self.lr_multipliers.get(v.path, 1.0) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        scale = self._lr_scales[self._get_variable_index(variable)]
        if scale != 1.0:
            learning_rate = learning_rate * scale
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["lr_multipliers"] = self.lr_multipliers
        return config
