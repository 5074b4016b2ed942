"""This CPU's peak: large float32 and int8 matrix products (numpy/OpenBLAS,
ONNX Runtime `MatMul` / `MatMulInteger`, an OpenVINO 1x1 convolution), each
a `CallTimer` factory at a thread count."""

from __future__ import annotations

import os
import tempfile

import numpy as np


def numpy_peak(threads: int, n: int):
    """numpy's matmul (OpenBLAS), float32 (n, n) x (n, n), its BLAS
    threads limited to `threads` (threadpoolctl) around each call."""

    def make():
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), np.float32)
        b = rng.standard_normal((n, n), np.float32)
        out = np.empty((n, n), np.float32)

        def call():
            with controller.limit(limits=threads, user_api="blas"):
                np.matmul(a, b, out=out)

        return call

    return make


def onnx_matmul_peak(threads: int, n: int, integer: bool):
    """ONNX Runtime: `MatMulInteger` uint8 (n, n) x int8 (n, n) -> int32
    (`integer`), else `MatMul` float32, the weights a constant."""

    def make():
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        rng = np.random.default_rng(0)
        if integer:
            weights = rng.integers(-64, 64, (n, n)).astype(np.int8)
            x = rng.integers(0, 256, (n, n)).astype(np.uint8)
            op, types = "MatMulInteger", (TensorProto.UINT8, TensorProto.INT32)
        else:
            weights = rng.standard_normal((n, n)).astype(np.float32)
            x = rng.standard_normal((n, n)).astype(np.float32)
            op, types = "MatMul", (TensorProto.FLOAT, TensorProto.FLOAT)
        graph = helper.make_graph(
            [helper.make_node(op, ["a", "b"], ["y"])],
            "peak",
            [helper.make_tensor_value_info("a", types[0], [n, n])],
            [helper.make_tensor_value_info("y", types[1], [n, n])],
            [numpy_helper.from_array(weights, "b")],
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(proto)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        feed = {"a": x}
        return lambda: session.run(None, feed)

    return make


def openvino_conv_peak(threads: int, n: int, integer: bool):
    """OpenVINO: a 1x1 convolution, n channels in and out over n pixels (a
    (n, n) x (n, n) matrix product, the kernels its model convolutions
    use), int8 through DequantizeLinear/QuantizeLinear around it
    (`integer`, uint8 activations, int8 weights) or float32; read from an
    ONNX graph, compiled as `inference.backends.openvino_runtime` does."""

    def make():
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        from keras_attn.inference.backends import openvino_runtime

        rng = np.random.default_rng(0)
        shape = [1, n, 16, n // 16]
        if integer:
            weights = rng.integers(-127, 128, (n, n, 1, 1)).astype(np.int8)
            x = rng.integers(0, 256, shape).astype(np.uint8)
            scalars = {
                "sa": np.float32(0.02),
                "za": np.uint8(0),
                "sw": np.float32(0.01),
                "zw": np.int8(0),
                "sy": np.float32(0.5),
                "zy": np.uint8(0),
            }
            nodes = [
                helper.make_node("DequantizeLinear", ["a", "sa", "za"], ["af"]),
                helper.make_node("DequantizeLinear", ["w", "sw", "zw"], ["wf"]),
                helper.make_node("Conv", ["af", "wf"], ["yf"]),
                helper.make_node("QuantizeLinear", ["yf", "sy", "zy"], ["y"]),
            ]
            types = (TensorProto.UINT8, TensorProto.UINT8)
        else:
            weights = rng.standard_normal((n, n, 1, 1)).astype(np.float32)
            x = rng.standard_normal(shape).astype(np.float32)
            scalars = {}
            nodes = [helper.make_node("Conv", ["a", "w"], ["y"])]
            types = (TensorProto.FLOAT, TensorProto.FLOAT)
        initializers = [numpy_helper.from_array(weights, "w")] + [
            numpy_helper.from_array(np.array(v), k) for k, v in scalars.items()
        ]
        graph = helper.make_graph(
            nodes,
            "peak",
            [helper.make_tensor_value_info("a", types[0], shape)],
            [helper.make_tensor_value_info("y", types[1], shape)],
            initializers,
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(proto)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "peak.onnx")
            onnx.save(proto, path)
            import openvino as ov

            model = ov.Core().read_model(path)
        request = openvino_runtime.compile_model(model, threads).create_infer_request()
        feed = {0: x}
        return lambda: request.infer(feed)

    return make
