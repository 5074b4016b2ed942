"""Measuring a model: metrics, the evaluation report and its plots, scoring a
file on a split (`evaluate`), and the pointing game of attention maps.

Import the modules themselves (`keras_attn.evaluation.report`): this package
re-exports nothing, so training's use of `report` does not load `evaluate`
and the runtimes it drives.
"""
