"""ONNX and OpenVINO: exported, checked and run like the `.tflite` files.

A tiny run folder (a colour classifier, 32x32 input, 3 classes, with clear
top-1 decisions so that int8 agreement means something; run folder files
as train.py writes them, photos included) is exported once by export.py
with the `.tflite`, `.onnx` and OpenVINO files. The tests then check the
files themselves in their own runtimes, not only the report: logits and
probabilities against Keras, int8 agreement, the metadata read back,
predict.py's CSV against the `.tflite` file's, evaluate's top-1 against the
report, and a one-line error for each bad file. A check that fails, and a
conversion that fails, are tested with the converters replaced, in seconds.
The real ResNet-18 (tf2onnx takes gigabytes and tens of seconds) is
`large`.
"""

import csv
import importlib.util
import json
import os
import shutil
import sys

import keras
import numpy as np
import pytest
from conftest import TIN100, WEIGHTS, require, run_script, run_scripts
from PIL import Image

from keras_attn import images as images_lib
from keras_attn import inference, runs
from keras_attn.data import Split
from keras_attn.errors import MissingDependencyError
from keras_attn.export import ExportConfig, pipeline
from keras_attn.export.formats import onnx as onnx_format
from keras_attn.export.formats import onnx_convert, runtime_checks
from keras_attn.export.formats import openvino as openvino_format

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")
pytest.importorskip("openvino")
pytest.importorskip("nncf")

LABELS = ["red", "green", "blue"]
SIZE = 32
RESIZE = "pad"  # neither the default (squash) nor the fallback (crop)
FILES = ("model_fp32.onnx", "model_int8.onnx", "model_fp32.xml", "model_int8.xml")
# predict.py run as its __main__ with what an .onnx or .xml does not need
# unimportable (`sys.modules[name] = None`): numpy, Pillow, absl-py and the
# runtime suffice.
BLOCKED = (
    "keras", "keras_hub", "tensorflow", "tensorflow_datasets", "mediapipe",
    "ai_edge_litert", "onnx", "tf2onnx", "nncf",
)  # fmt: skip
PREDICT_BLOCKED = (
    "import runpy, sys\n"
    f"sys.modules.update(dict.fromkeys({BLOCKED!r}))\n"
    "sys.argv = ['predict.py', *sys.argv[1:]]\n"
    "runpy.run_path('predict.py', run_name='__main__')\n"
)


def colour_images(count: int, seed: int, size=(SIZE, SIZE)):
    """`count` noisy images whose strongest channel is the label."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    pixels = rng.integers(0, 90, (count, *size, 3))
    for i, label in enumerate(labels):
        pixels[i, ..., label] += rng.integers(90, 160)
    return pixels.astype(np.uint8), labels.astype(np.int32)


def colour_model() -> keras.Model:
    """Pixels (0..255) -> logits: mean of each channel, through a 1x1
    convolution, a ReLU and a dense layer (conv and matmul: int8 has work)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    conv = keras.layers.Conv2D(6, 1, activation="relu")
    x = keras.layers.GlobalAveragePooling2D()(conv(x))
    dense = keras.layers.Dense(3)
    logits = dense(x)
    model = keras.Model(inputs, logits, name="colours")
    kernel = np.concatenate([np.eye(3), 0.5 * np.eye(3)], 1)[None, None]
    conv.set_weights([kernel.astype("float32"), np.zeros(6, "float32")])
    weights = np.concatenate([8 * np.eye(3), np.zeros((3, 3))]) - 1
    dense.set_weights([weights.astype("float32"), np.zeros(3, "float32")])
    return model


def write_tiny_run(run_dir, photos_dir) -> str:
    """A run folder as train.py leaves it (model.keras, config.json,
    labels.txt, samples.npz, photos/) for the colour model."""
    run_dir.mkdir(parents=True)
    colour_model().save(run_dir / runs.MODEL)
    config = {"dataset": "folder:colours", "image_size": SIZE, "resize": RESIZE}
    (run_dir / runs.CONFIG).write_text(json.dumps(config))
    runs.write_labels(str(run_dir), LABELS)
    calibration, calibration_labels = colour_images(24, seed=1)
    held_out, held_out_labels = colour_images(45, seed=2)
    runs.write_samples(
        str(run_dir),
        runs.Samples(
            Split(calibration, calibration_labels),
            Split(held_out, held_out_labels),
            "val",
        ),
    )
    # Photos at their own aspect ratios, as clients pass them.
    photos_dir.mkdir()
    sources, labels = [], []
    for i, (height, width) in enumerate([(40, 64), (64, 40), (48, 48)] * 4):
        pixels, _ = colour_images(1, seed=10 + i, size=(height, width))
        label = (i // 3) % 3  # colour_images made channel 0 the strongest
        path = photos_dir / f"{i}.png"
        Image.fromarray(np.roll(pixels[0], label, axis=-1)).save(path)
        sources.append(str(path))
        labels.append(label)
    runs.write_photos(
        str(run_dir), sources, labels, [os.path.basename(s) for s in sources],
        min_side=SIZE, count=len(sources),
    )  # fmt: skip
    return str(run_dir)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """export.py on the tiny run: .tflite, .onnx and OpenVINO, fp32 and int8;
    returns (export folder, report, stdout)."""
    root = tmp_path_factory.mktemp("onnx_openvino")
    run_dir = write_tiny_run(root / "run", root / "sources")
    result = run_script(
        "export.py", f"--run={run_dir}", "--formats=tflite,onnx,openvino",
        "--quantize=fp32,int8", "--latency_runs=3", timeout=600,
        KERAS_BACKEND="tensorflow",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = root / "run" / "export"
    return out, json.loads((out / "report.json").read_text()), result.stdout


@pytest.fixture(scope="module")
def keras_logits(exported):
    out, _, _ = exported
    samples = runs.read_samples(str(out.parent))
    model = keras.saving.load_model(out.parent / runs.MODEL)
    images = samples.held_out.images
    return images, samples.held_out.labels, model.predict(images, verbose=0)


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_export_writes_checked_onnx_and_openvino_files(exported):
    out, report, stdout = exported
    for name in FILES:
        assert (out / name).is_file(), name
        assert name in stdout  # the summary table
    for name in ("model_fp32.bin", "model_int8.bin", "labels.txt"):
        assert (out / name).is_file()
    assert not list(out.glob(".tmp-*"))
    for fmt, client in (("onnx", "onnxruntime"), ("openvino", "openvino")):
        assert set(report[fmt]) == {"fp32", "int8"}
        for entry in report[fmt].values():
            assert entry["status"] == "ok", entry["failed_checks"]
            assert entry["kept"] is False
            file_bytes = os.path.getsize(out / entry["file"])
            if fmt == "openvino":
                file_bytes += os.path.getsize(out / entry["weights_file"])
            assert entry["size_bytes"] == file_bytes
            assert set(entry["latency_ms"]) == {"threads_1", "threads_2"}
            assert entry["accuracy"] == report["keras"]["accuracy"] == 1.0
            assert entry["top1_agreement"] == 1.0
            assert entry["input"] == {"dtype": "uint8", "shape": [None, SIZE, SIZE, 3]}
            clients = entry["clients"]
            assert clients[client] == clients["keras"] and clients["photos"] == 12
            assert entry["checks"]["client_photos"]["ok"]
            assert set(entry["checks"]) >= {
                "input", "metadata", "softmax_output", "stateless", "agreement",
            }  # fmt: skip
        assert report[fmt]["fp32"]["logits"]["max_abs_diff"] <= 1e-4
        assert "parity" in report[fmt]["fp32"]["checks"]
        assert report[fmt]["int8"]["logits"]["max_abs_diff"] < 0.5
    assert report["onnx"]["fp32"]["ops"] == {"": report["onnx"]["fp32"]["ops"][""]}
    assert "QuantizeLinear" in report["onnx"]["int8"]["ops"][""]
    assert "FakeQuantize" in report["openvino"]["int8"]["ops"]
    for tool in ("onnx", "onnxruntime", "tf2onnx", "openvino", "nncf"):
        assert tool in report["versions"]


def test_onnx_files_match_keras_in_onnx_runtime(exported, keras_logits):
    """Read with onnx and run by onnxruntime directly, not through our code."""
    import onnx
    import onnxruntime as ort

    out, report, _ = exported
    images, targets, logits = keras_logits
    for variant in ("fp32", "int8"):
        proto = onnx.load(out / f"model_{variant}.onnx")
        (softmax,) = [n for n in proto.graph.node if n.op_type == "Softmax"]
        assert proto.graph.output[0].name in softmax.output
        proto.graph.output.append(
            onnx.helper.make_tensor_value_info(softmax.input[0], 1, None)
        )
        session = ort.InferenceSession(proto.SerializeToString())
        (pixels,) = session.get_inputs()
        assert pixels.type == "tensor(uint8)" and pixels.shape[1:] == [SIZE, SIZE, 3]
        probs, file_logits = session.run(None, {pixels.name: images})  # one batch
        top1 = probs.argmax(1)
        if variant == "fp32":
            assert np.abs(file_logits - logits).max() <= 1e-4
            assert np.abs(probs - _softmax(logits)).max() <= 1e-5
        else:
            assert np.abs(file_logits - logits).max() < 0.5
            assert np.mean(top1 == logits.argmax(1)) == 1.0
        assert np.mean(top1 == targets) == report["onnx"][variant]["accuracy"]


def test_openvino_files_match_keras_in_openvino(exported, keras_logits):
    import openvino as ov

    out, report, _ = exported
    images, targets, logits = keras_logits
    core = ov.Core()
    for variant in ("fp32", "int8"):
        model = core.read_model(out / f"model_{variant}.xml")
        assert model.inputs[0].get_element_type() == ov.Type.u8
        softmax = model.get_results()[0].input_value(0).get_node()
        assert softmax.get_type_name() == "Softmax"
        model.add_outputs([softmax.input_value(0)])
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        result = compiled(images)
        probs, file_logits = result[0], result[1]
        if variant == "fp32":
            assert np.abs(file_logits - logits).max() <= 1e-4
        else:
            assert np.abs(file_logits - logits).max() < 0.5
            assert np.mean(probs.argmax(1) == logits.argmax(1)) == 1.0
        assert (
            np.mean(probs.argmax(1) == targets)
            == report["openvino"][variant]["accuracy"]
        )


def test_metadata_records_the_resize_contract_and_labels(exported, tmp_path):
    """Read back with onnx and openvino; a file copied away from its run
    keeps the contract (predict.py's default resize) and its labels."""
    import onnx
    import openvino as ov

    out, _, _ = exported
    expected = {
        "resize": RESIZE,
        "client_contract": images_lib.contract(RESIZE),
        "labels": "\n".join(LABELS) + "\n",
        "input_size": f"{SIZE}x{SIZE}",
        "output": "probabilities",
    }
    for variant in ("fp32", "int8"):
        props = {
            p.key: p.value
            for p in onnx.load(out / f"model_{variant}.onnx").metadata_props
        }
        model = ov.Core().read_model(out / f"model_{variant}.xml")
        for key, value in expected.items():
            assert props[f"keras_attn.{key}"] == value
            assert model.get_rt_info(["keras_attn", key]).astype(str) == value
        assert props["keras_attn.variant"] == variant
    away = tmp_path / "away"  # no config.json, no labels.txt
    away.mkdir()
    for name in ("model_int8.onnx", "model_int8.xml", "model_int8.bin"):
        shutil.copy(out / name, away)
    for name in ("model_int8.onnx", "model_int8.xml"):
        assert inference.training_resize(str(away / name)) == RESIZE
        classifier = inference.load_classifier(str(away / name))
        assert classifier.labels == LABELS and classifier.input_size == (SIZE, SIZE)


def _rows(path):
    with open(path, newline="") as f:
        return {row["path"]: row for row in csv.DictReader(f)}


def _predict_csv(model, photos, csv_path):
    """What predict.py does with `--csv` (`inference.predict`), in-process."""
    classifier = inference.load_classifier(str(model))
    resize = inference.training_resize(str(model))
    record = inference.identity(str(model), classifier.labels, 2, resize)
    inference.predict(
        classifier, inference.image_files([photos]), resize=resize, top_k=2,
        csv_path=str(csv_path), record=record,
    )  # fmt: skip


def test_predict_writes_the_csv_of_the_tflite_file(exported, tmp_path):
    """Each .onnx and .xml gives the labels of the .tflite file's CSV (fp32:
    the same probabilities too), with the run's resize; predict.py itself
    on two of them, without Keras, TensorFlow or LiteRT (the others through
    the library it calls)."""
    out, _, _ = exported
    photos = str(out.parent / runs.PHOTOS_DIR)
    by_script = ("model_fp32.onnx", "model_int8.xml")
    results = run_scripts(
        [
            ("-c", PREDICT_BLOCKED, out / name, photos,
             f"--csv={tmp_path / name}.csv", "--top_k=2")
            for name in by_script
        ]
    )  # fmt: skip
    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
    for name in ("model_fp32.tflite", *FILES):
        if name not in by_script:
            _predict_csv(out / name, photos, tmp_path / f"{name}.csv")
        sidecar = json.loads((tmp_path / f"{name}.csv.json").read_text())
        assert sidecar["resize"] == RESIZE
    reference = _rows(tmp_path / "model_fp32.tflite.csv")
    assert len(reference) == 12
    for name in FILES:
        rows = _rows(tmp_path / f"{name}.csv")
        assert rows.keys() == reference.keys()
        for path, row in rows.items():
            assert row["label_1"] == reference[path]["label_1"], (name, path)
            if "fp32" in name:
                assert float(row["prob_1"]) == pytest.approx(
                    float(reference[path]["prob_1"]), abs=1e-4
                )


def test_evaluate_scores_each_file_as_the_report_does(exported, tmp_path):
    from keras_attn.evaluation import evaluate as evaluate_lib

    out, report, _ = exported
    for fmt, name in zip(("onnx", "onnx", "openvino", "openvino"), FILES, strict=True):
        variant = name.split("_")[1].split(".")[0]
        result = evaluate_lib.evaluate(
            evaluate_lib.EvalConfig(
                run_dir=str(out.parent),
                model=str(out / name),
                data="sample",
                out_dir=str(tmp_path / name),
            )  # fmt: skip
        )
        assert result["top1"] == report[fmt][variant]["accuracy"], name


def _error(path) -> str:
    """The one-line error `load_classifier` gives for a model file."""
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        inference.load_classifier(str(path))
    (line,) = str(info.value).splitlines()
    return line


def test_bad_model_files_are_named_in_one_line(exported, tmp_path):
    out, _, _ = exported
    onnx_bytes = (out / "model_fp32.onnx").read_bytes()
    xml_text = (out / "model_fp32.xml").read_bytes()
    weights = (out / "model_fp32.bin").read_bytes()
    cases = {
        "truncated.onnx": onnx_bytes[: len(onnx_bytes) // 2],
        "random.onnx": np.random.default_rng(0).bytes(4096),
        "empty.onnx": b"",
        "truncated.xml": xml_text[: len(xml_text) // 2],
        "random.xml": np.random.default_rng(0).bytes(4096),
        "nobin.xml": xml_text,
        "shortbin.xml": xml_text,
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "truncated.bin").write_bytes(weights)
    (tmp_path / "random.bin").write_bytes(weights)
    (tmp_path / "shortbin.bin").write_bytes(weights[: len(weights) // 2])
    runs.write_labels(str(tmp_path), LABELS)
    expected = {
        "truncated.onnx": "is not an ONNX model, or is damaged or truncated",
        "random.onnx": "is not an ONNX model, or is damaged or truncated",
        "empty.onnx": "is not an ONNX model, or is damaged or truncated",
        "truncated.xml": "is damaged or truncated",
        "random.xml": "is not an OpenVINO model",
        "nobin.xml": "has no weights file nobin.bin beside it",
        "shortbin.xml": "Incorrect weights in bin file",
    }
    for name, message in expected.items():
        line = _error(tmp_path / name)
        assert str(tmp_path / name) in line and message in line, line
    assert "INVALID_PROTOBUF" in _error(tmp_path / "truncated.onnx")
    # The labels.txt of another run (two classes) beside a three-class model.
    other = tmp_path / "other"
    other.mkdir()
    for name in ("model_fp32.onnx", "model_fp32.xml", "model_fp32.bin"):
        shutil.copy(out / name, other)
    runs.write_labels(str(other), ["cat", "dog"])
    for name in ("model_fp32.onnx", "model_fp32.xml"):
        line = _error(other / name)
        assert "2 labels for a model with 3 classes" in line, line
        assert "labels.txt of the same run" in line
    # predict.py says each in one line, exit status 2.
    image = str(out.parent / runs.PHOTOS_DIR / "0000.jpg")
    results = run_scripts(
        [
            ("-c", PREDICT_BLOCKED, tmp_path / "truncated.onnx", image),
            ("-c", PREDICT_BLOCKED, tmp_path / "nobin.xml", image),
        ]
    )
    for result, message in zip(
        results, ("truncated.onnx is not an ONNX model", "nobin.xml has no weights"),
        strict=True,
    ):  # fmt: skip
        assert result.returncode == 2, result.stdout + result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert message in lines[0]


def test_a_missing_runtime_is_named_with_what_to_install(exported, monkeypatch, capsys):
    out, _, _ = exported
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    monkeypatch.setitem(sys.modules, "openvino", None)
    for name, extra in (("model_fp32.onnx", "onnx"), ("model_fp32.xml", "openvino")):
        with pytest.raises(MissingDependencyError) as info:
            inference.load_classifier(str(out / name))
        (line,) = str(info.value).splitlines()
        assert f'pip install -e ".[{extra}]"' in line
    # export: one named but not installed is refused; by default skipped.
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name in ("tf2onnx", "nncf") else real(name, *a),
    )  # fmt: skip
    for name, extra in (("onnx", "onnx"), ("openvino", "openvino")):
        config = ExportConfig(run_dir=str(out.parent), formats=(name,))
        with pytest.raises(MissingDependencyError) as info:
            pipeline.chosen_formats(config)
        assert str(info.value).startswith(f"--formats={name}: ")
        assert f'pip install -e ".[{extra}]"' in str(info.value)
    chosen = pipeline.chosen_formats(ExportConfig(run_dir=str(out.parent)))
    assert "onnx" not in chosen and "openvino" not in chosen and "tflite" in chosen
    notes = capsys.readouterr().out.splitlines()
    assert [n.split(":")[0] for n in notes] == ["note", "note"]
    assert "onnx files skipped" in notes[0] and "openvino files skipped" in notes[1]


def _tiny_export(run_dir, fmt, config, monkeypatch, converted):
    """One format's export of the tiny run with its converter replaced by
    `converted` (no tf2onnx child, no OpenVINO conversion)."""
    run = runs.load_run(run_dir)
    if fmt == "onnx":
        monkeypatch.setattr(onnx_convert, "convert", lambda path: converted())
    else:
        monkeypatch.setattr(openvino_format, "convert", lambda model: converted())
    held_out = run.samples.held_out
    logits = run.model.predict(held_out.images, verbose=0)
    inputs = pipeline.Inputs(
        held_out.images, held_out.labels, logits, pipeline.client_photos(run)
    )
    module = onnx_format if fmt == "onnx" else openvino_format
    return module.export(run, inputs, str(run_dir / "export"), config)


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_a_file_that_fails_a_check_is_not_written_unless_kept(
    exported, tmp_path, monkeypatch, fmt
):
    import openvino as ov

    out, _, _ = exported
    run_dir = tmp_path / "run"
    shutil.copytree(out.parent, run_dir)
    files = {
        "onnx": ["model_fp32.onnx"],
        "openvino": ["model_fp32.xml", "model_fp32.bin"],
    }[fmt]
    fp32 = out / files[0]
    converted = {
        "onnx": fp32.read_bytes,
        "openvino": lambda: ov.Core().read_model(fp32),
    }[fmt]
    monkeypatch.setattr(runtime_checks, "LOGIT_TOLERANCE", -1.0)  # parity fails
    config = ExportConfig(run_dir=str(run_dir), quantize=("fp32",), latency_runs=1)
    (entry,) = _tiny_export(run_dir, fmt, config, monkeypatch, converted).values()
    assert entry["status"] == "failed" and entry["failed_checks"] == ["parity"]
    for name in files:  # the stale files of the earlier export are removed
        assert not (run_dir / "export" / name).exists(), name
    config.keep_failed = True
    (entry,) = _tiny_export(run_dir, fmt, config, monkeypatch, converted).values()
    assert entry["kept"] is True
    for name in files:
        assert (run_dir / "export" / name).read_bytes() == (out / name).read_bytes()

    def broken():
        raise RuntimeError("the converter broke")

    (entry,) = _tiny_export(run_dir, fmt, config, monkeypatch, broken).values()
    assert entry["failed_checks"] == ["conversion"] and "kept" not in entry
    assert entry["checks"]["conversion"]["detail"] == (
        "RuntimeError: the converter broke"
    )
    for name in files:  # never kept, and the stale ones are gone
        assert not (run_dir / "export" / name).exists(), name


def test_the_conversion_child_reports_its_error_in_one_line(tmp_path, capsys):
    (tmp_path / "model.keras").write_bytes(b"not a model")
    assert onnx_convert._main([str(tmp_path / "model.keras"), str(tmp_path / "o")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("onnx_convert error: ")


def test_keras_to_onnx_widens_the_normalization_and_matches_keras():
    import onnxruntime as ort
    from onnx import numpy_helper

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, 24, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Normalization(mean=[0.485, 0.456, 0.406],
                                   variance=[0.05, 0.05, 0.05])(x)  # fmt: skip
    x = keras.layers.Conv2D(4, 3)(x)
    logits = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, logits)
    proto = onnx_convert.keras_to_onnx(model)
    shapes = [numpy_helper.to_array(v).shape for v in proto.graph.initializer]
    assert shapes.count((1, 1, 24, 3)) >= 1  # mean and/or 1/std, widened
    assert not [shape for shape in shapes if np.prod(shape) == 3]  # none left
    pixels = np.random.default_rng(2).integers(0, 256, (4, SIZE, 24, 3), np.uint8)
    session = ort.InferenceSession(
        onnx_convert.with_logits_output(proto.SerializeToString())
    )
    _, file_logits = session.run(None, {onnx_convert.INPUT: pixels})
    expected = model.predict(pixels.astype("float32"), verbose=0)
    assert np.abs(file_logits - expected).max() <= 1e-4


# --------------------------------------------------------------- ResNet-18


@pytest.mark.large  # a training (1 min) and tf2onnx on ResNet-18 (GBs, 1 min)
def test_resnet18_exports_to_onnx_and_openvino(tmp_path):
    source = require(TIN100)
    require(WEIGHTS)
    root = tmp_path / "tin10"
    for split in ("train", "val"):
        os.makedirs(root / split)
        for name in sorted(os.listdir(os.path.join(source, split)))[:10]:
            os.symlink(os.path.join(source, split, name), root / split / name)
    run_dir = tmp_path / "run"
    result = run_script(
        "train.py", f"--dataset=folder:{root}", "--attention=unified",
        f"--weights={WEIGHTS}", "--image_size=128", "--epochs=6",
        "--backbone=frozen", "--batch_size=20", "--learning_rate=3e-2",
        "--warmup_epochs=0", "--augment=none", f"--run_dir={run_dir}",
        timeout=900, KERAS_BACKEND="tensorflow",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_script(
        "export.py", f"--run={run_dir}", "--formats=tflite,onnx,openvino",
        "--quantize=fp32,int8", "--latency_runs=5", "--calibration_steps=50",
        timeout=1200, KERAS_BACKEND="tensorflow",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = run_dir / "export"
    report = json.loads((out / "report.json").read_text())
    for fmt in ("onnx", "openvino"):
        fp32, int8 = report[fmt]["fp32"], report[fmt]["int8"]
        assert fp32["status"] == int8["status"] == "ok"
        assert fp32["logits"]["max_abs_diff"] <= 1e-4
        assert fp32["top1_agreement"] == 1.0
        assert int8["top1_agreement_decided"] >= 0.8
        assert int8["size_bytes"] < 0.4 * fp32["size_bytes"]
    photos = str(run_dir / runs.PHOTOS_DIR)
    names = ("model_fp32.tflite", *FILES)
    results = run_scripts(
        [("predict.py", out / n, photos, f"--csv={tmp_path / n}.csv") for n in names]
    )
    assert all(r.returncode == 0 for r in results), [r.stderr[-500:] for r in results]
    # The labels of the fp32 .tflite file's CSV: all of them for the float
    # files (but exact ties), most for the int8 ones (as the export's check).
    reference = _rows(tmp_path / "model_fp32.tflite.csv")
    for name in FILES:
        rows = _rows(tmp_path / f"{name}.csv")
        assert rows.keys() == reference.keys()
        same = np.mean([rows[p]["label_1"] == reference[p]["label_1"] for p in rows])
        assert same >= (0.99 if "fp32" in name else 0.8), (name, same)
