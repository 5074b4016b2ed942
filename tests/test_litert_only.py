"""Predicting with a `.tflite` file needs only numpy, Pillow, absl-py and
LiteRT: what a Raspberry Pi or any board without TensorFlow has.

Two checks: in this environment with Keras, keras-hub, TensorFlow, TFDS and
MediaPipe blocked (`sys.modules[name] = None`, so importing them fails), and
(`large`) in a fresh virtual environment holding only numpy, pillow,
ai-edge-litert and absl-py, with the project installed `--no-deps`, as the
README's board set-up does. Either way `predict.py` writes the same CSV as
with the whole project (same labels, probabilities, resize from the file's
metadata), and a `.keras` file is refused in one line that says what to
install.
"""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, export_tiny_classifier, run_script
from PIL import Image

LABELS = ["circle", "square", "triangle"]
SIZE = 32
BLOCKED = ("keras", "keras_hub", "tensorflow", "tensorflow_datasets", "mediapipe")
# Runs predict.py as its __main__ with the heavy packages unimportable.
BLOCKING = (
    "import runpy, sys\n"
    f"sys.modules.update(dict.fromkeys({BLOCKED!r}))\n"
    "sys.argv = ['predict.py', *sys.argv[1:]]\n"
    "runpy.run_path('predict.py', run_name='__main__')\n"
)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """An exported tiny model and photos of every aspect ratio."""
    folder = export_tiny_classifier(tmp_path_factory.mktemp("model"), LABELS, SIZE)
    photos = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 90), (120, 50), (64, 64), (33, 200)]):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photos / f"{i}.jpg", quality=90)
    (photos / "broken.jpg").write_text("not an image")
    return folder, photos


def _rows(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _same_predictions(ours, reference):
    """Same files, labels and error column; probabilities to 1e-6 (printed
    with 6 decimals by either run)."""
    assert len(ours) == len(reference) > 1
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine[0] == theirs[0]
        for a, b in zip(mine[1:], theirs[1:], strict=True):
            try:
                assert float(a) == pytest.approx(float(b), abs=1e-6)
            except ValueError:
                assert a == b


def _reference_csv(board, tmp_path):
    folder, photos = board
    out = tmp_path / "full.csv"
    result = run_script(
        "predict.py", folder / "model_int8.tflite", photos, f"--csv={out}"
    )
    assert result.returncode == 1, result.stderr  # the broken photo
    return _rows(out)


def test_predict_runs_with_keras_and_tensorflow_blocked(board, tmp_path):
    folder, photos = board
    out = tmp_path / "blocked.csv"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", BLOCKING, str(folder / "model_int8.tflite"),
         str(photos), f"--csv={out}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert "error: Cannot read" in result.stderr and "broken.jpg" in result.stderr
    _same_predictions(_rows(out), _reference_csv(board, tmp_path))

    keras_file = subprocess.run(
        [sys.executable, "-c", BLOCKING, str(folder / "model.keras"),
         str(photos / "0.jpg")],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert keras_file.returncode == 2
    (line,) = keras_file.stderr.strip().splitlines()
    assert line.startswith("error: ") and "is a Keras file" in line
    assert "pip install -e ." in line and "model_int8.tflite" in line


@pytest.mark.large
def test_predict_in_a_venv_with_only_litert(board, tmp_path):
    """The README's board set-up, for real: a venv with numpy, pillow,
    absl-py and ai-edge-litert, the project installed with --no-deps."""
    folder, photos = board
    venv = tmp_path / "board"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q"]
    subprocess.run(
        [*pip, "numpy", "pillow", "absl-py", "ai-edge-litert"], check=True, timeout=900
    )
    # As README says (editable: a plain install would build in the checkout).
    subprocess.run([*pip, "--no-deps", "-e", REPO], check=True, timeout=900)
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"],
        capture_output=True, text=True, check=True,
    ).stdout.lower()  # fmt: skip
    for name in ("keras", "tensorflow", "mediapipe", "matplotlib"):
        assert f"\n{name}==" not in f"\n{listed}", listed

    out = tmp_path / "board.csv"
    # Run from another folder, the installed package being the one imported.
    script = os.path.join(REPO, "predict.py")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    result = subprocess.run(
        [python, "-P", script, str(folder / "model_int8.tflite"), str(photos),
         f"--csv={out}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    _same_predictions(_rows(out), _reference_csv(board, tmp_path))

    keras_file = subprocess.run(
        [python, "-P", script, str(folder / "model.keras"), str(photos / "0.jpg")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert keras_file.returncode == 2
    (line,) = keras_file.stderr.strip().splitlines()
    assert "is a Keras file" in line and "pip install -e ." in line
