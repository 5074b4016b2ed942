"""Entry-script behaviour: bad input ends in one line, not a traceback."""

import contextlib
import errno
import functools
import os
import sys


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says what to install."""


class UserError(Exception):
    """Something the user can fix went wrong; the message says what to do."""


# Errors that mean the user asked for something we cannot do; their message
# already says what to do. Anything else is a bug and keeps its traceback.
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    FloatingPointError,
    MissingDependencyError,
    UserError,
)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# TF_CPP_MIN_LOG_LEVEL unless the user set one: TensorFlow's C++ log muted.
QUIET_TF_LOG_LEVEL = "3"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def user_message(error: BaseException) -> str | None:
    """The one line to print for `error`, or None if it is a bug."""
    if isinstance(error, OSError) and error.errno in DISK_FULL:
        where = f" writing {error.filename}" if error.filename else ""
        return (
            f"No space left on the disk{where}: free some space and rerun the same "
            "command (a training run resumes from its last backup)."
        )
    if isinstance(error, PermissionError):
        return (
            f"Permission denied: {error.filename or _first_line(error)}; use a "
            "folder you can write, or fix its permissions."
        )
    if isinstance(error, USER_ERRORS):
        return _first_line(error)
    return None


def refuse_arguments(argv: list[str], hint: str) -> None:
    """Refuses what absl left over after the flags: `train.py folder:/data`
    or `export.py runs/x` would otherwise run on the defaults, silently."""
    if len(argv) > 1:
        raise UserError(f"Unexpected arguments: {' '.join(argv[1:])}; {hint}.")


# absl's help flags (`--help`, `-?`, `--helpfull`, ...): absl prints the usage
# and exits with status 1, as if the help were an error.
HELP_FLAGS = ("help", "helpshort", "helpfull", "helpxml", "?")


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing with the exit codes of our scripts: a help flag
    prints the usage and exits 0; a bad flag (an unknown name, a value an enum
    or a number flag refuses) prints `error: <one line>` and exits 2, like
    every other bad input (absl: "FATAL Flags parsing error" and status 1).

    Use as `app.run(run_main(main), flags_parser=parse_flags)`.
    """
    from absl import flags

    asks_help = any(
        a.startswith("-") and a.lstrip("-").split("=")[0] in HELP_FLAGS
        for a in argv[1:]
    )
    try:
        return flags.FLAGS(argv)
    except SystemExit:
        if asks_help:  # absl printed the usage
            sys.exit(0)
        raise
    except flags.Error as e:
        print(f"error: {_first_line(e)} (see --help)", file=sys.stderr)
        sys.exit(2)


def run_main(main):
    """Wraps an absl `main` so user errors print `error: <message>` and exit 2.

    Set KERAS_ATTN_DEBUG=1 to see the full traceback instead.
    """

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except Exception as e:
            message = user_message(e)
            if message is None or os.environ.get("KERAS_ATTN_DEBUG"):
                raise
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)

    return wrapped


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
