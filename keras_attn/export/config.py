"""What `export.py` writes and how hard it checks it: `ExportConfig`."""

from __future__ import annotations

import dataclasses

QUANTIZATIONS = ("fp32", "dynamic", "fp16", "int8")
INT8_IO = ("uint8", "int8", "float32")
SAVED_MODEL_DIR = "saved_model"
REPORT_FILE = "report.json"

# Largest max-abs logit difference to Keras accepted for float32 exports
# (the SavedModel and the fp32 file); measured differences are ~1e-6.
FP32_LOGIT_TOLERANCE = 1e-3
# Ops that would make a file stateful (a variable updated between calls).
VARIABLE_OPS = ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE")


class ExportCheckError(ValueError):
    """An artefact failed its verification; the message names the file and check."""


@dataclasses.dataclass
class ExportConfig:
    """What to export from a run folder, and how hard to check it.

    Attributes:
        run_dir: the run folder (holds `model.keras`, `config.json`, `labels.txt`).
        saved_model: write the SavedModel.
        tflite: write the `.tflite` files named in `quantize`.
        quantize: any of `fp32`, `dynamic`, `fp16`, `int8`.
        calibration_steps: training images that calibrate the int8 file
            (None: all the run keeps, 2 a class, 100-400; see `keras_attn.runs`).
        int8_io: input/output type of the int8 file: `uint8` (what MediaPipe
            and most apps take), `int8` or `float32`.
        eval_images: held-out images that every file is checked on (the
            first of the run's held-out sample; None: all of it).
        parity_images: of those, how many the logit comparison uses.
        latency_runs: timed single-image runs per file and thread count.
        min_agreement: smallest top-1 agreement with Keras a file may have. A
            broken conversion lands near chance; a briefly trained model's
            near-tied logits cost int8 a few points (91 % on the 100-class
            benchmark run), hence 0.8 rather than 0.95.
        seed: seed of the calibration and evaluation draws.
        out_dir: where to write (default `run_dir/export`).
        formats: the formats to write (`export.formats.FORMATS`); None: all
            whose tools are installed.
        keep_failed: write a file that ran but failed an accuracy check
            (agreement, parity, client photos) anyway, marked `kept` in the
            report, instead of leaving it out.
    """

    run_dir: str
    saved_model: bool = True
    tflite: bool = True
    quantize: tuple[str, ...] = QUANTIZATIONS
    calibration_steps: int | None = None
    int8_io: str = "uint8"
    eval_images: int | None = None
    parity_images: int = 200
    latency_runs: int = 50
    min_agreement: float = 0.8
    seed: int = 0
    out_dir: str | None = None
    formats: tuple[str, ...] | None = None
    keep_failed: bool = False

    def validate(self) -> None:
        unknown = [q for q in self.quantize if q not in QUANTIZATIONS]
        if unknown or not self.quantize:
            raise ValueError(
                f"--quantize={','.join(self.quantize)} is not valid: give a "
                f"non-empty subset of {','.join(QUANTIZATIONS)}."
            )
        if self.int8_io not in INT8_IO:
            raise ValueError(
                f"--int8_io={self.int8_io} is not one of {', '.join(INT8_IO)}."
            )
        if self.calibration_steps is not None and self.calibration_steps < 1:
            raise ValueError(
                "--calibration_steps must be >= 0 (0, the default: every training "
                f"image the run keeps). Received: {self.calibration_steps}"
            )
        for key in ("parity_images", "latency_runs"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(
                    f"--{key} must be >= 1. Received: {getattr(self, key)}"
                )
        if self.eval_images is not None and self.eval_images < 1:
            raise ValueError(
                f"--eval_images must be >= 1. Received: {self.eval_images}"
            )
        if not 0 <= self.min_agreement <= 1:
            raise ValueError(
                f"--min_agreement must be in [0, 1]. Received: {self.min_agreement}"
            )
        from keras_attn.export.formats import FORMATS

        unknown = [f for f in self.formats or () if f not in FORMATS]
        if unknown or self.formats == ():
            raise ValueError(
                f"--formats={','.join(self.formats)} is not valid: give a "
                f"non-empty subset of {','.join(FORMATS)}."
            )
