"""Shared test set-up: quiet TensorFlow, a private image cache, paths to
../shared, the `large` marker."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Decoded images and backbone features go to a cache of the test session's
# own, never to the user's ~/.cache: subprocesses (train.py, export.py, ...)
# inherit the variable, so theirs land in it too. Removed when the session's
# process exits (it held ~140 MB per session, left in the temp folder).
CACHE = tempfile.mkdtemp(prefix="keras_attn_test_cache_")
os.environ["KERAS_ATTN_CACHE"] = CACHE
atexit.register(shutil.rmtree, CACHE, ignore_errors=True)

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared"))
TIN100 = os.path.join(SHARED, "data", "tin100_fewshot")
CIFAR10 = os.path.join(SHARED, "data", "cifar10")
CARS_FULLRES = os.path.join(SHARED, "data", "stanford_cars_fullres")
CIFAR100_SAMPLES = os.path.join(SHARED, "data", "cifar100_samples")
WEIGHTS = os.path.join(SHARED, "weights", "resnet18_tin100")


def require(path: str) -> str:
    """Skips the test when a ../shared resource is absent."""
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent (it lives in ../shared beside the repo)")
    return path


def run_script(*args, timeout=300, env=None, **env_extra):
    """Runs `python *args` in the repository as a user would, output captured.

    The environment is this process's with TensorFlow quiet and the debug
    tracebacks off (the one-line error messages are what is tested), or
    `env` as given; `env_extra` is added on top.
    """
    if env is None:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("KERAS_ATTN_DEBUG", None)
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=REPO,
        env=dict(env, **env_extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_scripts(commands, timeout=300, **env_extra):
    """`run_script` of each command (a list of arguments), two at a time: the
    error-path cases spend their time starting Python and TensorFlow, one
    core each, and the test waits either way. Results in command order."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(run_script, *args, timeout=timeout, **env_extra)
            for args in commands
        ]
        return [future.result() for future in futures]


def pytest_addoption(parser):
    parser.addoption("--run_large", action="store_true", help="run tests marked large")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run_large"):
        return
    skip = pytest.mark.skip(reason="large test: run with --run_large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


def export_tiny_classifier(folder, labels: list[str], size: int):
    """A tiny convnet (`size` x `size` input) in `folder`: model.keras, its four
    .tflite files exported the way export.py exports (softmax appended,
    builtin ops, metadata recording `crop`), and labels.txt. Seconds, not
    minutes: for tests of the runtimes rather than of the model."""
    import keras
    import numpy as np

    from keras_attn import export

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((size, size, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(labels)),
        ]
    )
    model.save(folder / "model.keras")
    calibration = np.random.default_rng(0).integers(0, 256, (16, size, size, 3))
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
        content = export.add_metadata(
            content, labels, "tiny", options["quantization"], resize="crop"
        )
        (folder / f"model_{name}.tflite").write_bytes(content)
    (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    return folder


def gradients_of(layer, inputs, target):
    """Gradients of sum(layer(inputs, training=True) * target) for every
    trainable weight of `layer`, on the current Keras backend."""
    import keras
    import numpy as np

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(inputs, training=True) * target)
        return [
            np.asarray(g) if g is not None else None
            for g in tape.gradient(loss, layer.trainable_weights)
        ]
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        import inspect

        kwargs = {}
        if "training" in inspect.signature(layer.call).parameters:
            kwargs["training"] = True

        def loss(weights):
            outputs, _ = layer.stateless_call(weights, non_trainable, inputs, **kwargs)
            return (outputs * target).sum()

        return [np.asarray(g) for g in jax.grad(loss)(trainable)]
    if backend == "torch":
        for v in layer.trainable_variables:
            v.value.grad = None
        loss = (
            layer(inputs, training=True) * keras.ops.convert_to_tensor(target)
        ).sum()
        loss.backward()
        return [
            None if v.value.grad is None else v.value.grad.cpu().numpy()
            for v in layer.trainable_variables
        ]
    raise NotImplementedError(backend)
