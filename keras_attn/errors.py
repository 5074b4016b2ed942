"""The library's error classes, and how an error is said in one line.

Library code raises these (or `ValueError` / `FileNotFoundError` with a
message that says what to do); the entry scripts (`keras_attn.cli`) print
their first line as `error: ...` and exit with status 2.
"""


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says what to install."""


class UserError(Exception):
    """Something the user can fix went wrong; the message says what to do."""


class DataError(ValueError):
    """A dataset cannot give what was asked (too few images, a missing split)."""


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error's message (or of a text), else the
    error's class name: what a one-line error message quotes."""
    text = str(error).strip()
    if text:
        return text.splitlines()[0]
    return type(error).__name__ if isinstance(error, BaseException) else "unknown error"
