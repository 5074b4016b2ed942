"""predict.py and keras_attn.edge on a tiny exported classifier: output, images, errors.

The model here is a small convnet (32x32 input, 3 classes), exported the way
export.py exports (softmax appended, builtin ops, metadata), so every case
runs in seconds; test_export.py runs predict.py on the real ResNet files.
"""

import csv
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import REPO
from PIL import Image

from keras_attn import edge, export
from keras_attn.cli import run_main
from keras_attn.data import load_dataset

LABELS = ["circle", "square", "triangle"]
SIZE = 32


def _predict(*args, timeout=120):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "predict.py", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


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
    folder = tmp_path_factory.mktemp("export")
    model.save(folder / "model.keras")
    calibration = np.random.default_rng(0).integers(0, 256, (16, SIZE, SIZE, 3))
    files = {
        "fp32": dict(quantization="fp32"),
        "int8": dict(quantization="int8", int8_io="uint8"),
        "int8io": dict(quantization="int8", int8_io="int8"),
        "int8float": dict(quantization="int8", int8_io="float32"),
    }
    for name, options in files.items():
        content = export.convert(
            model, calibration_images=calibration.astype(np.uint8), **options
        )
        content = export.add_metadata(content, LABELS, "tiny", options["quantization"])
        (folder / f"model_{name}.tflite").write_bytes(content)
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return folder


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
        ours = edge.load_image(str(tmp_path / image_id), (SIZE, SIZE))
        assert ours.dtype == np.uint8 and ours.shape == (SIZE, SIZE, 3)
        np.testing.assert_array_equal(ours, training, err_msg=image_id)


def test_quantised_inputs_take_raw_pixels(exported, images):
    image = edge.load_image(images["rgb.png"])
    probs = {}
    for name, dtype, zero_point in (("int8", "uint8", 0), ("int8io", "int8", -128)):
        clf = edge.load_classifier(str(exported / f"model_{name}.tflite"))
        assert clf.input_dtype == dtype
        scale, zp = clf.input["quantization"]
        assert scale == pytest.approx(1.0) and zp == zero_point
        probs[name] = clf.predict(image)
        assert probs[name].sum() == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(probs["int8"], probs["int8io"], atol=1 / 128)
    # int8 inside, float32 at the edges: the same numbers, dequantised.
    clf = edge.load_classifier(str(exported / "model_int8float.tflite"))
    assert clf.input_dtype == "float32"
    np.testing.assert_allclose(clf.predict(image), probs["int8"], atol=1 / 128)
    fp32 = edge.load_classifier(str(exported / "model_fp32.tflite")).predict(image)
    assert probs["int8"].argmax() == fp32.argmax()


def test_quantize_input_rounds_and_clips():
    details = {"dtype": np.int8, "quantization": (2.0, -10)}
    pixels = np.array([0.0, 3.0, 255.0])
    np.testing.assert_array_equal(edge.quantize_input(pixels, details), [-10, -8, 118])
    details = {"dtype": np.uint8, "quantization": (0.5, 0)}
    np.testing.assert_array_equal(edge.quantize_input(pixels, details), [0, 6, 255])


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
        ((mismatch / "model.tflite", images["rgb.png"]), "has 2 labels but the model"),
        ((model, images["rgb.png"], f"--labels={tmp_path / 'x.txt'}"), "No labels"),
        ((model,), "Usage"),
    )
    for args, message in cases:
        assert message in _one_line_error(_predict(*args)), args


def test_bad_images_are_skipped_and_the_rest_printed(exported, images, tmp_path):
    model = exported / "model_fp32.tflite"
    for bad, message in (
        (images["broken.jpg"], "Cannot read"),
        (tmp_path / "missing.jpg", "No image file"),
    ):
        result = _predict(model, images["rgb.png"], bad, images["gray.png"])
        # Exit status 1: some images failed; each failure is one line.
        assert message in _one_line_error(result, returncode=1)
        assert list(_tops(result.stdout)) == [images["rgb.png"], images["gray.png"]]


def test_missing_litert_gives_a_one_line_hint(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda argv: edge.make_interpreter(b""))([])
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
    for args, message in (
        ((model, tmp_path / "empty"), "No images found under"),
        ((model, str(tmp_path / "none*.jpg")), "No files match"),
        ((model, image, f"--csv={tmp_path / 'a_file' / 'out.csv'}"), "does not exist"),
        ((model, image, f"--csv={tmp_path}"), "is a folder"),
    ):
        assert message in _one_line_error(_predict(*args)), args
