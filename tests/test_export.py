"""export.py end to end on a briefly trained model, with numbers checked.

One module-scoped run: ResNet-18 with the pretrained backbone in
../shared/weights, fine-tuned (backbone frozen) for a few epochs on 10 real
Tiny ImageNet classes from ../shared/data (64x64 stored, 128 px inside), then
exported by `export.py` once. A model that has learned something has clear
top-1 decisions, so int8 agreement with Keras means something (a random model
has near-tied logits). Tests then check the files themselves, not only the
report: SavedModel and fp32 parity, int8 agreement, builtin ops, every
attention branch, metadata, MediaPipe, and that a failed check writes nothing.
"""

import importlib.util
import json
import os
import shutil

import keras
import numpy as np
import pytest
from conftest import TIN100, WEIGHTS, require, run_script, run_scripts
from PIL import Image

import keras_attn
from keras_attn import export, inference, runs
from keras_attn.data import Split
from keras_attn.evaluation import evaluate as evaluate_lib
from keras_attn.export import pipeline
from keras_attn.export.formats import tflite as tflite_format
from keras_attn.layers import BRANCHES, UnifiedSpatialAttention
from keras_attn.runs import Samples
from keras_attn.tflite import graph as tflite_graph
from keras_attn.tflite import metadata as tflite_metadata

CLASSES = 10
QUANTIZATIONS = export.QUANTIZATIONS


def _script(*args, timeout=600):
    return run_script(*args, timeout=timeout, KERAS_BACKEND="tensorflow")


@pytest.mark.large
def test_export_refuses_a_run_folder_given_without_its_flag(tmp_path):
    # `export.py runs/x` used to export the newest run under runs/ instead.
    result = _script("export.py", str(tmp_path))
    assert result.returncode == 2, result.stderr[-2000:]
    (error,) = result.stderr.strip().splitlines()
    assert error == (
        f"error: Unexpected arguments: {tmp_path}; pass the run folder as --run=DIR."
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run folder from train.py: 10 Tiny ImageNet classes, head + attention."""
    source = require(TIN100)
    require(WEIGHTS)
    root = tmp_path_factory.mktemp("tin10")
    for split in ("train", "val"):
        os.makedirs(root / split)
        for name in sorted(os.listdir(os.path.join(source, split)))[:CLASSES]:
            os.symlink(os.path.join(source, split, name), root / split / name)
    run_dir = tmp_path_factory.mktemp("run") / "tin10"
    # train.py in a process of its own: what a training leaves in TensorFlow's
    # memory (not freed) goes with it.
    result = _script(
        "train.py",
        f"--dataset=folder:{root}",
        "--attention=unified",
        f"--weights={WEIGHTS}",
        "--image_size=128",
        "--epochs=6",
        "--backbone=frozen",  # head on cached features: fast, the features are good
        "--batch_size=20",
        "--learning_rate=3e-2",
        "--warmup_epochs=0",
        "--augment=none",
        f"--run_dir={run_dir}",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def exported(trained_run):
    """Runs export.py on the run after its training data moved away; returns
    (run_dir, report)."""
    config = json.loads((trained_run / "config.json").read_text())
    data_root = config["dataset"][len("folder:") :]
    os.rename(data_root, data_root + "-moved")  # export needs only the run folder
    leftover = trained_run / "export" / ".tmp-killed.tflite"  # a killed export's
    leftover.parent.mkdir()
    leftover.write_bytes(b"\0" * 1000)
    result = _script(
        "export.py",
        f"--run={trained_run}",
        "--formats=saved_model,tflite",  # ONNX and OpenVINO: their own tests
        "--calibration_steps=50",
        "--latency_runs=5",
        "--parity_images=50",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "model_int8.tflite" in result.stdout  # the summary table
    report = json.loads((trained_run / "export" / "report.json").read_text())
    return trained_run, report


@pytest.fixture(scope="module")
def held_out(trained_run):
    """The held-out images the run keeps (its val split: the folder has no
    test split) and the Keras model's logits on them."""
    split = runs.read_samples(str(trained_run)).held_out
    model = keras_attn.load_model(str(trained_run / "model.keras"))
    logits = model.predict(split.images.astype("float32"), verbose=0)
    return split.images, split.labels, np.asarray(logits)


@pytest.mark.large
def test_frozen_run_scores_its_cached_maps_as_the_saved_model_scores_images(
    trained_run, held_out
):
    """A frozen run scores val on the cached float16 maps (phases.logits_of);
    model.keras on the images gives the same loss and top-1."""
    _, labels, logits = held_out
    assert len(labels) == CLASSES * 5  # the whole val split
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    loss = -log_probs[np.arange(len(labels)), labels].mean()
    metrics = runs.read_metrics(str(trained_run))
    assert metrics["val_loss"] == pytest.approx(loss, abs=2e-3)
    accuracy = (logits.argmax(1) == labels).mean()
    assert abs(metrics["val_accuracy"] - accuracy) <= 1 / len(labels)


def read(run_dir, quantization) -> bytes:
    return (run_dir / "export" / f"model_{quantization}.tflite").read_bytes()


def test_export_writes_every_artefact(exported):
    run_dir, report = exported
    out = run_dir / "export"
    for quantization in QUANTIZATIONS:
        assert (out / f"model_{quantization}.tflite").stat().st_size > 0
        assert report["tflite"][quantization]["status"] == "ok", report["tflite"][
            quantization
        ]
    assert (out / "saved_model" / "saved_model.pb").exists()
    assert (out / "labels.txt").read_text() == (run_dir / "labels.txt").read_text()
    assert report["status"] == "ok" and report["saved_model"]["status"] == "ok"
    assert not [f for f in os.listdir(out) if f.startswith((".tmp", ".old"))]
    for quantization in QUANTIZATIONS:
        entry = report["tflite"][quantization]
        for key in ("size_bytes", "top1_agreement", "accuracy"):
            assert key in entry
        assert set(entry["latency_ms"]) == {"threads_1", "threads_2"}
        assert entry["logits"]["max_abs_diff"] >= entry["logits"]["mean_abs_diff"]
    # The checks ran on the images the run keeps, named in the report.
    samples = runs.read_samples(str(run_dir))
    assert report["evaluated_on"]["split"] == samples.held_out_split == "val"
    assert report["evaluated_on"]["ids"] == samples.held_out.ids.tolist()
    assert len(samples.held_out) == 50 and len(samples.calibration) == 100
    # Readable by other users: the mode the umask (022 here) gives new files.
    assert (out / "labels.txt").stat().st_mode & 0o777 == 0o644
    assert (out / "saved_model").stat().st_mode & 0o777 == 0o755
    assert (out / "model_int8.tflite").stat().st_mode & 0o777 == 0o644
    sizes = {v: report["tflite"][v]["size_bytes"] for v in QUANTIZATIONS}
    assert sizes["int8"] < 0.3 * sizes["fp32"]
    assert sizes["dynamic"] < 0.3 * sizes["fp32"]
    assert sizes["fp16"] < 0.55 * sizes["fp32"]


def test_saved_model_matches_keras(exported, held_out):
    import tensorflow as tf

    run_dir, _ = exported
    images, _, logits = held_out
    serve = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    signature = serve.signatures["serving_default"]
    (name,) = signature.structured_input_signature[1]
    spec = signature.structured_input_signature[1][name]
    assert spec.shape.as_list() == [None, 64, 64, 3]  # raw pixels, stored size
    (out,) = signature(**{name: tf.constant(images[:16], tf.float32)}).values()
    assert np.abs(out.numpy() - logits[:16]).max() <= 1e-4


def test_fp32_tflite_logits_match_keras(exported, held_out):
    run_dir, report = exported
    images, _, logits = held_out
    content = read(run_dir, "fp32")
    tflite_logits = export.softmax_input_logits(content, images[:16])
    assert np.abs(tflite_logits - logits[:16]).max() <= 1e-4
    assert report["tflite"]["fp32"]["logits"]["max_abs_diff"] <= 1e-4
    clf = inference.TFLiteClassifier(content, runs.read_labels(str(run_dir)))
    probs = clf.predict(images[:16])
    assert np.abs(probs - inference.softmax(logits[:16])).max() <= 1e-5


def test_int8_agrees_with_keras_on_real_images(exported, held_out):
    run_dir, report = exported
    images, labels, logits = held_out
    clf = inference.TFLiteClassifier(
        read(run_dir, "int8"), runs.read_labels(str(run_dir))
    )
    # uint8 in, uint8 out, and the input takes raw pixels.
    assert clf.input_dtype == "uint8"
    scale, zero_point = clf.input["quantization"]
    assert scale == pytest.approx(1.0) and zero_point == 0
    probs = clf.predict(images)
    agreement = np.mean(probs.argmax(1) == logits.argmax(1))
    assert report["tflite"]["int8"]["top1_agreement"] == pytest.approx(agreement)
    # 50 val images resolve agreement only in 2% steps; add the 100 training
    # images (real; int8 is calibrated on some of them, so slightly optimistic).
    train = runs.read_samples(str(run_dir)).calibration
    model = keras_attn.load_model(str(run_dir / "model.keras"))
    train_logits = model.predict(train.images.astype("float32"), verbose=0)
    both = np.concatenate([probs.argmax(1), clf.predict(train.images).argmax(1)])
    reference = np.concatenate([logits.argmax(1), train_logits.argmax(1)])
    assert len(both) == 150
    assert np.mean(both == reference) >= 0.95, np.mean(both == reference)
    keras_accuracy = np.mean(logits.argmax(1) == labels)
    assert keras_accuracy > 0.3  # it learned something: 10 classes
    assert report["keras"]["accuracy"] == pytest.approx(keras_accuracy)


def test_every_file_is_builtin_stateless_and_has_each_branch_op(exported):
    run_dir, _ = exported
    for quantization in QUANTIZATIONS:
        ops = tflite_graph.model_ops(read(run_dir, quantization))
        assert all(op.isupper() for op in ops), (quantization, sorted(set(ops)))
        assert not set(ops) & set(export.VARIABLE_OPS), quantization
        # hierarchical: resize back; neighbourhood: local std; fusion: concat + sigmoid
        needed = {"RESIZE_BILINEAR", "AVERAGE_POOL_2D", "SQRT", "CONCATENATION"}
        assert needed | {"LOGISTIC", "SOFTMAX"} <= set(ops), (
            quantization,
            sorted(set(ops)),
        )


def _branch_model(branches) -> keras.Model:
    """The attention layer alone on an 8x8x32 map, memory filled as in training."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 32))
    layer = UnifiedSpatialAttention(branches=branches, name="attention")
    x = layer(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    rng = np.random.default_rng(0)
    layer(rng.uniform(0, 255, (16, 8, 8, 32)).astype("float32"), training=True)
    return model


@pytest.mark.parametrize("branch", BRANCHES)
def test_each_attention_branch_converts_alone_and_matches(branch):
    model = _branch_model((branch,))
    features = np.random.default_rng(2).uniform(0, 255, (6, 8, 8, 32))
    features = features.astype("float32")
    logits = model.predict(features, verbose=0)
    for quantization in ("fp32", "int8"):
        content = export.convert(model, quantization, features, calibration_steps=6)
        ops = tflite_graph.model_ops(content)
        assert all(op.isupper() for op in ops), (branch, quantization, ops)
        assert not set(ops) & set(export.VARIABLE_OPS), (branch, quantization)
        if quantization == "fp32":
            tflite_logits = export.softmax_input_logits(content, features)
            assert np.abs(tflite_logits - logits).max() <= 1e-4, branch
    if branch == "memory":
        # The filled memory is a constant in the file: emptied, the file differs.
        model.get_layer("attention").memory_count.assign(0.0)
        emptied = export.softmax_input_logits(export.convert(model, "fp32"), features)
        assert np.abs(emptied - logits).max() > 1e-3


def test_the_tflite_file_holds_the_normalisation_tiled_and_the_same_numbers():
    """The per-channel normalisation goes into the file tiled across the
    width the backbone sees (XNNPACK broadcasts a 3-value constant per
    pixel): the same logits, to the bit in Keras and within float rounding
    in LiteRT; the `.keras` model is left as it is."""
    from keras_attn.export.formats import normalization, tflite_convert
    from keras_attn.models import build_classifier

    keras.utils.set_random_seed(0)
    # Stored 160x128, resized to 128x128 inside: the width tiled is 128.
    model = build_classifier(4, (160, 128, 3), 128, attention="none", weights="none")
    wide = normalization.widen_normalization(model)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 160, 128, 3))
    pixels = pixels.astype("float32")
    logits = model.predict(pixels, verbose=0)
    np.testing.assert_array_equal(wide.predict(pixels, verbose=0), logits)
    assert wide.name == model.name
    assert tuple(model.get_layer("normalize").axis) == (-1,)  # the model's own
    content = tflite_convert.convert(model, "fp32")
    interpreter = inference.make_interpreter(content)
    shapes = [tuple(d["shape"]) for d in interpreter.get_tensor_details()]
    assert shapes.count((1, 1, 128, 3)) == 2, shapes  # mean and 1/std
    assert (3,) not in shapes and (1, 1, 1, 3) not in shapes
    assert np.abs(export.softmax_input_logits(content, pixels) - logits).max() <= 1e-4


def test_metadata_reads_back_with_mediapipes_schema(exported):
    schema = pytest.importorskip(
        "mediapipe.tasks.metadata.metadata_schema_py_generated"
    )
    run_dir, _ = exported
    labels = runs.read_labels(str(run_dir))
    for quantization in QUANTIZATIONS:
        content = read(run_dir, quantization)
        metadata = schema.ModelMetadataT.InitFromPackedBuf(
            bytearray(tflite_metadata.read_metadata(content)), 0
        )
        assert metadata.minParserVersion == b"1.0.0"
        (subgraph,) = metadata.subgraphMetadata
        (image,) = subgraph.inputTensorMetadata
        (scores,) = subgraph.outputTensorMetadata
        (unit,) = image.processUnits
        assert unit.optionsType == schema.ProcessUnitOptions.NormalizationOptions
        assert list(unit.options.mean) == [0.0] and list(unit.options.std) == [1.0]
        properties = image.content.contentProperties
        assert (
            image.content.contentPropertiesType
            == schema.ContentProperties.ImageProperties
        )
        assert properties.colorSpace == schema.ColorSpaceType.RGB
        assert (properties.defaultSize.height, properties.defaultSize.width) == (64, 64)
        (labels_file,) = scores.associatedFiles
        assert labels_file.name == b"labels.txt"
        assert labels_file.type == schema.AssociatedFileType.TENSOR_AXIS_LABELS
        packed = tflite_metadata.read_associated_files(content)["labels.txt"]
        assert packed.decode().splitlines() == labels


def test_metadata_keeps_tensor_data_16_byte_aligned(exported):
    from tensorflow.lite.python import schema_py_generated as schema

    run_dir, _ = exported
    content = bytearray(read(run_dir, "int8"))
    model = schema.Model.GetRootAs(content, 0)
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength() > 0:
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            assert start % 16 == 0, i


def _predict_top(run_dir, quantization, paths):
    model = run_dir / "export" / f"model_{quantization}.tflite"
    result = _script("predict.py", str(model), *paths, "--top_k=3", timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    tops = {}
    for i, line in enumerate(lines):
        if line in paths:
            ranked = [lines[i + k].split() for k in (1, 2, 3)]
            tops[line] = [(label, float(prob)) for prob, label in ranked]
    assert len(tops) == len(paths), result.stdout
    return tops


def test_mediapipe_image_classifier_agrees_with_predict(exported):
    mp = pytest.importorskip("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision

    run_dir, _ = exported
    config = json.loads((run_dir / "config.json").read_text())
    root = config["dataset"][len("folder:") :] + "-moved"  # see `exported`
    paths = []
    for name in sorted(os.listdir(os.path.join(root, "val")))[:4]:
        folder = os.path.join(root, "val", name)
        paths.append(os.path.join(folder, sorted(os.listdir(folder))[0]))
    for quantization in QUANTIZATIONS:
        predicted = _predict_top(run_dir, quantization, paths)
        model = str(run_dir / "export" / f"model_{quantization}.tflite")
        options = vision.ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=model), max_results=3
        )
        classifier = vision.ImageClassifier.create_from_options(options)
        try:
            for path in paths:
                pixels = inference.load_image(path, (64, 64))
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels)
                result = classifier.classify(image)
                best = result.classifications[0].categories[0]
                (label, prob), *rest = predicted[path]
                assert best.score == pytest.approx(prob, abs=2e-3), (quantization, path)
                # Equal scores (a uint8 output's 1/256 steps tie) may rank either
                # way; any label tied with predict.py's first is the same answer.
                tied = {label} | {name for name, p in rest if abs(p - prob) < 1e-6}
                assert best.category_name in tied, (quantization, path)
        finally:
            classifier.close()


def test_failed_check_writes_nothing_and_names_the_check(
    exported, tmp_path, monkeypatch
):
    run_dir, _ = exported
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("model.keras", "config.json", "labels.txt", "samples.npz"):
        shutil.copy(run_dir / name, copy / name)
    stale = copy / "export" / "model_fp32.tflite"
    stale.parent.mkdir()
    stale.write_bytes(read(run_dir, "fp32"))  # from an earlier, good export
    # A converter that returns a file far from the Keras model: the dynamic
    # range one (logit error ~0.1) in place of the float32 one.
    dynamic = read(run_dir, "dynamic")
    monkeypatch.setattr(tflite_format, "convert", lambda *args, **kwargs: dynamic)
    config = export.ExportConfig(
        run_dir=str(copy), formats=("tflite",), quantize=("fp32",), latency_runs=2
    )
    with pytest.raises(export.ExportCheckError, match=r"model_fp32\.tflite.*parity"):
        export.export_run(config)
    assert not stale.exists()
    assert not [f for f in os.listdir(copy / "export") if f.startswith(".tmp")]
    report = json.loads((copy / "export" / "report.json").read_text())
    assert report["status"] == "failed"
    assert report["tflite"]["fp32"]["failed_checks"] == ["parity"]


@pytest.mark.large
def test_export_cli_errors_are_one_line(tmp_path):
    cases = (
        ([f"--run={tmp_path / 'nope'}"], "No run folder"),
        ([f"--run={tmp_path}"], "has no model.keras"),
        ([f"--run={tmp_path}", "--quantize=fp64"], "--quantize=fp64"),
        ([f"--runs_root={tmp_path}"], "No trained run"),
    )
    results = run_scripts(
        [["export.py", *args] for args, _ in cases],
        timeout=120,
        KERAS_BACKEND="tensorflow",
    )
    for (args, message), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (args, result.stderr)
        errors = [
            line for line in result.stderr.splitlines() if line.startswith("error:")
        ]
        assert len(errors) == 1 and message in errors[0], (args, result.stderr)


def test_an_export_it_cannot_write_fails_before_converting(tmp_path, monkeypatch):
    """Another user's run folder: one line at once (it converted for a minute
    and then failed on a temporary file)."""
    run_dir = tmp_path / "run"
    (run_dir / "export").mkdir(parents=True)
    denied = {str(run_dir / "export"), str(run_dir)}

    def access(path, mode):
        return str(path) not in denied

    def load_run(*args):
        raise AssertionError("the run was loaded before the folder was checked")

    monkeypatch.setattr(os, "access", access)  # root ignores chmod
    monkeypatch.setattr(pipeline, "load_run", load_run)
    with pytest.raises(ValueError) as info:
        export.export_run(export.ExportConfig(run_dir=str(run_dir)))
    assert str(info.value) == (
        f"Cannot write the export in {run_dir / 'export'} ({run_dir / 'export'}: "
        "permission denied); export as the run folder's owner, or copy the run "
        f"folder (cp -r {run_dir} DIR) and pass --run=DIR."
    )
    denied = {str(run_dir)}  # export/ writable, the model card's folder not
    with pytest.raises(ValueError, match=f"Cannot write the export in {run_dir} "):
        export.export_run(export.ExportConfig(run_dir=str(run_dir)))


def test_a_model_that_needs_flex_ops_is_refused_not_written(tmp_path):
    # Bicubic resizing has no builtin TFLite op (it would be FlexResizeBicubic).
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Resizing(32, 32, interpolation="bicubic")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), np.uint8)
    split = Split(images, np.zeros(4))
    run = runs.Run(str(tmp_path), model, {}, ["a", "b"], Samples(split, split, "val"))
    logits = model.predict(images.astype("float32"), verbose=0)
    config = export.ExportConfig(run_dir=str(tmp_path))
    inputs = pipeline.Inputs(images, np.zeros(4), logits, None)
    entry = export.export_tflite(run, "fp32", str(tmp_path), inputs, config)
    assert entry["failed_checks"] == ["conversion"], entry
    assert "ResizeBicubic" in entry["checks"]["conversion"]["detail"]
    assert not (tmp_path / "model_fp32.tflite").exists()


def _copy_run(run_dir, to, with_export=False):
    to.mkdir()
    for name in ("model.keras", "config.json", "labels.txt", "samples.npz"):
        shutil.copy(run_dir / name, to / name)
    if with_export:
        shutil.copytree(run_dir / "export", to / "export")
    return to


@pytest.mark.large  # two more exports
def test_partial_reexport_keeps_the_report_and_folder_in_step(exported, tmp_path):
    run_dir, report = exported
    copy = _copy_run(run_dir, tmp_path / "run", with_export=True)
    config = export.ExportConfig(
        run_dir=str(copy), formats=("tflite",), quantize=("fp32",), latency_runs=2
    )
    again = export.export_run(config)
    # The files it did not touch are still there, and still in the report.
    assert set(again["tflite"]) == set(QUANTIZATIONS)
    for quantization in ("dynamic", "fp16", "int8"):
        assert again["tflite"][quantization] == report["tflite"][quantization]
        assert (copy / "export" / f"model_{quantization}.tflite").exists()
    assert again["saved_model"] == report["saved_model"]
    assert again["tflite"]["fp32"]["status"] == "ok"
    # Files exported from another model are stale: removed, not reported.
    other = _copy_run(run_dir, tmp_path / "other", with_export=True)
    old = json.loads((other / "export" / "report.json").read_text())
    old["model_sha256"] = "0" * 64
    (other / "export" / "report.json").write_text(json.dumps(old))
    again = export.export_run(
        export.ExportConfig(
            run_dir=str(other),
            formats=("tflite",),
            quantize=("fp32",),
            latency_runs=2,
        )
    )
    assert set(again["tflite"]) == {"fp32"} and "saved_model" not in again
    left = sorted(os.listdir(other / "export"))
    assert left == ["labels.txt", "model_fp32.tflite", "report.json"]


@pytest.mark.large
def test_damaged_model_keras_is_named_damaged(exported, tmp_path):
    run_dir, _ = exported
    copy = _copy_run(run_dir, tmp_path / "run")
    content = (copy / "model.keras").read_bytes()
    (copy / "model.keras").write_bytes(content[: len(content) // 2])
    image = tmp_path / "x.png"
    Image.new("RGB", (64, 64)).save(image)
    commands = (
        ("export.py", f"--run={copy}"),
        ("predict.py", str(copy / "model.keras"), str(image)),
    )
    for result in run_scripts(commands, timeout=120, KERAS_BACKEND="tensorflow"):
        assert result.returncode == 2, result.stderr
        errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
        assert len(errors) == 1, result.stderr
        assert "model.keras is damaged (not a complete .keras archive" in errors[0]


def test_evaluate_agrees_with_the_export_report_for_every_file(exported):
    """evaluate.py scores model.keras and each .tflite with the same code; on
    the images the run keeps, its top-1 is export/report.json's."""
    run_dir, report = exported
    models = {"keras": run_dir / "model.keras"}
    models.update({v: run_dir / "export" / f"model_{v}.tflite" for v in QUANTIZATIONS})
    for name, model in models.items():
        result = evaluate_lib.evaluate(
            evaluate_lib.EvalConfig(str(run_dir), model=str(model), data="sample")
        )
        expected = report["keras" if name == "keras" else "tflite"]
        expected = (
            expected["accuracy"] if name == "keras" else expected[name]["accuracy"]
        )
        assert result["top1"] == pytest.approx(expected), name
        assert result["images"] == report["evaluated_on"]["images"]
        assert result["data"]["ids"] == report["evaluated_on"]["ids"]
        out = run_dir / "eval" / f"{model.name}-sample"
        for file in ("report.json", "per_class.csv", "confusion.png", "errors.png"):
            assert (out / file).stat().st_size > 0, (name, file)
    rows = (out / "per_class.csv").read_text().splitlines()
    assert rows[0] == "class,precision,recall,f1,support" and len(rows) == 1 + CLASSES


def test_train_wrote_the_evaluation_report_and_the_model_card(exported):
    run_dir, _ = exported
    report = json.loads(
        (run_dir / "eval" / "model.keras-val" / "report.json").read_text()
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert report["top1"] == pytest.approx(metrics["val_accuracy"])
    card = (run_dir / "README.md").read_text()
    assert "## Exported files" in card and "model_int8.tflite" in card
    assert f"{report['top1']:.4f}" in card


@pytest.mark.large
def test_evaluate_bad_inputs_are_one_line(exported, tmp_path):
    run_dir, _ = exported
    # The training data moved away (see `exported`): the default split is gone.
    result = _script("evaluate.py", f"--run={run_dir}", timeout=300)
    assert result.returncode == 2, result.stderr
    (error,) = result.stderr.strip().splitlines()
    assert "cannot be loaded here" in error and "--data=sample" in error
    # A folder with other classes: the missing and extra ones are named.
    labels = runs.read_labels(str(run_dir))
    for name in [*labels[:-1], "zebra"]:
        (tmp_path / "other" / name).mkdir(parents=True)
        Image.new("RGB", (64, 64)).save(tmp_path / "other" / name / "0.png")
    with pytest.raises(
        ValueError, match=rf"missing \['{labels[-1]}'\], extra \['zebra'\]"
    ):
        evaluate_lib.evaluate(
            evaluate_lib.EvalConfig(str(run_dir), data=f"folder:{tmp_path / 'other'}")
        )
    # No sample and no data: nothing to evaluate on.
    copy = _copy_run(run_dir, tmp_path / "bare")
    (copy / "samples.npz").unlink()
    with pytest.raises(FileNotFoundError, match="keeps no image sample"):
        evaluate_lib.evaluate(evaluate_lib.EvalConfig(str(copy), data="sample"))


def test_every_file_is_scored_on_the_kept_photos_as_clients_call_it(exported):
    run_dir, report = exported
    photos = runs.read_photos(str(run_dir))
    assert len(photos) == 50  # val: 5 photos of each of the 10 classes
    assert report["client_photos"]["photos"] == 50
    assert report["preprocessing"]["resize"] == "squash"  # the default
    for quantization in QUANTIZATIONS:
        entry = report["tflite"][quantization]
        clients = entry["clients"]
        assert clients["photos"] == 50 and clients["keras"] == pytest.approx(
            report["client_photos"]["keras_accuracy"]
        )
        if importlib.util.find_spec("mediapipe") is not None:
            assert 0 <= clients["mediapipe"] <= 1
        assert entry["checks"]["client_photos"]["ok"], entry["checks"]
        assert max(clients["gap_points"].values()) <= 2.0
        content = (run_dir / "export" / entry["file"]).read_bytes()
        assert tflite_metadata.read_resize(content) == "squash"


@pytest.mark.large  # a training and an export: 17 s
def test_stage3_attention_with_the_channel_gate_exports_builtin_and_runs_in_mediapipe():
    """Attention on stages 3 and 4 (keras-hub's pyramid) with the channel-gate
    extension: fp32 matches Keras, int8 is all builtin, MediaPipe runs it."""
    from keras_attn.models import build_classifier, load_backbone

    model = build_classifier(
        3,
        (64, 64, 3),
        128,
        "unified",
        {"channel_gate": True},
        backbone=load_backbone("none"),
        stages=(3, 4),
    )
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 64, 64, 3)).astype(np.uint8)
    logits = model.predict(images.astype("float32"), verbose=0)
    for quantization in ("fp32", "int8"):
        content = export.convert(model, quantization, images, calibration_steps=8)
        ops = tflite_graph.model_ops(content)
        assert all(op.isupper() for op in ops), (quantization, ops)
        assert not set(ops) & set(export.VARIABLE_OPS), quantization
        inside = export.softmax_input_logits(content, images[:4])
        if quantization == "fp32":
            assert np.abs(inside - logits[:4]).max() <= 1e-3
        else:  # int8 tracks the float logits
            assert np.corrcoef(inside.ravel(), logits[:4].ravel())[0, 1] > 0.9
    mp = pytest.importorskip("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision

    content = export.add_metadata(
        content, ["a", "b", "c"], model.name, "int8", "squash"
    )
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_buffer=content), max_results=3
    )
    classifier = vision.ImageClassifier.create_from_options(options)
    try:
        result = classifier.classify(
            mp.Image(image_format=mp.ImageFormat.SRGB, data=images[0])
        )
    finally:
        classifier.close()
    names = [c.category_name for c in result.classifications[0].categories]
    assert sorted(names) == ["a", "b", "c"]


def test_damaged_photos_shrink_or_skip_the_client_check(exported, tmp_path, capsys):
    """photos/ is optional: a truncated or missing photo is left out, a
    damaged index or no folder skips the check; one console line each, and
    the export goes on."""
    run_dir, _ = exported
    copy = _copy_run(run_dir, tmp_path / "run")
    shutil.copytree(run_dir / "photos", copy / "photos")
    run = runs.load_run(str(copy))
    index = copy / "photos" / "photos.json"
    listed = json.loads(index.read_text())["photos"]
    first, second = (copy / "photos" / e["file"] for e in listed[:2])
    intact = first.read_bytes()

    first.write_bytes(intact[: len(intact) // 3])  # truncated
    second.unlink()  # listed, deleted
    photos = pipeline.client_photos(run)
    assert len(photos.photos) == len(listed) - 2
    notes = capsys.readouterr().out.strip().splitlines()
    assert len(notes) == 2 and notes[0].startswith(f"note: Cannot read {first}")
    assert notes[1].startswith(f"note: No image file at {second}")
    assert "left out of the client check" in notes[0]

    for damage, reason in (
        ("{}", "KeyError: 'photos'"),
        (index.read_text()[:60], "JSONDecodeError"),
    ):
        index.write_text(damage)
        assert pipeline.client_photos(run) is None
        (note,) = capsys.readouterr().out.strip().splitlines()
        assert note.startswith(f"note: {index} is damaged ({reason}")
        assert "the client check on photos is skipped" in note

    shutil.rmtree(copy / "photos")
    assert pipeline.client_photos(run) is None
    (note,) = capsys.readouterr().out.strip().splitlines()
    assert "keeps no photos/" in note and "skipped" in note


@pytest.mark.large
def test_an_export_with_a_truncated_photo_still_writes_its_files(exported, tmp_path):
    run_dir, _ = exported
    copy = _copy_run(run_dir, tmp_path / "run")
    shutil.copytree(run_dir / "photos", copy / "photos")
    photo = sorted((copy / "photos").glob("*.jpg"))[0]
    photo.write_bytes(photo.read_bytes()[:500])
    result = _script(
        "export.py", f"--run={copy}", "--formats=tflite", "--quantize=fp32",
        "--latency_runs=2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"note: Cannot read {photo}" in result.stdout
    report = json.loads((copy / "export" / "report.json").read_text())
    assert report["client_photos"]["photos"] == 49
    assert (copy / "export" / "model_fp32.tflite").exists()


def test_calibration_steps_below_zero_says_zero_is_the_default():
    with pytest.raises(ValueError) as info:
        export.ExportConfig(run_dir="x", calibration_steps=-1).validate()
    assert str(info.value) == (
        "--calibration_steps must be >= 0 (0, the default: every training image "
        "the run keeps). Received: -1"
    )
