"""The finished run folder: everything written once training has ended.

`finish_run` scores the kept model on val and test, assembles
`metrics.json`, draws the images the folder keeps (`samples.npz`,
`photos/`), saves the clean float32 `model.keras`, draws the figures, writes
the held-out split's evaluation report and the model card, and removes what
only a run in progress needs. The trainer hands it the fitted model and its
float32 copy; nothing here trains.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from keras_attn import runs, saving
from keras_attn.data.splits import Dataset
from keras_attn.evaluation import pointing
from keras_attn.evaluation import report as eval_report
from keras_attn.models import classifier
from keras_attn.reports import figures, model_card


def finish_run(
    run_dir: str,
    config,
    data: Dataset,
    model: keras.Model,
    clean: keras.Model,
    fitted: dict,
    last: tuple[dict, dict],
    facts: dict,
) -> dict:
    """Writes the finished run folder; returns `metrics.json`'s content.

    Args:
        model: the fitted classifier (scored through `fitted["predict"]`).
        clean: its float32 copy, saved as `model.keras`.
        fitted: what `phases.fit` returned.
        last: the last epoch's test scores and probabilities (`--report_last_epoch`).
        facts: how the run trained (seconds, devices, precision, ...), recorded
            in `metrics.json` as they are.
    """
    last_epoch, last_probs = last
    history = runs.read_history(run_dir)
    if history and not np.all(np.isfinite(history["loss"])):
        raise FloatingPointError(
            f"Training diverged (loss is NaN); lower --learning_rate. Run: {run_dir}"
        )
    if fitted["best_is_last"] and last_probs:  # the same weights: test scored once
        metrics, probs = evaluate(fitted["predict"], data, ("val",))
        metrics.update({k[len("last_") :]: v for k, v in last_epoch.items()})
        probs.update(last_probs)
    else:
        metrics, probs = evaluate(fitted["predict"], data)
    metrics.update(last_epoch)
    metrics.update(
        epochs=len(history.get("epoch", [])),
        backbone_mode=config.backbone,
        early_stopping={
            "patience": config.early_stopping,
            "stopped_epoch": None
            if fitted["stopped_epoch"] is None
            else fitted["stopped_epoch"] + 1,
            # The kept epoch: in lp-ft, of the fine-tuning phase.
            "best_epoch": None
            if fitted["best_epoch"] is None
            else fitted["best_epoch"] + 1,
        },
        # Two losses: say which is which (they differ by 2x with smoothing 0.1).
        loss_note=(
            "val_loss, test_loss: cross-entropy without label smoothing "
            "(history.csv: val_cross_entropy); history.csv's loss and val_loss "
            "and curves.png: the loss as trained, label smoothing "
            f"{config.label_smoothing:g}"
        ),
        best_val_accuracy=fitted["best_val_accuracy"],
        last_val_accuracy=float(history["val_accuracy"][-1]) if history else None,
        **facts,
    )
    split_name, held_out = data.held_out
    samples = runs.draw_samples(data.train, held_out, split_name, seed=config.seed)
    runs.write_samples(run_dir, samples)
    if config.dataset.startswith("folder:") and len(held_out):
        root = config.dataset[len("folder:") :]
        runs.write_photos(
            run_dir,
            [os.path.join(root, i) for i in held_out.ids],
            held_out.labels,
            list(held_out.ids),
            min_side=int(data.image_shape[0]),
            seed=config.seed,
        )
    saving.save_model(clean, runs.path(run_dir, runs.MODEL))
    score = write_figures(
        model, samples, data.class_names, run_dir, config.visualize_count
    )
    if score is not None:
        metrics["pointing_game"] = score
    runs.write_metrics(run_dir, metrics)
    split_name, held_out = data.held_out
    if len(held_out):  # the report evaluate.py writes, for the held-out split
        eval_report.write_report(
            os.path.join(runs.path(run_dir, runs.EVAL), f"{runs.MODEL}-{split_name}"),
            probs[split_name],
            held_out,
            data.class_names,
            os.path.abspath(runs.path(run_dir, runs.MODEL)),
            {"kind": "split", "dataset": config.dataset, "split": split_name},
        )
    model_card.write_model_card(run_dir)
    runs.remove_training_state(run_dir)  # backup/ and checkpoints/
    print(json.dumps(metrics, indent=2))
    print(f"Run folder: {run_dir}")
    return metrics


def evaluate(
    predict, data: Dataset, splits=("val", "test")
) -> tuple[dict, dict[str, np.ndarray]]:
    """Accuracy and loss on val and (if present) test of a `predict(images)
    -> logits` (`phases.logits_of`); returns them and the probabilities per
    split."""
    metrics, probs = {}, {}
    for split_name in splits:
        split = getattr(data, split_name)
        if split is None or len(split.labels) == 0:
            continue
        logits = predict(split.images)
        log_probs = logits - logits.max(1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
        probs[split_name] = np.exp(log_probs)
        metrics[f"{split_name}_accuracy"] = float(
            (logits.argmax(1) == split.labels).mean()
        )
        metrics[f"{split_name}_loss"] = float(
            -log_probs[np.arange(len(split.labels)), split.labels].mean()
        )
    return metrics, probs


def write_figures(
    model, samples: runs.Samples, class_names: list[str], run_dir: str, count: int
) -> dict | None:
    """`curves.png` and `attention.png` (held-out images and their maps);
    for data with object boxes (`shapes`), the pointing game on every
    held-out image, said under the figure and returned (None otherwise)."""
    history = runs.read_history(run_dir)
    if history:
        smoothing = runs.read_config(run_dir).get("label_smoothing")
        figures.plot_curves(
            {model.name: history},
            runs.path(run_dir, runs.CURVES),
            figures.loss_label(smoothing),
        )
    held_out = samples.held_out
    score = None
    if held_out.boxes is not None and len(held_out):
        _, every = classifier.predict_with_attention(model, held_out.images)
        score = pointing.summary(every, held_out.boxes)
    split = held_out.take(np.arange(min(count, len(held_out))))
    probs, maps = classifier.predict_with_attention(model, split.images)
    titles = figures.prediction_titles(probs.argmax(1), split.labels, class_names)
    figures.plot_attention(
        split.images,
        maps,
        titles,
        runs.path(run_dir, runs.ATTENTION),
        split.boxes,
        note=pointing.sentence(score) if score else None,
    )
    return score
