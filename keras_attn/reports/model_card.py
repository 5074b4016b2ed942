"""The model card: a README.md in every run folder, from what the run recorded.

Like the cards timm and Hugging Face ship with their models: what the model
is, the data and recipe it was trained with, its measured results, the
exported files and their agreement with the Keras model (once exported),
how to use it, and what it is not for. Everything in it is read from the
run folder (`config.json`, `metrics.json`, `labels.txt`, the evaluation
report, `export/report.json`); `train.py` writes it, `export.py` rewrites it.
"""

from __future__ import annotations

import json
import os

from keras_attn import runs
from keras_attn.evaluation import pointing
from keras_attn.images import contract
from keras_attn.utils import atomic_io

# The exported formats a report lists files of, and the clients that score them.
EXPORTED = ("tflite", "onnx", "openvino")
CLIENTS = ("litert", "mediapipe", "onnxruntime", "openvino")


def _read(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _evaluation(run_dir: str) -> dict | None:
    """The report `train.py` wrote for the run's held-out split."""
    for split in ("test", "val"):
        report = _read(
            os.path.join(
                runs.path(run_dir, runs.EVAL), f"{runs.MODEL}-{split}", "report.json"
            )
        )
        if report:
            return {"split": split, **report}
    return None


def card_text(run_dir: str) -> str:
    config = runs.read_config(run_dir)
    metrics = runs.read_metrics(run_dir)
    labels = runs.read_labels(run_dir)
    evaluation = _evaluation(run_dir)
    export = _read(os.path.join(runs.path(run_dir, runs.EXPORT), "report.json"))
    name = os.path.basename(os.path.normpath(run_dir))
    attention = config["attention"]
    if config.get("branches"):
        attention += f" ({', '.join(config['branches'])})"
    shown = ", ".join(labels[:20]) + (
        f", ... ({len(labels)} in all)" if len(labels) > 20 else ""
    )
    stored = metrics.get("stored_shape") or ["?", "?"]
    stopping = metrics.get("early_stopping") or {}
    lines = [
        f"# {name}",
        "",
        f"An image classifier: ResNet-18 (keras-hub) + `{attention}` attention, "
        f"{len(labels)} classes, trained with keras-attn. Input: RGB pixels "
        f"0..255 at {stored[0]}x{stored[1]} (the model resizes to "
        f"{config['image_size']} px and normalises itself); output: class "
        "logits (`.tflite` files: probabilities).",
        "",
        "## Data",
        "",
        f"- Dataset: `{config['dataset']}`; classes: {shown}.",
        f"- Images stored at {stored[0]}x{stored[1]} "
        f"(`--resize={runs.stored_resize(config, run_dir)}`), few-shot: "
        f"{config.get('shots') or 'all'} training / "
        f"{config.get('val_shots') or 'all'} validation images per class, seed "
        f"{config['seed']}.",
    ]
    if config.get("class_weights"):
        lines.append("- Class weights: balanced (`config.json` lists them).")
    resize = runs.stored_resize(config, run_dir)
    note = runs.resize_note(config, run_dir)
    lines += [
        "",
        "## What an app must do with a camera frame",
        "",
        f"Trained on photos stored with `--resize={resize}`: {contract(resize)}. "
        "`predict.py` and `keras_attn.images.load_image` do this for you; "
        "the exported files' metadata says the same."
        + (f" Note: {note}." if note else ""),
    ]
    lines += [
        "",
        "## Recipe",
        "",
        f"- Backbone weights: `{metrics.get('weights', config['weights'])}`; "
        f"{metrics.get('parameters', 0):,} parameters.",
        f"- {metrics.get('epochs')} epochs of {config['epochs']}"
        + (
            f" (early stopping, patience {stopping['patience']}, stopped after "
            f"epoch {stopping['stopped_epoch']})"
            if stopping.get("stopped_epoch")
            else ""
        )
        + f"; the kept weights are the best validation epoch's "
        f"({stopping.get('best_epoch', '?')}).",
        f"- AdamW, peak learning rate {config['learning_rate']:g} (warm-up "
        f"{_warmup(config)}, then cosine, per step), weight decay "
        f"{config['weight_decay']:g}, batch {config['batch_size']}, label smoothing "
        f"{config['label_smoothing']:g}, dropout {config['dropout']:g}, "
        f"augmentation `{config['augment']}`, backbone at "
        f"{config['backbone_lr_scale']:g}x the rate; backbone mode "
        f"`{config.get('backbone', 'finetune')}`"
        + (
            f" ({config['probe_epochs']} epochs on cached features first)"
            if config.get("backbone") == "lp-ft"
            else ""
        )
        + ".",
        f"- Trained on {metrics.get('device', '?')} ({metrics.get('backend', '?')}), "
        f"{metrics.get('train_seconds', '?')} s.",
        "",
        "## Results",
        "",
        "| split | images | top-1 | top-5 | macro F1 | cross-entropy |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    if evaluation:
        top5 = next(
            (v for k, v in evaluation.items() if k.startswith("top") and k != "top1"),
            None,
        )
        lines.append(
            f"| {evaluation['split']} | {evaluation['images']} | "
            f"{evaluation['top1']:.4f} | {top5:.4f} | {evaluation['macro']['f1']:.4f} "
            f"| {evaluation['mean_loss']:.4f} |"
        )
    if "val_accuracy" in metrics:
        lines.append(
            f"| val (chose the epoch) | | {metrics['val_accuracy']:.4f} | | | "
            f"{metrics['val_loss']:.4f} |"
        )
    lines += [
        "",
        "Cross-entropy without label smoothing; `history.csv`'s `loss` and "
        "`val_loss` and `curves.png` show the loss as trained, with label "
        f"smoothing {config['label_smoothing']:g}"
        + (" (higher)." if config["label_smoothing"] else "."),
    ]
    if evaluation and evaluation.get("most_confused"):
        pairs = ", ".join(
            f"{p['true']} -> {p['predicted']} ({p['images']})"
            for p in evaluation["most_confused"][:5]
        )
        lines += ["", f"Most confused ({evaluation['split']}): {pairs}."]
    if metrics.get("pointing_game"):
        lines += ["", f"Where it looks: {pointing.sentence(metrics['pointing_game'])}"]
    files = [
        entry
        for key in EXPORTED
        for entry in (export or {}).get(key, {}).values()
        if isinstance(entry, dict) and "file" in entry
    ]
    if files:
        lines += [
            "",
            "## Exported files",
            "",
            f"Checked on {export.get('evaluated_on', {}).get('images', '?')} held-out "
            "images (`export/report.json`).",
            "",
            "| file | MB | top-1 agreement with Keras | accuracy | photos: "
            "clients / Keras | status |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for entry in files:
            lines.append(
                f"| `{entry['file']}` | {entry.get('size_mb', '')} | "
                f"{entry.get('top1_agreement', float('nan')):.3f} | "
                f"{entry.get('accuracy', float('nan')):.3f} | "
                f"{_photos_cell(entry.get('clients'))} | "
                f"{entry['status']}{' (kept)' if entry.get('kept') else ''} |"
            )
        if any(entry.get("clients") for entry in files):
            lines += [
                "",
                "Photos: the run's held-out photos at their own aspect ratio, "
                "top-1 of each client (LiteRT, ONNX Runtime and OpenVINO from "
                "the photo, as `predict.py`; MediaPipe's ImageClassifier from "
                "the frame, with the contract above) and of Keras (photos "
                "prepared as in training); a client more than 2 points plus two "
                "standard errors of the paired difference below Keras fails the "
                "file.",
            ]
    lines += [
        "",
        "## Use",
        "",
        "```bash",
        f"python predict.py {runs.path(run_dir, runs.MODEL)} photo.jpg",
        f"python export.py --run={run_dir}   # .tflite, .onnx and OpenVINO files",
        "```",
        "",
        "```python",
        "import keras, keras_attn  # the import registers the model's classes",
        f'model = keras.saving.load_model("{runs.path(run_dir, runs.MODEL)}")',
        "```",
        "",
        "## Intended use and limits",
        "",
        f"- For images like its training data ({config['dataset']}): the same "
        "classes, camera, framing and kind of scene. It always answers one of "
        f"its {len(labels)} classes, even for an image of none of them.",
        "- The results above come from held-out images of the same source; "
        "expect lower accuracy on other cameras, lighting or places. "
        + (
            "The validation split was small and chose the epoch, so its number "
            "is optimistic."
            if metrics.get("val_accuracy") is not None
            else ""
        ),
        "- The attention map shows where the model weighs features, not why it "
        "decided; do not read it as an explanation for high-stakes uses.",
        "- Not evaluated for fairness, robustness to adversarial input, or any "
        "medical or safety-critical decision.",
        "",
    ]
    return "\n".join(lines)


def _warmup(config: dict) -> str:
    """The warm-up as it ran: `1 epoch(s)`, or per phase when they differ
    (a phase shorter than `--warmup_epochs` warms up for fewer)."""
    ran = config.get("warmup_epochs_run") or {}
    if len(set(ran.values())) > 1:
        return ", ".join(f"{n} epoch(s) in {phase}" for phase, n in ran.items())
    return f"{next(iter(ran.values()), config['warmup_epochs'])} epoch(s)"


def _photos_cell(clients: dict | None) -> str:
    """`litert 61.0% / mediapipe 60.5% / Keras 61.5% (200)` for a report entry."""
    if not clients:
        return "-"

    def pct(value):
        return "-" if value is None else f"{100 * value:.1f}%"

    names = [k for k in clients if k in CLIENTS]
    cells = [f"{name} {pct(clients[name])}" for name in names]
    return " / ".join([*cells, f"Keras {pct(clients.get('keras'))}"]) + (
        f" ({clients.get('photos')})"
    )


def write_model_card(run_dir: str) -> str:
    path = runs.path(run_dir, runs.MODEL_CARD)
    atomic_io.write_text(path, card_text(run_dir))
    return path
