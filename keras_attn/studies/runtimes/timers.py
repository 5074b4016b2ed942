"""The benchmark's measurements: one `Timer` per file, runtime and thread
count (LiteRT, ONNX Runtime, OpenVINO in this process; Keras in a worker
process per thread count; the web page in headless Chromium), each giving
one number per round."""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import sys
import time

import numpy as np

from keras_attn.studies.runtimes.exports import REPO


def _median_ms(call, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


class Timer:
    """One measurement: `measure()` gives this round's number (ms for
    latency, images/s for a batch, MACs/s for a peak)."""

    unit = "ms"

    def setup(self) -> None:
        pass

    def measure(self) -> float:
        raise NotImplementedError


class CallTimer(Timer):
    """A callable timed per round: median of `runs` calls, after one."""

    def __init__(self, make, runs: int, images: int = 1, per_call_macs=None):
        self.make, self.runs, self.images = make, runs, images
        self.per_call_macs = per_call_macs
        self.unit = "ms" if images == 1 else "images/s"
        if per_call_macs is not None:
            self.unit = "GMAC/s"

    def setup(self) -> None:
        self.call = self.make()
        for _ in range(3 if self.images == 1 else 1):
            self.call()

    def measure(self) -> float:
        if self.images == 1:
            self.call()  # a batch call is long enough to need none
        ms = _median_ms(self.call, self.runs)
        if self.per_call_macs is not None:
            return self.per_call_macs / (ms / 1000) / 1e9
        return ms if self.images == 1 else self.images / (ms / 1000)


def pixels(batch: int, size: int, dtype) -> np.ndarray:
    rng = np.random.default_rng(batch * 1000 + size)
    return rng.integers(0, 256, (batch, size, size, 3)).astype(dtype)


def litert_call(path: str, threads: int, batch: int):
    """A LiteRT invoke on a fixed input (`batch` > 1: the input resized)."""

    def make():
        from keras_attn.inference.backends.litert import (
            make_interpreter,
            quantize_input,
        )

        with open(path, "rb") as f:
            content = f.read()
        interpreter = make_interpreter(content, threads)
        detail = interpreter.get_input_details()[0]
        size = int(detail["shape"][1])
        if batch > 1:
            interpreter.resize_tensor_input(
                detail["index"], [batch, size, size, 3], strict=False
            )
            interpreter.allocate_tensors()
            detail = interpreter.get_input_details()[0]
        x = quantize_input(pixels(batch, size, np.float32), detail)
        interpreter.set_tensor(detail["index"], x)
        return interpreter.invoke

    return make


def onnx_call(path: str, threads: int, batch: int, size: int):
    def make():
        from keras_attn.inference.backends.onnx_runtime import make_session

        session = make_session(path, threads)
        feed = {session.get_inputs()[0].name: pixels(batch, size, np.uint8)}
        return lambda: session.run(None, feed)

    return make


def openvino_call(path: str, threads: int, batch: int, size: int):
    def make():
        from keras_attn.inference.backends import openvino_runtime

        compiled = openvino_runtime.compile_model(
            openvino_runtime.read_model(path), threads
        )
        request = compiled.create_infer_request()
        feed = {0: pixels(batch, size, np.uint8)}
        return lambda: request.infer(feed)

    return make


class KerasWorker:
    """A child process that runs Keras models with `threads` TensorFlow
    threads (fixed at start), timed inside it: `script --keras_worker=N`,
    whose main calls `keras_worker_main(N)`."""

    def __init__(self, threads: int, script: str):
        self.threads = threads
        self.proc = subprocess.Popen(
            [sys.executable, script, f"--keras_worker={threads}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    def ask(self, **request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the Keras worker ({self.threads} threads) died")
            if line.startswith("@@"):
                answer = json.loads(line[2:])
                if "error" in answer:
                    raise RuntimeError(f"Keras worker: {answer['error']}")
                return answer["value"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


class KerasTimer(Timer):
    def __init__(self, worker, path, size, batch, runs):
        self.worker, self.path, self.size = worker, path, size
        self.batch, self.runs = batch, runs
        self.unit = "ms" if batch == 1 else "images/s"

    def setup(self) -> None:
        self.worker.ask(op="load", path=self.path, size=self.size, batch=self.batch)

    def measure(self) -> float:
        ms = self.worker.ask(
            op="time", path=self.path, batch=self.batch, runs=self.runs
        )
        return ms if self.batch == 1 else self.batch / (ms / 1000)


def keras_worker_main(threads: int) -> None:
    """Serves KerasWorker's requests on stdin; answers on stdout after `@@`."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from keras_attn.saving import load_model

    models, inputs = {}, {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            key = (request["path"], request["batch"])
            if request["op"] == "load":
                if request["path"] not in models:
                    models[request["path"]] = load_model(request["path"])
                model = models[request["path"]]
                inputs[key] = pixels(request["batch"], request["size"], np.float32)
                for _ in range(3):
                    model.predict_on_batch(inputs[key])
                value = None
            else:
                call = functools.partial(
                    models[request["path"]].predict_on_batch, inputs[key]
                )
                call()
                value = _median_ms(call, request["runs"])
            answer = {"value": value}
        except Exception as e:  # noqa: BLE001 -- reported to the parent
            answer = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write("@@" + json.dumps(answer) + "\n")
        sys.stdout.flush()


class WebTimer(Timer):
    """The page's own time of `classify` per photo (ms), photos picked
    through its file input; the median over `images` photos."""

    def __init__(self, session, url, files, images):
        self.session, self.url, self.files, self.images = session, url, files, images
        self.next = 0

    def setup(self) -> None:
        from keras_attn.export.web.browser import open_page

        self.page = self.session.new_page()
        ready = open_page(self.page, self.url, timeout_s=120)
        if not ready.get("ok"):
            raise RuntimeError(f"{self.url}: {ready.get('error')}")
        self.load_seconds = round(ready["loadMs"] / 1000, 2)
        self.first_ms = self.classify()[0]
        for _ in range(2):
            self.classify()

    def classify(self) -> tuple[float, float]:
        page = self.page
        count = int(page.evaluate("Number(document.body.dataset.classified || 0)"))
        file = self.files[self.next % len(self.files)]
        self.next += 1
        start = time.perf_counter()
        page.set_input_files("#file", file)
        page.wait_for_function(
            "n => Number(document.body.dataset.classified || 0) > n",
            arg=count,
            timeout=120_000,
        )
        wall = (time.perf_counter() - start) * 1000
        result = page.evaluate("window.lastResult")
        if "error" in result:
            raise RuntimeError(f"{self.url}: {result['error']}")
        return float(result["ms"]), wall

    def measure(self) -> float:
        self.page.bring_to_front()
        return float(np.median([self.classify()[0] for _ in range(self.images)]))


class WebSession:
    """One headless Chromium on a local server of the work folder."""

    def __init__(self, folder: str):
        from keras_attn.export.web.browser import browser, serve

        self.stack = contextlib.ExitStack()
        self.base = self.stack.enter_context(serve(folder))
        self.first, self.log = self.stack.enter_context(browser(self.base))
        self.used_first = False

    def new_page(self):
        if not self.used_first:
            self.used_first = True
            return self.first
        return self.first.context.new_page()

    def close(self) -> None:
        self.stack.close()
