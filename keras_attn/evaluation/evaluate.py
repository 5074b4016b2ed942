"""Evaluating a run's model, or any file exported from it, on labelled images.

`evaluate(EvalConfig(run_dir=...))` is what `evaluate.py` calls. The same
code scores `model.keras` and every `.tflite` (through `inference`, as
`predict.py` runs them), on one of:

- `split` (default): the run's test split, else its validation split,
  reloaded from the run's dataset with the run's settings;
- `sample`: the held-out images the run folder keeps (`keras_attn.runs`), the same
  images `export.py` checks its files on, so the top-1 here equals
  `export/report.json`'s for each file; works without the training data;
- `folder:PATH`: any class-subfolder tree (`PATH/<class>/<image>`, or its
  `test/` split) with the model's classes, stored as the run stored images.

It writes `RUN/eval/<model file>-<data>/` (or `out_dir`, `evaluate.py
--out=DIR`): `report.json` (top-1, top-5, mean
loss, macro and per-class precision / recall / F1, the most confused pairs,
how many and which images, the model file and the data source),
`per_class.csv`, `confusion.png` and `errors.png` (`report.py`, `plots.py`).
`train.py` writes the same report for its held-out split at the end.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_attn import inference, runs
from keras_attn.data import Split, load_dataset
from keras_attn.data import folder as folder_lib
from keras_attn.evaluation import report as report_lib


@dataclasses.dataclass
class EvalConfig:
    """What to evaluate, on what (the flags of `evaluate.py`)."""

    run_dir: str
    model: str | None = None  # default: the run's model.keras
    data: str = "split"  # split | sample | folder:PATH
    batch_size: int = 32
    out_dir: str | None = None  # default: RUN/eval/<model>-<data>

    def validate(self) -> None:
        """Bad flags fail in one line before anything is loaded."""
        if self.batch_size < 1:
            raise ValueError(
                f"--batch_size must be >= 1. Received: --batch_size={self.batch_size}"
            )
        if self.out_dir is not None:
            runs.check_writable(self.out_dir, flag="--out")


def held_out_data(
    run_dir: str, source: str, input_size: tuple[int, int], resize: str | None = None
) -> tuple[str, Split, dict]:
    """The labelled images `source` names, for a model taking `input_size`
    images stored with `resize` (default: the run's): `(name, split,
    description)`. The `sample` images are stored already, the run's way."""
    config = dict(runs.read_config(run_dir))
    stored = runs.stored_resize(config, run_dir)
    config["resize"] = resize or stored
    labels = runs.read_labels(run_dir)
    if source == "sample":
        if not os.path.exists(runs.path(run_dir, runs.SAMPLES)):
            raise FileNotFoundError(
                f"{run_dir} keeps no image sample ({runs.SAMPLES}); pass "
                "--data=split or --data=folder:PATH."
            )
        samples = runs.read_samples(run_dir)
        return (
            "sample",
            samples.held_out,
            {
                "kind": "sample",
                "file": runs.SAMPLES,
                "split": samples.held_out_split,
                "resize": stored,  # stored by the run, this way
            },
        )
    if source == "split":
        return _run_split(run_dir, config, labels)
    if source.startswith("folder:") and len(source) > len("folder:"):
        return _folder(source[len("folder:") :], config, labels, input_size)
    raise ValueError(f"--data={source} is not split, sample or folder:PATH.")


def _run_split(run_dir: str, config: dict, labels: list[str]):
    options = dict(
        shots=config.get("shots"),
        val_shots=config.get("val_shots"),
        seed=config.get("seed", 0),
        data_dir=config.get("data_dir"),
        image_size=config.get("image_size", 224),
        resize=runs.stored_resize(config),
        test_dir=config.get("test_dir"),
        cache_dir=config.get("cache_dir"),
    )
    try:
        data = load_dataset(config["dataset"], **options)
    except (ValueError, OSError) as e:
        raise ValueError(
            f"The run's data ({config['dataset']}) cannot be loaded here "
            f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); pass "
            "--data=sample (the held-out images the run keeps) or "
            "--data=folder:PATH."
        ) from None
    if list(data.class_names) != labels:
        raise ValueError(
            f"The classes of {config['dataset']} no longer match the run's "
            "labels.txt; the data changed since training: pass --data=sample."
        )
    name, split = data.held_out
    if not len(split):
        raise ValueError(
            f"The run's data ({config['dataset']}) has no test or validation "
            "images; pass --data=sample or --data=folder:PATH."
        )
    description = {"kind": "split", "dataset": config["dataset"], "split": name}
    return name, split, {**description, "resize": options["resize"]}


def _folder(path: str, config: dict, labels: list[str], input_size):
    roots = folder_lib.split_roots(path)
    root = roots.get("test", roots["train"])
    found = folder_lib.class_dirs(root) if os.path.isdir(root) else []
    if not found:
        raise ValueError(
            f"--data=folder:{path} is empty (no class subfolders in {root}); "
            "pass a folder with one subfolder of images per class of the run."
        )
    if found != labels:
        raise ValueError(
            f"--data=folder:{path} has other classes than the model: "
            f"{folder_lib.class_difference(labels, found)}; use a folder with "
            "the classes of the run's labels.txt."
        )
    _, split, _, _, _ = folder_lib.load_folder(
        root,
        image_size=int(input_size[0]),
        resize=runs.stored_resize(config),
        val_fraction=0.0,
        cache_dir=config.get("cache_dir"),
    )
    name = "folder_" + os.path.basename(os.path.normpath(path))
    description = {"kind": "folder", "path": os.path.abspath(root)}
    return name, split, {**description, "resize": runs.stored_resize(config)}


def _resize_of(model_file: str, config: EvalConfig) -> str:
    """How photos are prepared for `model_file`: the file's own resize (its
    run's, or its metadata's), else the evaluated run's; a note when the two
    differ or when it is a guess."""
    run_config = runs.read_config(config.run_dir)
    ours = runs.stored_resize(run_config, config.run_dir)
    theirs = inference.training_resize(model_file)
    if theirs is None:
        note = runs.resize_note(run_config, config.run_dir)
        if note:
            print(f"note: {note}.", flush=True)
        return ours
    if theirs != ours:
        stored = (
            "; --data=sample images are stored the run's way, so they cannot be"
            if config.data == "sample"
            else ""
        )
        print(
            f"note: {model_file} was trained on photos stored with --resize="
            f"{theirs}, the run {config.run_dir} with --resize={ours}: its data "
            f"is prepared the file's way{stored}.",
            flush=True,
        )
    return theirs


def predict_probs(classifier, images, batch_size: int = 32) -> np.ndarray:
    """Class probabilities of an `inference` classifier, a batch at a time."""
    out = [
        classifier.predict(np.asarray(images[i : i + batch_size]))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out).astype(np.float64)


def evaluate(config: EvalConfig) -> dict:
    """Evaluates one model file of a run on one data source; returns the report."""
    config.validate()
    runs.require(config.run_dir, runs.CONFIG, runs.LABELS)
    if config.out_dir is None:  # the run's own folder: say how to write elsewhere
        eval_dir = runs.path(config.run_dir, runs.EVAL)
        try:
            runs.check_writable(eval_dir)
        except ValueError:
            raise ValueError(
                f"Cannot write the report in {eval_dir} (permission denied); pass "
                "--out=DIR, a folder you can write."
            ) from None
    model_file = config.model or runs.path(config.run_dir, runs.MODEL)
    classifier = inference.load_classifier(
        model_file, runs.path(config.run_dir, runs.LABELS)
    )
    resize = _resize_of(model_file, config)
    name, split, description = held_out_data(
        config.run_dir, config.data, classifier.input_size, resize
    )
    if tuple(split.images.shape[1:3]) != tuple(classifier.input_size):
        raise ValueError(
            f"{model_file} takes {tuple(classifier.input_size)} images but the "
            f"data is stored at {tuple(split.images.shape[1:3])}."
        )
    probs = predict_probs(classifier, split.images, config.batch_size)
    out_dir = config.out_dir or os.path.join(
        runs.path(config.run_dir, runs.EVAL),
        f"{os.path.basename(model_file)}-{name}",
    )
    report = report_lib.write_report(
        out_dir,
        probs,
        split,
        classifier.labels,
        os.path.abspath(model_file),
        description,
    )
    report["out_dir"] = out_dir
    return report
