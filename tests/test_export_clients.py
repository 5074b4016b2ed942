"""Exported files scored as apps call them (keras_attn/export/clients.py).

A tiny model that answers "is the image mostly red or mostly blue" and wide
photos whose centred square is red and whose sides are blue: the centre
crop says red, the stretched frame blue. So the client path that follows
the crop contract (MediaPipe with a centred region of interest) gets them
right, and one that stretches the frame gets them wrong.
"""

import os

import keras
import numpy as np
import pytest
from PIL import Image

from keras_attn import export, images, runs
from keras_attn.export import checks, clients
from keras_attn.tflite import metadata as tflite_metadata

LABELS = ["red", "blue"]
SIZE = 32


@pytest.fixture(scope="module")
def colour_model():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)  # (B, 3) mean colour
    dense = keras.layers.Dense(2)
    logits = dense(x)
    dense.set_weights(
        [np.array([[1, -1], [0, 0], [-1, 1]], "float32") / 25, np.zeros(2)]
    )
    return keras.Model(inputs, logits)


@pytest.fixture(scope="module")
def wide_photos(tmp_path_factory):
    """Six 144x48 photos (and one 48x144): red centred square, blue sides."""
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for i in range(6):
        frame = np.zeros((48, 144, 3), np.uint8)
        frame[..., 2] = 200  # blue
        frame[:, 48:96] = (200, 0, 0)  # the centred square, red
        if i == 5:
            frame = frame.transpose(1, 0, 2).copy()  # portrait
        path = str(folder / f"{i}.png")
        Image.fromarray(frame).save(path)
        paths.append(path)
    return runs.Photos(
        paths, np.zeros(6, np.int32), [os.path.basename(p) for p in paths]
    )


def _tflite(model, resize):
    content = export.convert(model, "fp32")
    return export.add_metadata(content, LABELS, "colour", "fp32", resize)


def test_metadata_records_the_resize_contract(colour_model):
    for resize in ("crop", "pad", "squash"):
        content = _tflite(colour_model, resize)
        assert tflite_metadata.read_resize(content) == resize
        assert images.contract(resize).encode() in tflite_metadata.read_metadata(
            content
        )


def test_mediapipe_follows_the_crop_contract_with_a_region_of_interest(
    colour_model, wide_photos
):
    pytest.importorskip("mediapipe")
    content = _tflite(colour_model, "crop")
    cropped = clients.mediapipe_top1(content, LABELS, wide_photos, "crop")
    np.testing.assert_array_equal(cropped, [0] * 6)  # the red centre
    stretched = clients.mediapipe_top1(content, LABELS, wide_photos, "squash")
    np.testing.assert_array_equal(stretched, [1] * 6)  # mostly blue


def test_a_client_far_below_keras_fails_the_file(colour_model, wide_photos):
    pytest.importorskip("mediapipe")
    # Trained on centre crops (Keras: 100 % on the prepared photos), but the
    # metadata says the frame is passed whole: MediaPipe and LiteRT stretch it.
    content = _tflite(colour_model, "squash")
    images = clients.prepared(wide_photos, (SIZE, SIZE), "squash")
    keras_right = np.ones(len(wide_photos), bool)  # Keras: 100 %
    top1 = clients.tflite_clients(content, LABELS, wide_photos, images, "squash")
    measured, check = checks.clients(keras_right, top1, wide_photos.labels)
    assert measured["mediapipe"] == 0.0 and measured["litert"] == 0.0
    assert measured["gap_points"] == {"litert": 100.0, "mediapipe": 100.0}
    assert not check["ok"]
    assert check["detail"].startswith("litert top-1 0.0% vs Keras 100.0% on 6 held")
    images = clients.prepared(wide_photos, (SIZE, SIZE), "crop")
    top1 = clients.tflite_clients(
        _tflite(colour_model, "crop"), LABELS, wide_photos, images, "crop"
    )
    measured, check = checks.clients(keras_right, top1, wide_photos.labels)
    assert check["ok"] and measured["mediapipe"] == measured["litert"] == 1.0


def test_photos_kept_by_a_run_are_whole_frames_spread_over_classes(tmp_path):
    sources, labels = [], []
    for i in range(9):
        frame = np.full((300, 600 if i % 2 else 150, 3), i * 20, np.uint8)
        path = str(tmp_path / f"{i}.jpg")
        Image.fromarray(frame).save(path)
        sources.append(path)
        labels.append(i % 3)
    (tmp_path / "broken.jpg").write_text("not an image")
    sources.append(str(tmp_path / "broken.jpg"))
    labels.append(0)
    photos = runs.write_photos(
        str(tmp_path / "run"), sources, labels, [os.path.basename(s) for s in sources],
        min_side=100, count=6,
    )  # fmt: skip
    assert len(photos) <= 6 and sorted(set(photos.labels)) == [0, 1, 2]
    for file in photos.files:
        with Image.open(file) as img:
            assert min(img.size) == 100  # the shorter side, aspect ratio kept
            assert max(img.size) in (200, 400)
    assert "broken.jpg" not in photos.sources
    again = runs.read_photos(str(tmp_path / "run"))
    assert again.files == photos.files and again.sources == photos.sources
    assert runs.read_photos(str(tmp_path / "none")) is None


def test_a_tflite_file_away_from_its_run_still_says_its_resize(colour_model, tmp_path):
    from keras_attn import inference

    path = tmp_path / "copied_to_a_phone.tflite"
    path.write_bytes(_tflite(colour_model, "pad"))
    assert inference.training_resize(str(path)) == "pad"
    path.write_bytes(_tflite(colour_model, "pad")[:1000])  # damaged: no answer
    assert inference.training_resize(str(path)) is None


def test_export_says_on_the_console_when_mediapipe_cannot_check(monkeypatch, capsys):
    import importlib.util

    from keras_attn.export import pipeline

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "mediapipe" else find_spec(name, *args),
    )
    pipeline.note_unchecked_clients(["saved_model", "tflite"], photos=object())
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("note: mediapipe is not installed, so MediaPipe")
    assert "pip install mediapipe" in line
    pipeline.note_unchecked_clients(["onnx"], photos=object())  # no .tflite
    pipeline.note_unchecked_clients(["tflite"], photos=None)  # no check at all
    assert capsys.readouterr().out == ""
    # The note and the check agree: the check is skipped the same way.
    assert clients.mediapipe_top1(b"", LABELS, photos=None, resize="squash") is None
    monkeypatch.undo()
    pipeline.note_unchecked_clients(["tflite"], photos=object())  # installed here
    assert capsys.readouterr().out == ""
