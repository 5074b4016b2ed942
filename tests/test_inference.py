"""predict.py and keras_attn.inference on a tiny exported classifier: output,
images, errors.

The model here is a small convnet (32x32 input, 3 classes), exported the way
export.py exports (softmax appended, builtin ops, metadata), so every case
runs in seconds; test_export.py runs predict.py on the real ResNet files.
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import REPO, export_tiny_classifier, run_script, run_scripts
from PIL import Image

from keras_attn import export, inference, runs
from keras_attn.cli import run_main
from keras_attn.data import load_dataset
from keras_attn.utils import atomic_io

LABELS = ["circle", "square", "triangle"]
SIZE = 32


def _predict(*args, timeout=120):
    return run_script("predict.py", *args, timeout=timeout)


def _predict_all(cases, timeout=120):
    """`_predict` of each argument tuple, two processes at a time."""
    return run_scripts([("predict.py", *args) for args in cases], timeout=timeout)


def _tops(stdout: str) -> dict[str, list[tuple[str, float]]]:
    """predict.py's output as {image: [(label, prob), ...]}."""
    tops, current = {}, None
    for line in stdout.splitlines():
        if line.startswith("  "):
            prob, label = line.split()
            tops[current].append((label, float(prob)))
        elif not line.startswith("latency"):
            current = line
            tops[current] = []
    return tops


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A folder with model.keras, four .tflite files and labels.txt."""
    return export_tiny_classifier(tmp_path_factory.mktemp("export"), LABELS, SIZE)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Images of every kind predict.py must read."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    paths = {}
    paths["rgb.jpg"] = folder / "rgb.jpg"
    Image.fromarray(rgb).save(paths["rgb.jpg"], quality=95)
    paths["rgb.png"] = folder / "rgb.png"
    Image.fromarray(rgb).save(paths["rgb.png"])
    paths["large.png"] = folder / "large.png"
    Image.fromarray(rng.integers(0, 256, (77, 50, 3), dtype=np.uint8)).save(
        paths["large.png"]
    )
    paths["gray.png"] = folder / "gray.png"
    Image.fromarray(rgb[..., 0]).save(paths["gray.png"])
    rgba = np.concatenate([rgb, rng.integers(0, 256, (SIZE, SIZE, 1), np.uint8)], -1)
    paths["rgba.png"] = folder / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(paths["rgba.png"])
    paths["palette.png"] = folder / "palette.png"
    palette = Image.fromarray(rgb).convert("P")
    palette.info["transparency"] = 0
    palette.save(paths["palette.png"], transparency=0)
    paths["broken.jpg"] = folder / "broken.jpg"
    paths["broken.jpg"].write_text("not an image")
    return {k: str(v) for k, v in paths.items()}


def test_prints_top_k_for_tflite_and_agrees_with_keras(exported, images):
    good = [images[k] for k in ("rgb.png", "large.png", "gray.png", "rgba.png")]
    tflite = _predict(exported / "model_fp32.tflite", *good, "--top_k=2")
    assert tflite.returncode == 0, tflite.stderr
    tops = _tops(tflite.stdout)
    assert list(tops) == good
    for top in tops.values():
        assert len(top) == 2 and {label for label, _ in top} <= set(LABELS)
        assert top[0][1] >= top[1][1]
    from_keras = _tops(_predict(exported / "model.keras", *good, "--top_k=2").stdout)
    for path in good:
        assert tops[path][0][0] == from_keras[path][0][0]
        assert tops[path][0][1] == pytest.approx(from_keras[path][0][1], abs=2e-4)


def test_images_are_prepared_as_training_prepared_them(images, tmp_path):
    names = ("rgb.jpg", "large.png", "gray.png", "rgba.png", "palette.png")
    for i, name in enumerate(names):
        (tmp_path / "ab"[i % 2]).mkdir(exist_ok=True)
        shutil.copy(images[name], tmp_path / "ab"[i % 2] / name)
    data = load_dataset(f"folder:{tmp_path}", image_size=SIZE, val_fraction=0)
    assert data.image_shape == (SIZE, SIZE, 3) and len(data.train) == len(names)
    for image_id, training in zip(data.train.ids, data.train.images[:], strict=True):
        ours = inference.load_image(str(tmp_path / image_id), (SIZE, SIZE))
        assert ours.dtype == np.uint8 and ours.shape == (SIZE, SIZE, 3)
        np.testing.assert_array_equal(ours, training, err_msg=image_id)


def test_quantised_inputs_take_raw_pixels(exported, images):
    image = inference.load_image(images["rgb.png"])
    probs = {}
    for name, dtype, zero_point in (("int8", "uint8", 0), ("int8io", "int8", -128)):
        clf = inference.load_classifier(str(exported / f"model_{name}.tflite"))
        assert clf.input_dtype == dtype
        scale, zp = clf.input["quantization"]
        assert scale == pytest.approx(1.0) and zp == zero_point
        probs[name] = clf.predict(image)
        assert probs[name].sum() == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(probs["int8"], probs["int8io"], atol=1 / 128)
    # int8 inside, float32 at the edges: the same numbers, dequantised.
    clf = inference.load_classifier(str(exported / "model_int8float.tflite"))
    assert clf.input_dtype == "float32"
    np.testing.assert_allclose(clf.predict(image), probs["int8"], atol=1 / 128)
    fp32 = inference.load_classifier(str(exported / "model_fp32.tflite")).predict(image)
    assert probs["int8"].argmax() == fp32.argmax()


def test_quantize_input_rounds_and_clips():
    details = {"dtype": np.int8, "quantization": (2.0, -10)}
    pixels = np.array([0.0, 3.0, 255.0])
    np.testing.assert_array_equal(
        inference.quantize_input(pixels, details), [-10, -8, 118]
    )
    details = {"dtype": np.uint8, "quantization": (0.5, 0)}
    np.testing.assert_array_equal(
        inference.quantize_input(pixels, details), [0, 6, 255]
    )


def test_benchmark_prints_latency(exported, images):
    result = _predict(
        exported / "model_int8.tflite", images["rgb.png"], "--benchmark", "--runs=5"
    )
    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("latency:")]
    assert "ms per image" in line and "uint8 32x32" in line


def test_labels_packed_in_the_file_are_used_without_labels_txt(
    exported, images, tmp_path
):
    lone = tmp_path / "model.tflite"
    shutil.copy(exported / "model_fp32.tflite", lone)
    result = _predict(lone, images["rgb.png"])
    assert result.returncode == 0, result.stderr
    assert _tops(result.stdout)[images["rgb.png"]][0][0] in LABELS


def _one_line_error(result, returncode=2) -> str:
    assert result.returncode == returncode, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_bad_inputs_fail_with_one_line(exported, images, tmp_path):
    model = exported / "model_fp32.tflite"
    not_tflite = tmp_path / "model.tflite"
    not_tflite.write_bytes(b"\x00" * 64)
    mismatch = tmp_path / "mismatch"
    mismatch.mkdir()
    shutil.copy(model, mismatch / "model.tflite")
    (mismatch / "labels.txt").write_text("circle\nsquare\n")
    cases = (
        ((tmp_path / "missing.tflite", images["rgb.png"]), "No model file"),
        ((not_tflite, images["rgb.png"]), "is not a TFLite model"),
        ((images["rgb.png"], images["rgb.png"]), "is not a TFLite model"),
        ((mismatch / "model.tflite", images["rgb.png"]), "2 labels for a model with 3"),
        ((model, images["rgb.png"], f"--labels={tmp_path / 'x.txt'}"), "No labels"),
        ((model,), "Usage"),
    )
    results = _predict_all([args for args, _ in cases])
    for (args, message), result in zip(cases, results, strict=True):
        assert message in _one_line_error(result), args


def test_bad_images_are_skipped_and_the_rest_printed(exported, images, tmp_path):
    model = exported / "model_fp32.tflite"
    cases = (
        (images["broken.jpg"], "Cannot read"),
        (tmp_path / "missing.jpg", "No image file"),
    )
    results = _predict_all(
        [(model, images["rgb.png"], bad, images["gray.png"]) for bad, _ in cases]
    )
    for (_, message), result in zip(cases, results, strict=True):
        # Exit status 1: some images failed; each failure is one line.
        assert message in _one_line_error(result, returncode=1)
        assert list(_tops(result.stdout)) == [images["rgb.png"], images["gray.png"]]


def test_missing_litert_gives_a_one_line_hint(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda argv: inference.make_interpreter(b""))([])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: LiteRT is not installed: pip install ai-edge-litert")


def test_a_folder_of_500_images_to_csv(exported, tmp_path):
    rng = np.random.default_rng(0)
    for i in range(500):
        folder = tmp_path / "photos" / f"day{i % 3}" / ("sub" if i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (20 + i % 30, 24, 3), np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.{'png' if i % 5 else 'jpg'}")
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    (tmp_path / "photos" / "day0" / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    out = tmp_path / "out.csv"
    result = _predict(
        exported / "model.keras", tmp_path / "photos", "--top_k=2", f"--csv={out}"
    )
    assert result.returncode == 1, result.stderr  # the broken file failed
    errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 501 and sum(bool(r["error"]) for r in rows) == 1
    good = [r for r in rows if not r["error"]]
    assert all(r["label_1"] in LABELS and r["label_2"] in LABELS for r in good)
    assert all(float(r["prob_1"]) >= float(r["prob_2"]) for r in good)
    # The .keras model ran in batches; the .tflite one image at a time: same top-1.
    one = good[0]["path"]
    tflite = _tops(_predict(exported / "model_fp32.tflite", one).stdout)
    assert tflite[one][0][0] == good[0]["label_1"]
    # A quoted glob selects files the same way.
    globbed = _predict(
        exported / "model_fp32.tflite", str(tmp_path / "photos" / "day1" / "*.png")
    )
    assert globbed.returncode == 0, globbed.stderr
    expected = sorted((tmp_path / "photos" / "day1").glob("*.png"))
    assert list(_tops(globbed.stdout)) == [str(p) for p in expected]


def test_many_image_bad_inputs_are_one_line(exported, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("x")
    model = exported / "model_fp32.tflite"
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(image)
    (tmp_path / "a_file").write_text("x")
    cases = (
        ((model, tmp_path / "empty"), "No images found under"),
        ((model, str(tmp_path / "none*.jpg")), "No files match"),
        ((model, image, f"--csv={tmp_path / 'a_file' / 'out.csv'}"), "does not exist"),
        ((model, image, f"--csv={tmp_path}"), "is a folder"),
    )
    results = _predict_all([args for args, _ in cases])
    for (args, message), result in zip(cases, results, strict=True):
        assert message in _one_line_error(result), args


# ------------------------------------------------- many images, CSV, shards


def _photos(folder, count, broken=()):
    """`count` small images of mixed sizes under `folder` (two subfolders),
    plus unreadable files named in `broken`; returns the folder."""
    rng = np.random.default_rng(0)
    for i in range(count):
        sub = folder / f"day{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (20 + i % 30, 24 + i % 7, 3), np.uint8)
        Image.fromarray(pixels).save(sub / f"{i:03d}.png")
    for name in broken:
        (folder / name).write_bytes(b"\xff\xd8 not a jpeg")
    return folder


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_summary_counts_rows_and_failures(exported, images, tmp_path):
    out = tmp_path / "out.csv"
    result = _predict(
        exported / "model_fp32.tflite",
        images["rgb.png"],
        images["broken.jpg"],
        f"--csv={out}",
    )
    assert result.returncode == 1, result.stderr
    assert len(_rows(out)) == 2
    (summary,) = [x for x in result.stdout.splitlines() if x.startswith("Wrote")]
    assert summary.startswith(f"Wrote 2 row(s) to {out}: 1 classified, 1 failed")


def test_error_lines_are_not_glued_to_the_progress_bar(exported, tmp_path):
    folder = _photos(tmp_path / "photos", 12, broken=["day0/004b.jpg"])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(  # stdout (the bar) and stderr in one stream
        [sys.executable, "predict.py", str(exported / "model_fp32.tflite"),
         str(folder), f"--csv={tmp_path / 'out.csv'}", "--batch_size=2"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "images/s:" in result.stdout  # the bar shows the rate
    # The error came after the bar had drawn (its second batch), yet it
    # starts a line of its own.
    lines = [x for x in result.stdout.split("\n") if "error:" in x]
    assert len(lines) == 1 and lines[0].startswith("error: Cannot read"), lines
    assert "004b.jpg" in lines[0]


def test_bad_counts_and_shards_are_one_line_errors(exported, images):
    model, image = exported / "model_fp32.tflite", images["rgb.png"]
    cases = (
        (("--batch_size=0",), "--batch_size must be >= 1. Received: --batch_size=0"),
        (("--batch_size=-1",), "--batch_size must be >= 1"),
        (("--benchmark", "--runs=0"), "--runs must be >= 1"),
        (("--shard=x",), "--shard=x is not INDEX/COUNT"),
    )
    results = _predict_all([(model, image, *args) for args, _ in cases])
    for (args, message), result in zip(cases, results, strict=True):
        assert message in _one_line_error(result), args
    # The same messages, from the library (no subprocess each).
    for spec, message in (
        ("3/2", "the index is 0-based, so it must be below the count (0/2 ... 1/2)"),
        ("0/0", "the count must be >= 1"),
        ("-1/2", "is not INDEX/COUNT"),
        ("1", "is not INDEX/COUNT"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            inference.parse_shard(spec)
    assert inference.parse_shard("2/3") == (2, 3)
    assert inference.parse_shard(None) is None


def test_shards_are_disjoint_and_cover_every_file_once(exported, tmp_path):
    folder = _photos(tmp_path / "photos", 30)
    everything = inference.image_files([str(folder)])
    for count in (1, 2, 3, 7):
        shards = [
            inference.image_files([str(folder)], (i, count)) for i in range(count)
        ]
        assert sorted(sum(shards, [])) == sorted(everything)  # each file once
        if count > 1:
            assert all(0 < len(s) < len(everything) for s in shards[:2])
    # The split depends on the paths below the folder, not on where it is mounted.
    mounted = tmp_path / "elsewhere"
    os.symlink(folder, mounted)
    for i in range(3):
        here = inference.image_files([str(folder)], (i, 3))
        there = inference.image_files([str(mounted)], (i, 3))
        assert [os.path.relpath(p, folder) for p in here] == [
            os.path.relpath(p, mounted) for p in there
        ]
    # Two processes, two CSVs: concatenated, one row per file.
    rows = []
    model = exported / "model_fp32.tflite"
    outs = [tmp_path / f"shard{i}.csv" for i in range(2)]
    results = _predict_all(
        [
            (model, folder, f"--csv={out}", f"--shard={i}/2")
            for i, out in enumerate(outs)
        ]
    )
    for i, (out, result) in enumerate(zip(outs, results, strict=True)):
        assert result.returncode == 0, result.stderr
        assert f"Shard {i}/2: " in result.stdout
        rows += [r["path"] for r in _rows(out)]
    assert sorted(rows) == sorted(everything)


def test_a_killed_csv_resumes_without_losing_or_repeating_rows(exported, tmp_path):
    folder = _photos(tmp_path / "photos", 40, broken=["bad.jpg"])
    model = exported / "model_fp32.tflite"
    out = tmp_path / "out.csv"
    first = _predict(model, folder, f"--csv={out}", "--top_k=2")
    assert first.returncode == 1, first.stderr  # bad.jpg
    complete = out.read_bytes()
    reference = {r["path"]: r for r in _rows(out)}
    assert len(reference) == 41 and json.loads((tmp_path / "out.csv.json").read_text())[
        "model_sha256"
    ] == atomic_io.sha256(str(model))
    # What a SIGKILL in the middle of a write leaves: 17 complete rows and
    # half of the 18th.
    lines = complete.split(b"\n")
    cut_at = len(b"\n".join(lines[:18])) + 1 + len(lines[18]) // 2
    out.write_bytes(complete[:cut_at])
    again = _predict(model, folder, f"--csv={out}", "--top_k=2")
    assert again.returncode == 0, again.stderr  # bad.jpg already had its row
    assert "Resuming" in again.stdout and "cut a partial last line" in again.stdout
    assert "Wrote 24 row(s)" in again.stdout and "17 image(s) already" in again.stdout
    rows = _rows(out)
    assert len(rows) == 41 and {r["path"]: r for r in rows} == reference
    # Complete: a third run writes nothing and reads as before.
    third = _predict(model, folder, f"--csv={out}", "--top_k=2")
    assert third.returncode == 0 and "Wrote 0 row(s)" in third.stdout
    assert len(_rows(out)) == 41


def test_a_csv_of_another_model_or_other_flags_is_refused(exported, images, tmp_path):
    out = tmp_path / "out.csv"
    image = images["rgb.png"]
    first = _predict(exported / "model_fp32.tflite", image, f"--csv={out}")
    assert first.returncode == 0, first.stderr
    before = out.read_bytes()
    other_model, other_flags = _predict_all(
        [
            (exported / "model_int8.tflite", image, f"--csv={out}"),
            (exported / "model_fp32.tflite", image, f"--csv={out}", "--top_k=2"),
        ]
    )
    error = _one_line_error(other_model)
    assert "holds predictions of another model" in error
    assert "model_fp32.tflite" in error and "model_int8.tflite" in error
    error = _one_line_error(other_flags)
    assert "was written with --top_k=3 (this run: --top_k=2)" in error
    assert out.read_bytes() == before  # refused, untouched
    # Rows with no record of their model (an older CSV, another tool's).
    (tmp_path / "out.csv.json").unlink()
    error = _one_line_error(
        _predict(exported / "model_fp32.tflite", image, f"--csv={out}")
    )
    assert "no " in error and "records which model wrote them" in error


def test_a_csv_that_is_refused_is_left_as_it_was(exported, images, tmp_path):
    """Random bytes, or a CSV of other columns, beside a matching sidecar:
    one line naming the CSV and the fix, and not a byte changed (the partial
    last line is cut only once the file is known to be ours)."""
    model, image = exported / "model_fp32.tflite", images["rgb.png"]
    out = tmp_path / "out.csv"
    assert _predict(model, image, f"--csv={out}").returncode == 0
    garbage = np.random.default_rng(0).integers(0, 256, 500, np.uint8).tobytes()
    other = b"a,b,c\n1,2,3\n4,5"  # another table, its last line cut short
    for content, message in (
        (garbage, "is not a CSV file this command wrote (not UTF-8 text"),
        (other, "has columns a,b,c"),
    ):
        out.write_bytes(content)
        error = _one_line_error(_predict(model, image, f"--csv={out}"))
        assert f"--csv={out}" in error and message in error, error
        assert out.read_bytes() == content


# ------------------------------------------------------- files and resize


def test_a_truncated_tflite_is_named_damaged(exported, images, tmp_path):
    content = (exported / "model_fp32.tflite").read_bytes()
    for folder, size in (("with_labels", len(content) // 2), ("packed", -40)):
        (tmp_path / folder).mkdir()
        damaged = tmp_path / folder / "model.tflite"
        damaged.write_bytes(content[:size])
        if folder == "with_labels":
            shutil.copy(exported / "labels.txt", tmp_path / folder)
        with pytest.raises(ValueError, match="is damaged or truncated") as info:
            inference.load_classifier(str(damaged))
        assert str(damaged) in str(info.value)
    # predict.py says it in one line.
    error = _one_line_error(
        _predict(tmp_path / "with_labels" / "model.tflite", images["rgb.png"])
    )
    assert "with_labels/model.tflite is damaged or truncated" in error
    assert "not a valid Flatbuffer buffer" in error


def _with_resize(exported, resize: str) -> bytes:
    """The tiny model's fp32 file with metadata recording `resize`."""
    model = keras.saving.load_model(exported / "model.keras")
    content = export.convert(model, "fp32")
    return export.add_metadata(content, LABELS, "tiny", "fp32", resize=resize)


def test_training_resize_reads_the_models_run(exported, tmp_path):
    run = tmp_path / "run"
    (run / "export").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"resize": "pad", "seed": 0}))
    for path in (run / "model.keras", run / "export" / "model_int8.tflite"):
        path.write_bytes(b"")
        assert inference.training_resize(str(path)) == "pad", path
    (tmp_path / "elsewhere").mkdir()
    assert inference.training_resize(str(tmp_path / "elsewhere" / "m.tflite")) is None
    (run / "other").mkdir()  # only an export/ folder looks one level up
    assert inference.training_resize(str(run / "other" / "m.tflite")) is None
    (run / "config.json").write_text(json.dumps({"seed": 0}))  # before --resize
    assert inference.training_resize(str(run / "model.keras")) is None
    # ... unless its exported files record it: one rule for the run's files.
    (run / "export" / "model_int8.tflite").write_bytes(_with_resize(exported, "pad"))
    assert inference.training_resize(str(run / "model.keras")) == "pad"
    assert runs.resize_of_run({"seed": 0}, str(run)) == (
        "pad",
        "export/model_int8.tflite's metadata",
    )
    assert runs.resize_note({"seed": 0}, str(run)) == (
        f"{run}'s config.json does not record --resize: pad, from "
        "export/model_int8.tflite's metadata"
    )
    (run / "export" / "model_int8.tflite").unlink()
    assert runs.resize_of_run({"seed": 0}, str(run)) == ("crop", runs.GUESS)
    assert "assuming crop" in runs.resize_note({"seed": 0}, str(run))
    (run / "config.json").write_text("{not json")
    assert inference.training_resize(str(run / "model.keras")) is None


def test_resize_defaults_to_the_models_own(exported, tmp_path):
    run = tmp_path / "run"
    (run / "export").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"resize": "pad"}))
    model = run / "export" / "model_fp32.tflite"
    shutil.copy(exported / "model_fp32.tflite", model)
    shutil.copy(exported / "labels.txt", run / "export")
    wide = tmp_path / "wide.png"  # 4:1, so crop and pad see different pixels
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (16, 64, 3), np.uint8)).save(wide)
    clf = inference.load_classifier(str(model))
    expected = {
        mode: clf.predict(inference.load_image(str(wide), clf.input_size, mode))
        for mode in ("pad", "crop")
    }
    assert np.abs(expected["pad"] - expected["crop"]).max() > 1e-3

    def probs(result):
        top = _tops(result.stdout)[str(wide)]
        return {label: prob for label, prob in top}

    default = _predict(model, wide, "--top_k=3")
    assert default.returncode == 0 and "note:" not in default.stderr
    for label, prob in probs(default).items():
        assert prob == pytest.approx(expected["pad"][LABELS.index(label)], abs=1e-4)
    crop = _predict(model, wide, "--top_k=3", "--resize=crop")
    assert crop.returncode == 0, crop.stderr
    (note,) = [x for x in crop.stderr.splitlines() if x.startswith("note:")]
    assert "--resize=crop" in note and "--resize=pad" in note
    for label, prob in probs(crop).items():
        assert prob == pytest.approx(expected["crop"][LABELS.index(label)], abs=1e-4)


def test_labels_of_another_run_name_both_files(exported, images, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"class{i}" for i in range(10)) + "\n")
    model = exported / "model_int8.tflite"
    error = _one_line_error(_predict(model, images["rgb.png"], f"--labels={labels}"))
    assert error == (
        f"error: {model} and {labels}: 10 labels for a model with 3 classes; use "
        "the model and labels.txt of the same run."
    )
