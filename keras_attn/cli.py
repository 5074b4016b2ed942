"""Entry-script behaviour: bad input ends in one line, not a traceback."""

import functools
import os
import sys


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says what to install."""


# Errors that mean the user asked for something we cannot do; their message
# already says what to do. Anything else is a bug and keeps its traceback.
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    FloatingPointError,
    MissingDependencyError,
)


def run_main(main):
    """Wraps an absl `main` so user errors print `error: <message>` and exit 2.

    Set KERAS_ATTN_DEBUG=1 to see the full traceback instead.
    """

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except USER_ERRORS as e:
            if os.environ.get("KERAS_ATTN_DEBUG"):
                raise
            message = (
                str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            )
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)

    return wrapped
