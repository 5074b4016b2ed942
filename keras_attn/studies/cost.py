"""What a variant costs: parameters and multiply-accumulates per image."""

from __future__ import annotations

import keras
import numpy as np

from keras_attn.models import classifier
from keras_attn.studies.variants import parse_variant, split_variant


def model_cost(backbone, input_shape, image_size: int, num_classes: int, variant):
    """Parameters and FLOPs per image of the full classifier of a variant.

    FLOPs come from XLA's cost analysis of the inference function
    (`jax.jit(...).lower(...).cost_analysis()`, JAX backend only; None on
    other backends); MACs = FLOPs / 2.
    """
    attention, kwargs = parse_variant(variant)
    model = classifier.build_classifier(
        num_classes,
        input_shape,
        image_size,
        attention=attention,
        attention_kwargs=kwargs,
        backbone=backbone,
        stages=split_variant(variant)[1],
    )
    cost = {"parameters": int(model.count_params()), "flops": None}
    if keras.backend.backend() == "jax":
        import jax

        def forward(trainable, non_trainable, x):
            return model.stateless_call(trainable, non_trainable, x, training=False)[0]

        x = np.zeros((1, *input_shape), np.float32)
        lowered = jax.jit(forward).lower(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            x,
        )
        analysis = lowered.cost_analysis()
        if isinstance(analysis, list):
            analysis = analysis[0]
        cost["flops"] = float(analysis["flops"])
    return cost
