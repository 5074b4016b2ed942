"""Entry scripts and the package as a user meets them: quiet, one-line errors."""

import os
import subprocess
import sys

from conftest import REPO


def run_python(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_import_keras_attn_is_quiet():
    """No TensorFlow start-up lines (twice, before) and no `cuInit` error on a
    machine without a GPU; a user's own TF_CPP_MIN_LOG_LEVEL is kept."""
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    code = (
        "import os, keras_attn, tensorflow as tf\n"
        "tf.constant(1.0) + 1.0  # initialises the devices (the cuInit line)\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    result = run_python("-c", code, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""
    assert result.stdout.strip() == "3"
    env["TF_CPP_MIN_LOG_LEVEL"] = "1"
    result = run_python("-c", code, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "1"
