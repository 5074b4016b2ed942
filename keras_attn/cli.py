"""Entry-script plumbing: absl flags, and bad input ends in one line, not a
traceback. Only the scripts (and benchmarks) import this module; the library
raises the classes in `keras_attn.errors`."""

import errno
import functools
import os
import signal
import sys
import threading

from keras_attn.errors import MissingDependencyError, UserError, first_line
from keras_attn.utils.quiet_tf import import_tensorflow_quietly

__all__ = [
    "MissingDependencyError",
    "UserError",
    "import_tensorflow_quietly",
    "parse_flags",
    "refuse_arguments",
    "run_main",
    "user_message",
]


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
            f"Permission denied: {error.filename or first_line(error)}; use a "
            "folder you can write, or fix its permissions."
        )
    if isinstance(error, USER_ERRORS):
        return first_line(error)
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
        print(f"error: {first_line(e)} (see --help)", file=sys.stderr)
        sys.exit(2)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def run_main(main):
    """Wraps an absl `main` so user errors print `error: <message>` and exit 2.

    Set KERAS_ATTN_DEBUG=1 to see the full traceback instead. A SIGTERM (a
    `kill`, `timeout`, a scheduler's preemption) ends the command as Ctrl-C
    does, through its `finally` blocks, so an atomic write removes its hidden
    temporary file or folder instead of leaving it for the next run.
    """

    @functools.wraps(main)
    def wrapped(argv):
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            return main(argv)
        except Exception as e:
            message = user_message(e)
            if message is None or os.environ.get("KERAS_ATTN_DEBUG"):
                raise
            if sys.stdout.isatty():  # a progress bar may hold the line
                sys.stdout.write("\n")
                sys.stdout.flush()
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)

    return wrapped
