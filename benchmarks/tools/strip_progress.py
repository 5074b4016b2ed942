"""Strips Keras progress bars from training logs, in place.

    python benchmarks/tools/strip_progress.py benchmarks/results/logs/*.log

Keeps each epoch's final line (the one with the val metrics) and drops the
per-step redraws and ANSI colour codes, so a 100-epoch log stays readable.
"""

import re
import sys

from keras_attn.cli import run_main
from keras_attn.utils import atomic_io

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STEP = re.compile(r"^\s*(\d+)/(\d+) ━")


def strip(text: str) -> str:
    out = []
    for line in text.rstrip("\n").split("\n"):
        redraws = ANSI.sub("", line).replace("\b", "").split("\r")
        redraws = [r for r in redraws if r.strip()]
        line = redraws[-1].rstrip() if redraws else ""
        step = STEP.match(line)
        if step and step.group(1) != step.group(2):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def main(paths: list[str]) -> None:
    if not paths:
        raise ValueError("No log given: strip_progress.py LOG [LOG ...]")
    for path in paths:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            text = f.read()
        atomic_io.write_text(path, strip(text))


if __name__ == "__main__":
    run_main(main)(sys.argv[1:])
