"""Command-line arguments to image files, and the `--shard=i/n` split.

`image_files(args, shard)` turns arguments into image files: a file as it
is, a folder walked recursively for every extension Pillow reads, a glob
(quoted, so the shell leaves it) expanded with `**` support. Only the paths
are listed; nothing is opened yet. With `--shard=i/n` (`parse_shard`), n
machines or processes each take the files whose stable hash (sha1 of the
path below the folder argument that found it, else of the path as given)
falls in their shard, so the shards are disjoint, together cover every file
once, and agree even where the folder is mounted at different places.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re

from PIL import Image


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """`"i/n"` (0-based i) -> `(i, n)`; None for None or an empty string.

    Raises:
        ValueError: not two integers, n < 1, or i outside 0..n-1.
    """
    if not spec:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not match:
        raise ValueError(
            f"--shard={spec} is not INDEX/COUNT; e.g. --shard=0/4 ... --shard=3/4 "
            "split the files among 4 machines or processes."
        )
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise ValueError(f"--shard={spec}: the count must be >= 1 (e.g. --shard=0/4).")
    if index >= count:
        raise ValueError(
            f"--shard={spec}: the index is 0-based, so it must be below the count "
            f"(0/{count} ... {count - 1}/{count})."
        )
    return index, count


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) of a file, from a stable hash of its key."""
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count


def image_files(args: list[str], shard: tuple[int, int] | None = None) -> list[str]:
    """Image files named by `args` (files, folders, globs), in order, once each;
    with `shard=(i, n)`, only those of shard i of n.

    Raises:
        FileNotFoundError: an argument names nothing, or a folder or glob
            holds no image.
    """
    extensions = {e.lower() for e in Image.registered_extensions()}
    files: dict[str, None] = {}
    for arg in args:
        if os.path.isdir(arg):
            found = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(arg)
                for name in names
                if not name.startswith(".")
                and os.path.splitext(name)[1].lower() in extensions
            )
            if not found:
                raise FileNotFoundError(
                    f"No images found under {arg} (looked for "
                    f"{', '.join(sorted(extensions)[:6])}, ... files, recursively)."
                )
            keys = [os.path.relpath(path, arg) for path in found]
        elif glob.has_magic(arg):
            found = sorted(
                f for f in glob.glob(arg, recursive=True) if os.path.isfile(f)
            )
            if not found:
                raise FileNotFoundError(f"No files match {arg}.")
            keys = found
        else:
            found = keys = [arg]  # a missing file is reported in its turn
        for path, key in zip(found, keys, strict=True):
            if shard is None or shard_of(key, shard[1]) == shard[0]:
                files.setdefault(path)
    return list(files)
