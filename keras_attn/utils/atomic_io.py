"""Artefact writing that never leaves a half-written file behind.

Every artefact is written to a temporary file (or folder) in the destination
folder and renamed over the target (`os.replace` is atomic on POSIX), so a
run killed at any moment leaves either the old artefact or the new one, plus
at worst a hidden `.tmp-*` leftover that the next run removes
(`runs.clean_temporary`). Renamed artefacts get the mode the umask gives any
new file (0644 / 0755 with the usual 022), not the private 0600 / 0700 of
temporary files, so other users (a web server, a colleague) can read them.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading

TEMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"

_umask_lock = threading.Lock()


def _umask() -> int:
    with _umask_lock:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def public_mode(path: str) -> None:
    """Gives `path` the mode a plain `open()` / `mkdir()` would have given it."""
    base = 0o777 if os.path.isdir(path) else 0o666
    os.chmod(path, base & ~_umask())


@contextlib.contextmanager
def atomic_path(path: str, suffix: str | None = None):
    """Yields a temporary path next to `path`; renames it onto `path` on success."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if suffix is None:
        suffix = "".join(os.path.basename(path).partition(".")[1:]) or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        public_mode(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_dir(path: str):
    """Yields a temporary folder next to `path`; on success it replaces `path`
    (the old folder is removed only once the new one is in place)."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=parent)
    try:
        yield tmp
        public_mode(tmp)
        old = None
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=OLD_PREFIX, dir=parent)
            os.replace(path, os.path.join(old, "x"))
        os.replace(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def file_lock(folder: str):
    """Holds an exclusive lock on `folder/lock` (processes sharing a cache take
    turns); released when the block ends, or when the process dies."""
    with open(os.path.join(folder, "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)


def write_json(path: str, obj) -> None:
    write_text(
        path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n"
    )


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def sha256(path: str) -> str:
    """The SHA-256 of a file, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
