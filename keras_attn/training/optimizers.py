"""The optimizer and its learning-rate schedule.

`ScaledAdamW`: fine-tuning a pretrained backbone at a fraction of the head's
learning rate is the usual recipe for small datasets; Keras 3 optimizers
have no per-variable rates, so this subclass scales the rate inside
`update_step`, which every backend's apply path (TF, JAX stateless, torch)
calls per variable. `WarmupCosine`: the per-step schedule it runs on.
"""

import math

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


@keras.saving.register_keras_serializable(package="keras_attn")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then cosine decay to 0, per optimizer step.

    Few-shot runs have about 30 steps an epoch, so a rate set once an epoch
    jumps; this one moves every step. It is a function of the optimizer's
    step count, which a resumed run restores, so a killed run goes on on the
    same curve. (`keras.optimizers.schedules.CosineDecay` with
    `warmup_steps` has the same shape but starts the warm-up at a rate of 0,
    spending a step.)

    Args:
        peak: the rate at the end of the warm-up.
        total_steps: steps of the whole run.
        warmup_steps: steps of the linear warm-up (rate `peak * (t + 1) /
            warmup_steps` at step t).
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak = peak
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = float(max(self.warmup_steps, 1))
        span = float(max(self.total_steps - self.warmup_steps, 1))
        progress = keras.ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
        cosine = 0.5 * self.peak * (1.0 + keras.ops.cos(math.pi * progress))
        warm = self.peak * (step + 1.0) / warmup
        return keras.ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


class LogLearningRate(keras.callbacks.Callback):
    """Puts the rate at the end of each epoch (the schedule at the optimizer's
    step count) into the logs: `history.csv` and TensorBoard show it."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            rate = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))
