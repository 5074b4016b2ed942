"""evaluate.py on a tiny hand-made run: the run's --resize reaches every data
source, --out, the summary's labels, one-line errors.

The run folder holds a small convnet (32x32 input, 3 classes) and a
config.json saying its images were stored with `--resize=pad`; the data are
wide images (3:1), on which `pad` and `crop` give the model different pixels,
so a source that ignored the run's mode would score different numbers.
test_export.py evaluates a real trained run.
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest
from conftest import run_script
from PIL import Image

from keras_attn import inference
from keras_attn.evaluation import evaluate as evaluate_lib
from keras_attn.evaluation import metrics
from keras_attn.evaluation import report as report_lib

LABELS = ["circle", "square", "triangle"]
SIZE = 32


def _evaluate(*args, timeout=120):
    return run_script("evaluate.py", *args, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """(run folder, data folder): model.keras, labels.txt, config.json with
    `resize: pad`, and a train/test tree of wide images."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(LABELS)),
        ]
    )
    root = tmp_path_factory.mktemp("tiny")
    data = root / "data"
    rng = np.random.default_rng(0)
    for split, count in (("train", 2), ("test", 4)):
        for c, name in enumerate(LABELS):
            (data / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (16, 48, 3), np.uint8)
                pixels[:, :16] = 40 + 80 * c  # the borders crop cuts differ
                Image.fromarray(pixels).save(data / split / name / f"{i}.png")
    run = root / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "labels.txt").write_text("\n".join(LABELS) + "\n")
    config = {
        "dataset": f"folder:{data}",
        "image_size": SIZE,
        "resize": "pad",
        "seed": 0,
        "cache_dir": str(root / "cache"),
    }
    (run / "config.json").write_text(json.dumps(config))
    return run, data


def _mean_loss(run, data, resize: str) -> float:
    """The mean loss of the run's model on data/test, images resized by `resize`."""
    clf = inference.load_classifier(str(run / "model.keras"))
    images, labels = [], []
    for c, name in enumerate(LABELS):
        for file in sorted(os.listdir(data / "test" / name)):
            path = str(data / "test" / name / file)
            images.append(inference.load_image(path, (SIZE, SIZE), resize))
            labels.append(c)
    probs = clf.predict(np.stack(images))
    return metrics.classification_report(probs, np.array(labels), LABELS)["mean_loss"]


def test_every_data_source_is_stored_with_the_runs_resize(tiny_run, tmp_path):
    run, data = tiny_run
    pad, crop = _mean_loss(run, data, "pad"), _mean_loss(run, data, "crop")
    assert abs(pad - crop) > 1e-4  # the test can tell them apart
    for source in ("split", f"folder:{data}"):
        report = evaluate_lib.evaluate(
            evaluate_lib.EvalConfig(
                str(run), data=source, out_dir=str(tmp_path / source[:6])
            )
        )
        assert report["images"] == 4 * len(LABELS)
        assert report["data"]["resize"] == "pad", source
        assert report["mean_loss"] == pytest.approx(pad, abs=1e-5), source


@pytest.mark.large  # evaluate.py in a process; test_export runs it by default
def test_out_writes_the_report_there_and_the_summary_says_top_k(tiny_run, tmp_path):
    run, data = tiny_run
    out = tmp_path / "reports" / "new"
    result = _evaluate(f"--run={run}", f"--data=folder:{data}", f"--out={out}")
    assert result.returncode == 0, result.stderr
    for name in ("report.json", "per_class.csv", "confusion.png", "errors.png"):
        assert (out / name).stat().st_size > 0, name
    assert not (run / "eval").exists()  # nothing at the default place
    report = json.loads((out / "report.json").read_text())
    # Progress (the decode pass) comes first; then the one summary line.
    summaries = [line for line in result.stdout.splitlines() if " images: " in line]
    assert len(summaries) == 1, result.stdout
    # Three classes: top-1 and top-3, labelled alike.
    assert summaries[0].startswith(
        f"12 images: top-1 {report['top1']:.4f}, top-3 {report['top3']:.4f}, macro"
    )
    assert f"Report: {out}" in result.stdout


def test_summary_line_labels_every_accuracy_alike():
    report = {
        "images": 10,
        "top1": 0.5,
        "top5": 0.9,
        "mean_loss": 1.25,
        "macro": {"precision": 0.4, "recall": 0.5, "f1": 0.45},
    }
    assert report_lib.summary_line(report) == (
        "10 images: top-1 0.5000, top-5 0.9000, macro precision 0.4000 / recall "
        "0.5000 / F1 0.4500, mean loss 1.2500"
    )


@pytest.mark.large
def test_bad_batch_size_and_out_are_one_line_before_any_work(tmp_path):
    (tmp_path / "a_file").write_text("x")
    cases = (
        (("--batch_size=0",), "--batch_size must be >= 1. Received: --batch_size=0"),
        (("--batch_size=-1",), "--batch_size must be >= 1"),
        ((f"--out={tmp_path / 'a_file'}",), "is a file, not a folder"),
        ((f"--out={tmp_path / 'a_file' / 'x'}",), "is a file; pass a folder path"),
    )
    for args, message in cases:  # checked before the run is even looked at
        config = evaluate_lib.EvalConfig(str(tmp_path / "no_run"))
        for arg in args:
            key, value = arg[2:].split("=", 1)
            setattr(
                config,
                "out_dir" if key == "out" else key,
                int(value) if key == "batch_size" else value,
            )
        with pytest.raises(ValueError, match=message):
            evaluate_lib.evaluate(config)
    # The script prints it as one line.
    result = _evaluate(f"--run={tmp_path / 'no_run'}", "--batch_size=0")
    assert result.returncode == 2, result.stderr
    (error,) = result.stderr.strip().splitlines()
    assert error == "error: --batch_size must be >= 1. Received: --batch_size=0"


def test_an_empty_folder_and_an_unwritable_run_are_named(
    tiny_run, tmp_path, monkeypatch
):
    run, _ = tiny_run
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"is empty \(no class subfolders"):
        evaluate_lib.evaluate(
            evaluate_lib.EvalConfig(str(run), data=f"folder:{tmp_path / 'empty'}")
        )
    eval_dir = str(run / "eval")
    real = os.access
    monkeypatch.setattr(  # root ignores chmod: deny the run folder by hand
        os, "access", lambda p, m: False if str(p).startswith(str(run)) else real(p, m)
    )
    with pytest.raises(ValueError) as info:
        evaluate_lib.evaluate(evaluate_lib.EvalConfig(str(run), data="sample"))
    assert str(info.value) == (
        f"Cannot write the report in {eval_dir} (permission denied); pass "
        "--out=DIR, a folder you can write."
    )


def test_another_runs_model_is_fed_its_own_resize(tiny_run, tmp_path, capsys):
    """A file whose run stored photos another way: its data is prepared the
    file's way, and a note says so (one rule for every path)."""
    run, data = tiny_run
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(run / "model.keras", other / "model.keras")
    (other / "config.json").write_text(json.dumps({"resize": "crop"}))
    report = evaluate_lib.evaluate(
        evaluate_lib.EvalConfig(
            str(run), model=str(other / "model.keras"), data=f"folder:{data}",
            out_dir=str(tmp_path / "out"),
        )
    )  # fmt: skip
    assert report["data"]["resize"] == "crop"
    note = capsys.readouterr().out
    assert "with --resize=crop, the run" in note and "--resize=pad" in note
