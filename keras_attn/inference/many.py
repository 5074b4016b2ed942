"""Classifying many images: what `predict.py` does with files, folders and globs.

Built for folders of hundreds of thousands of photos, in bounded memory:
`files` lists them (and shards them), `batches` decodes them in threads
ahead of the model, `results_csv` appends each batch to a resumable CSV, and
`predict` here ties them together under a progress line.
"""

from __future__ import annotations

import dataclasses
import sys
import time

from keras_attn import images as images_lib
from keras_attn.inference import runtime
from keras_attn.inference.batches import check_positive, classify
from keras_attn.inference.results_csv import ResultsCsv
from keras_attn.utils.progress import Progress


@dataclasses.dataclass
class Summary:
    """What a `predict` call did."""

    classified: int = 0
    failed: int = 0
    skipped: int = 0  # files the --csv already had a row for
    cut: int = 0  # bytes of a partial last line removed on resuming
    seconds: float = 0.0

    @property
    def written(self) -> int:
        return self.classified + self.failed

    def describe(self, csv_path: str) -> str:
        line = (
            f"Wrote {self.written} row(s) to {csv_path}: {self.classified} "
            f"classified, {self.failed} failed"
        )
        if self.failed:
            line += " (see the error column)"
        if self.skipped:
            line += f"; {self.skipped} image(s) already had a row (resumed)"
        if self.written and self.seconds > 0:
            line += f"; {self.written / self.seconds:.1f} images/s"
        return line + "."


def predict(
    classifier,
    files: list[str],
    *,
    resize: str = images_lib.DEFAULT_RESIZE,
    top_k: int = 5,
    batch_size: int = 32,
    workers: int | None = None,
    csv_path: str | None = None,
    record: dict | None = None,
) -> Summary:
    """Classifies `files`: top-k lines per image on stdout, or with `csv_path`
    rows appended a batch at a time (resuming the file) under a progress line.
    Each unreadable image gets one `error:` line on stderr, on its own line."""
    check_positive("batch_size", batch_size)
    check_positive("top_k", top_k)
    summary = Summary()
    start = time.perf_counter()
    k = min(top_k, len(classifier.labels))
    out = progress = None
    if csv_path:
        if record is None:
            raise ValueError("Writing a CSV needs the run's `identity(...)` record.")
        out = ResultsCsv(csv_path, classifier.labels, k, record)
        summary.cut = out.cut
        if out.done:
            todo = [f for f in files if f not in out.done]
            summary.skipped = len(files) - len(todo)
            files = todo
            cut = f", cut a partial last line ({out.cut} bytes)" if out.cut else ""
            print(
                f"Resuming {csv_path}: {summary.skipped} image(s) already have a "
                f"row{cut}; {len(files)} to go."
            )
        if files:
            progress = Progress(len(files))
    try:
        for batch in classify(classifier, files, resize, batch_size, workers):
            for path, probs, error in batch:
                if error:
                    if progress is not None:
                        progress.break_line()
                    print(f"error: {error}", file=sys.stderr, flush=True)
                    summary.failed += 1
                else:
                    summary.classified += 1
                    if out is None:
                        print(path)
                        for label, prob in runtime.top_k(probs, classifier.labels, k):
                            print(f"  {prob:.4f}  {label}")
            if out is not None:
                out.write(batch)
                progress.add(len(batch))
            else:
                sys.stdout.flush()
    finally:
        if out is not None:
            out.close()
        summary.seconds = time.perf_counter() - start
    return summary
