"""Importing TensorFlow without its native start-up log."""

import contextlib
import os
import sys

# TF_CPP_MIN_LOG_LEVEL unless the user set one: TensorFlow's C++ log muted.
QUIET_TF_LOG_LEVEL = "3"


@contextlib.contextmanager
def _stderr_to_devnull():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow, if installed, with its native start-up log muted.

    TensorFlow's C++ runtime logs "Could not find cuda drivers", a `cuInit`
    error on a machine without a GPU and the like, some of it before its
    logging reads TF_CPP_MIN_LOG_LEVEL, so these lines would precede every
    message, an error included. Unless the user set TF_CPP_MIN_LOG_LEVEL
    (their value is kept), it defaults to 3 here (errors of TensorFlow's C++
    runtime muted; Python exceptions still raise), for the scripts and for
    `import keras_attn` alike. When the level asks for quiet (>= 1), the
    import runs with file descriptor 2 pointed at /dev/null; Python errors
    raised by the import still reach the user, after it.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_LOG_LEVEL)
    if "tensorflow" in sys.modules:
        return
    quiet = os.environ["TF_CPP_MIN_LOG_LEVEL"] not in ("", "0")
    try:
        with _stderr_to_devnull() if quiet else contextlib.nullcontext():
            import tensorflow  # noqa: F401
    except ImportError:
        pass  # not installed (a JAX or PyTorch set-up): nothing to mute
