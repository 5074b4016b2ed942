"""A finished run loaded whole: model, config, labels and samples."""

from __future__ import annotations

import dataclasses

from keras_attn.runs.layout import CONFIG, LABELS, MODEL, SAMPLES, path, require
from keras_attn.runs.records import read_config, read_labels
from keras_attn.runs.samples import Samples, read_samples


@dataclasses.dataclass
class Run:
    """A finished run, as export and the figures need it."""

    run_dir: str
    model: object  # keras.Model
    config: dict
    labels: list[str]
    samples: Samples

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.model.input_shape[1:])


def load_run(run_dir: str) -> Run:
    """Loads a finished run's model, config, labels and samples (no data needed)."""
    from keras_attn.saving import load_model

    require(run_dir, MODEL, CONFIG, LABELS, SAMPLES)
    labels = read_labels(run_dir)
    model = load_model(path(run_dir, MODEL))
    if int(model.output_shape[-1]) != len(labels):
        raise ValueError(
            f"{path(run_dir, LABELS)} has {len(labels)} labels but the model has "
            f"{model.output_shape[-1]} outputs."
        )
    return Run(run_dir, model, read_config(run_dir), labels, read_samples(run_dir))
