"""Other Keras backends and data-parallel training.

The Keras backend, XLA's virtual devices and TensorFlow's logical devices are
fixed when a process starts, so every backend test runs in a subprocess:

- train.py for one epoch on JAX with TensorFlow made unimportable (as on a
  GPU host without it), in bfloat16, writing the whole run folder;
- that JAX-trained `.keras` file loaded under TensorFlow (same logits) and
  exported by export.py;
- `--distribute` on 2 virtual JAX CPU devices (`keras.distribution.DataParallel`)
  and on 2 logical TensorFlow CPU devices (`tf.distribute.MirroredStrategy`);
- the layer and model test files, run again under JAX.

Each is skipped when jax is not installed. The input pipeline and the
distribution checks are also tested in-process on the current backend.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
from conftest import REPO

from keras_attn import distributed
from keras_attn.training import input_pipeline

HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")

# Makes `import tensorflow` (and its companions) fail, as on a host without it.
BLOCK_TENSORFLOW = textwrap.dedent(
    """
    import sys

    class _NoTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in (
                "tensorflow", "tensorflow_text", "tensorflow_datasets", "tf_keras"
            ):
                raise ImportError(f"No module named {name!r} (blocked by the test)")

    sys.meta_path.insert(0, _NoTensorFlow())
    """
)

# One tiny epoch: 16 training images in batches of 4, 6 validation images
# (not a multiple of the batch, so the distributed runs pad them), 8 test.
TINY = dict(epochs=1, batch_size=4, weights="none", visualize_count=2)
TINY_FLAGS = [f"--{k}={v}" for k, v in TINY.items() if k != "visualize_count"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A 2-class folder dataset of 32x32 noise images: train 8, val 3, test 4
    per class (the model resizes them to 128 px)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("val", 3), ("test", 4)):
        for label, name in enumerate(("red", "blue")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 128, (32, 32, 3), dtype="uint8")
                pixels[..., 2 * label] += 127
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def run_python(code: str, backend: str, timeout: int = 600, **env_extra):
    """Runs `code` with `python -c` in the repository under `backend`."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", CI="1")
    env.pop("KERAS_ATTN_DEBUG", None)
    env.update(env_extra)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-5000:]}"
    )
    return result


def dtype_policies(model_path) -> set[str]:
    """Every dtype policy name a `.keras` file's config records."""
    with zipfile.ZipFile(model_path) as archive:
        config = json.loads(archive.read("config.json"))
    names = set()

    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy":
                names.add(node["config"]["name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return names


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory, tiny_folder):
    """train.py on JAX without TensorFlow, bfloat16; saves the test logits."""
    run_dir = tmp_path_factory.mktemp("jax") / "run"
    argv = ["train.py", f"--dataset=folder:{tiny_folder}", *TINY_FLAGS]
    argv += ["--mixed_precision=bfloat16", f"--run_dir={run_dir}"]
    code = BLOCK_TENSORFLOW + textwrap.dedent(
        f"""
        import runpy
        sys.argv = {argv!r}
        try:
            runpy.run_path("train.py", run_name="__main__")
        except SystemExit as e:
            if e.code:
                raise
        import numpy as np
        import keras_attn
        from keras_attn.data import load_dataset

        model = keras_attn.load_model("{run_dir}/model.keras")
        images = load_dataset("folder:{tiny_folder}").test.images
        np.save("{run_dir}/jax_logits.npy", model.predict(images, verbose=0))
        print("tensorflow imported:", "tensorflow" in sys.modules)
        """
    )
    result = run_python(code, "jax")
    return run_dir, result.stdout


@needs_jax
@pytest.mark.large  # a train.py run on JAX: about a minute on 2 cores
def test_train_script_runs_on_jax_without_tensorflow(jax_run):
    run_dir, stdout = jax_run
    assert "tensorflow imported: False" in stdout
    for name in ("model.keras", "config.json", "labels.txt", "history.csv"):
        assert (run_dir / name).stat().st_size > 0, name
    for name in ("metrics.json", "curves.png", "attention.png"):
        assert (run_dir / name).stat().st_size > 0, name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["backend"] == "jax" and metrics["jit_compile"] is True
    assert metrics["mixed_precision"] == "bfloat16" and metrics["replicas"] == 1
    assert np.isfinite(metrics["test_loss"])
    # Trained in bfloat16, saved as float32: what exports and devices want.
    assert dtype_policies(run_dir / "model.keras") == {"float32"}


@needs_jax
@pytest.mark.large  # the JAX run above, then export.py
def test_jax_trained_model_loads_and_exports_under_tensorflow(jax_run, tiny_folder):
    run_dir, _ = jax_run
    code = textwrap.dedent(
        f"""
        import numpy as np
        import keras_attn
        from keras_attn.data import load_dataset

        model = keras_attn.load_model("{run_dir}/model.keras")
        images = load_dataset("folder:{tiny_folder}").test.images
        logits = model.predict(images, verbose=0)
        jax_logits = np.load("{run_dir}/jax_logits.npy")
        print("max logit difference:", float(np.abs(logits - jax_logits).max()))
        np.testing.assert_allclose(logits, jax_logits, atol=1e-3, rtol=1e-3)
        """
    )
    run_python(code, "tensorflow")
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_ATTN_DEBUG", None)
    result = subprocess.run(
        [
            sys.executable,
            "export.py",
            f"--run={run_dir}",
            "--formats=saved_model,tflite",
        ]
        + ["--quantize=fp32"]
        + ["--eval_images=32", "--parity_images=8", "--latency_runs=1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads((run_dir / "export" / "report.json").read_text())
    assert report["status"] == "ok"
    assert report["saved_model"]["status"] == "ok"
    assert report["tflite"]["fp32"]["status"] == "ok"
    assert (run_dir / "export" / "model_fp32.tflite").stat().st_size > 1e6


# Trains with `distribute=True` and checks, from inside `fit`, that the
# weights live on both devices; prints the metrics.
DISTRIBUTED_TRAIN = """
import json
import keras
from keras_attn.training import trainer


class Devices(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.count = {count}


check = Devices()
run_dir = trainer.train(
    trainer.TrainConfig(
        dataset={dataset!r}, run_dir={run_dir!r}, distribute=True, **{tiny!r}
    ),
    extra_callbacks=[check],
)
assert check.count == 2, check.count
print("METRICS", json.dumps(json.load(open(run_dir + "/metrics.json"))))
"""


def check_distributed_metrics(stdout: str, backend: str) -> None:
    line = next(s for s in stdout.splitlines() if s.startswith("METRICS "))
    metrics = json.loads(line[len("METRICS ") :])
    assert metrics["backend"] == backend and metrics["replicas"] == 2
    # The padded validation set's accuracy in fit (weighted, zero padding)
    # is exactly the accuracy of the saved model on the 6 real images.
    assert metrics["best_val_accuracy"] == pytest.approx(
        metrics["val_accuracy"], abs=1e-6
    )


@needs_jax
@pytest.mark.large  # a training on 2 virtual devices
def test_distribute_on_two_jax_devices(tmp_path, tiny_folder):
    count = "len(self.model.trainable_variables[0].value.sharding.device_set)"
    code = DISTRIBUTED_TRAIN.format(
        count=count,
        dataset=f"folder:{tiny_folder}",
        run_dir=str(tmp_path / "run"),
        tiny=TINY,
    )
    result = run_python(
        code, "jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"
    )
    check_distributed_metrics(result.stdout, "jax")


@pytest.mark.large  # a training on 2 logical devices
def test_distribute_with_mirrored_strategy_on_two_cpus(tmp_path, tiny_folder):
    setup = textwrap.dedent(
        """
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        """
    )
    count = "self.model.distribute_strategy.num_replicas_in_sync"
    code = setup + DISTRIBUTED_TRAIN.format(
        count=count,
        dataset=f"folder:{tiny_folder}",
        run_dir=str(tmp_path / "run"),
        tiny=TINY,
    )
    result = run_python(code, "tensorflow")
    check_distributed_metrics(result.stdout, "tensorflow")


@needs_jax
@pytest.mark.large  # 2.3 min alone on 2 cores, ~6 min on a busy host: over budget
def test_layer_and_model_tests_pass_under_jax():
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
        + ["tests/test_layers.py", "tests/test_models.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_distribute_on_torch_is_refused_with_a_message():
    code = textwrap.dedent(
        """
        from keras_attn import distributed

        try:
            with distributed.data_parallel(True):
                pass
        except ValueError as e:
            print("REFUSED", e)
        """
    )
    result = run_python(code, "torch")
    assert "REFUSED --distribute works on the jax and tensorflow" in result.stdout


def test_batch_size_must_split_evenly():
    distributed.check_batch_size(8, 2, train_images=40)
    with pytest.raises(ValueError, match="multiple of the 4 devices"):
        distributed.check_batch_size(30, 4, train_images=40)
    with pytest.raises(ValueError, match="fewer than --batch_size=64"):
        distributed.check_batch_size(64, 2, train_images=40)


def test_data_parallel_off_is_a_no_op():
    with distributed.data_parallel(False) as replicas:
        assert replicas == 1


# Image i is filled with the value i, so a batch tells which images it holds.
IMAGES = np.repeat(np.arange(10, dtype="uint8"), 4 * 4 * 3).reshape(10, 4, 4, 3)
LABELS = np.arange(10) % 3


def batches_of(data) -> list[tuple]:
    """Every batch of a PyDataset or tf.data pipeline, as NumPy."""
    items = (
        data
        if not isinstance(data, keras.utils.PyDataset)
        else (data[i] for i in range(len(data)))
    )
    return [tuple(keras.ops.convert_to_numpy(t) for t in b) for b in items]


@pytest.mark.parametrize("on_device", [False, True])
def test_array_batches_cover_the_split_once_per_epoch(on_device):
    data = input_pipeline.ArrayBatches(
        IMAGES, LABELS, 3, batch_size=4, shuffle=True, seed=1, on_device=on_device
    )
    epochs = []
    for _ in range(2):
        data.on_epoch_begin()  # what Keras calls before each epoch
        batches = batches_of(data)
        assert [len(b[0]) for b in batches] == [4, 4, 2]
        images = np.concatenate([b[0] for b in batches])
        one_hot = np.concatenate([b[1] for b in batches])
        assert images.dtype == np.uint8
        rows = images[:, 0, 0, 0]  # which image each row is
        np.testing.assert_array_equal(np.sort(rows), np.arange(10))
        np.testing.assert_array_equal(one_hot.argmax(1), LABELS[rows])
        epochs.append(rows)
    assert not np.array_equal(*epochs)  # a new order every epoch


def _rows(batches) -> np.ndarray:
    return np.concatenate([b[0][:, 0, 0, 0] for b in batches])


def test_a_resumed_epoch_sees_the_uninterrupted_order():
    """Epoch e's order depends on (seed, e) only, on both pipelines."""
    whole = input_pipeline.ArrayBatches(IMAGES, LABELS, 3, 4, shuffle=True, seed=1)
    resumed = input_pipeline.ArrayBatches(
        IMAGES, LABELS, 3, 4, shuffle=True, seed=1, first_epoch=2
    )
    orders = []
    for _ in range(3):
        whole.on_epoch_begin()
        orders.append(_rows(batches_of(whole)))
    resumed.on_epoch_begin()
    np.testing.assert_array_equal(_rows(batches_of(resumed)), orders[2])
    assert len({tuple(o) for o in orders}) == 3
    # tf.data: an endless stream, 3 batches an epoch.
    stream = input_pipeline.tf_dataset(IMAGES, LABELS, 3, 4, True, seed=1)
    later = input_pipeline.tf_dataset(IMAGES, LABELS, 3, 4, True, seed=1, first_epoch=2)
    epochs = _rows(batches_of(stream.take(9))).reshape(3, 10)
    np.testing.assert_array_equal(_rows(batches_of(later.take(3))), epochs[2])
    assert len({tuple(o) for o in epochs}) == 3


def test_even_batches_drop_the_remainder_and_pad_validation():
    train = input_pipeline.ArrayBatches(
        IMAGES, LABELS, 3, batch_size=4, shuffle=True, drop_remainder=True
    )
    assert [len(b[0]) for b in batches_of(train)] == [4, 4]
    val = input_pipeline.ArrayBatches(IMAGES, LABELS, 3, batch_size=4, pad=True)
    batches = batches_of(val)
    assert [len(b[0]) for b in batches] == [4, 4, 4]
    weights = np.concatenate([b[2] for b in batches])
    np.testing.assert_allclose(weights, [1.2] * 10 + [0, 0])  # 12 / 10 on real


def test_padding_keeps_keras_validation_numbers_exact():
    """Zero-weight padding: accuracy and loss equal those on the real images."""
    model = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    model.compile(
        "sgd",
        keras.losses.CategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"],
    )
    x = IMAGES.astype("float32") / 255
    padded = model.evaluate(
        input_pipeline.fit_data(x, LABELS, 3, 4, training=False, even=True),
        return_dict=True,
        verbose=0,
    )
    exact = model.evaluate(
        x, np.eye(3)[LABELS], batch_size=10, return_dict=True, verbose=0
    )
    assert padded["accuracy"] == pytest.approx(exact["accuracy"])
    assert padded["loss"] == pytest.approx(exact["loss"], rel=1e-5)


def test_fit_data_matches_the_backend():
    data = input_pipeline.fit_data(IMAGES, LABELS, 3, 4, training=True)
    steps = input_pipeline.steps_per_epoch(len(LABELS), 4)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        assert isinstance(data, tf.data.Dataset)
        data = data.take(steps)  # an endless stream of epochs: take one
    else:
        assert isinstance(data, input_pipeline.ArrayBatches)
        data.on_epoch_begin()
    batches = batches_of(data)
    assert len(batches) == steps == 3
    rows = np.concatenate([b[0] for b in batches])[:, 0, 0, 0]
    np.testing.assert_array_equal(np.sort(rows), np.arange(10))
