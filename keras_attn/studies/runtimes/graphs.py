"""What an exported file holds and where its time goes: MACs per image
(from the int8 `.tflite` graph), LiteRT's XNNPACK partitions, ONNX
Runtime's optimised graph and OpenVINO's executed one, and both profilers'
per-op shares."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter

import numpy as np

from keras_attn.studies.runtimes.timers import pixels


def count_macs(content: bytes) -> dict:
    """Multiply-accumulates per image of a `.tflite` file (batch 1): each
    CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL's output
    elements times its reduction length."""
    from ai_edge_litert import schema_py_generated as schema

    from keras_attn.tflite.graph import model_ops

    names = model_ops(content)
    model = schema.Model.GetRootAs(bytearray(content), 0)
    subgraph = model.Subgraphs(0)

    def shape(tensor: int) -> list[int]:
        found = subgraph.Tensors(int(tensor)).ShapeAsNumpy()
        return [] if isinstance(found, int) else [int(d) for d in found]

    by_op = Counter()
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        name = names[i]
        inputs, outputs = op.InputsAsNumpy(), op.OutputsAsNumpy()
        out = int(np.prod(shape(outputs[0])))
        if name == "CONV_2D":
            kernel = shape(inputs[1])  # (out, kh, kw, in)
            by_op[name] += out * kernel[1] * kernel[2] * kernel[3]
        elif name == "DEPTHWISE_CONV_2D":
            kernel = shape(inputs[1])  # (1, kh, kw, out)
            by_op[name] += out * kernel[1] * kernel[2]
        elif name == "FULLY_CONNECTED":
            by_op[name] += out * shape(inputs[1])[-1]  # weights (out, in)
        elif name == "BATCH_MATMUL":
            by_op[name] += out * shape(inputs[0])[-1]
    return {"macs": int(sum(by_op.values())), "by_op": dict(by_op)}


def litert_graph(content: bytes) -> dict:
    """What runs where in LiteRT: XNNPACK partitions (DELEGATE nodes after
    the default delegate is applied), the ops each holds, the ops left to
    LiteRT's own kernels, and the QUANTIZE/DEQUANTIZE ops."""
    from keras_attn.inference.backends.litert import make_interpreter
    from keras_attn.tflite.graph import model_ops

    ops = model_ops(content)
    interpreter = make_interpreter(content, 1)
    details = interpreter._get_ops_details()
    original = [d for d in details if d["op_name"] != "DELEGATE"]
    delegates = [d for d in details if d["op_name"] == "DELEGATE"]
    producer = {int(t): d["index"] for d in original for t in d["outputs"]}
    by_index = {d["index"]: d for d in original}
    partition_of = {}
    # A partition holds the nodes between its outputs and its inputs.
    for k, node in enumerate(delegates):
        stop = {int(t) for t in node["inputs"]}
        stack, seen = [int(t) for t in node["outputs"]], set()
        while stack:
            tensor = stack.pop()
            if tensor in stop or tensor not in producer:
                continue
            index = producer[tensor]
            if index in seen:
                continue
            seen.add(index)
            partition_of[index] = k
            stack.extend(int(t) for t in by_index[index]["inputs"] if t >= 0)
    outside = [d["op_name"] for d in original if d["index"] not in partition_of]
    sequence = []  # the execution order: partition k or an op outside
    for d in original:
        label = (
            f"XNNPACK#{partition_of[d['index']]}"
            if d["index"] in partition_of
            else d["op_name"]
        )
        if not sequence or sequence[-1] != label or not label.startswith("XNN"):
            sequence.append(label)
    counts = Counter(ops)
    return {
        "ops": len(ops),
        "op_counts": dict(sorted(counts.items())),
        "quantize_ops": counts.get("QUANTIZE", 0),
        "dequantize_ops": counts.get("DEQUANTIZE", 0),
        "xnnpack_partitions": len(delegates),
        "ops_per_partition": [
            sum(1 for v in partition_of.values() if v == k)
            for k in range(len(delegates))
        ],
        "ops_outside_xnnpack": dict(sorted(Counter(outside).items())),
        "order": sequence,
    }


def onnx_graph(path: str, threads: int) -> dict:
    """ONNX Runtime's optimised graph (as it runs it): op types, the
    quantised and float convolutions, leftover Q/DQ nodes."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        options.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        proto = onnx.load(options.optimized_model_filepath)
    counts = Counter(node.op_type for node in proto.graph.node)
    return {
        "nodes": sum(counts.values()),
        "op_counts": dict(sorted(counts.items())),
        "quantized_convs": counts.get("QLinearConv", 0),
        "float_convs": counts.get("Conv", 0) + counts.get("FusedConv", 0),
        "quantize_linear": counts.get("QuantizeLinear", 0),
        "dequantize_linear": counts.get("DequantizeLinear", 0),
    }


def openvino_graph(path: str, threads: int) -> dict:
    """OpenVINO's executed graph: layers by type and runtime precision."""
    from keras_attn.inference.backends import openvino_runtime

    compiled = openvino_runtime.compile_model(
        openvino_runtime.read_model(path), threads
    )
    layers = Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else "?"
        precision = (
            info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"
        )
        layers[f"{kind}:{precision}"] += 1
    convs = {k: v for k, v in layers.items() if k.split(":")[0] == "Convolution"}
    return {
        "layers": sum(layers.values()),
        "layer_counts": dict(sorted(layers.items())),
        "convolutions_by_precision": convs,
        "reorders": sum(v for k, v in layers.items() if k.startswith("Reorder")),
    }


PROFILE_RUNS = 20


def attention_node(name: str) -> bool:
    return "attention" in name


def share_summary(times: dict, types: dict, runs: int) -> dict:
    total = sum(times.values())
    attention = {k: v for k, v in times.items() if attention_node(k)}
    top_types = sorted(types.items(), key=lambda kv: -kv[1])[:8]
    top_attention = sorted(attention.items(), key=lambda kv: -kv[1])[:6]
    return {
        "ms_per_run": round(total / runs * 1000, 3),
        "attention_share": round(sum(attention.values()) / total, 4),
        "op_type_shares": {k: round(v / total, 4) for k, v in top_types},
        "attention_nodes": {k: round(v / total, 4) for k, v in top_attention},
    }


def onnx_profile(path: str, size: int) -> dict:
    """ONNX Runtime's profiler, 1 thread: each node's kernel time; the
    share of nodes named after the attention layer (tf2onnx keeps the
    Keras names)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "profile")
        session = ort.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )
        feed = {session.get_inputs()[0].name: pixels(1, size, np.uint8)}
        for _ in range(PROFILE_RUNS):
            session.run(None, feed)
        with open(session.end_profiling()) as f:
            events = json.load(f)
    times, types = Counter(), Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            seconds = event["dur"] / 1e6
            times[event["name"][: -len("_kernel_time")]] += seconds
            types[event["args"]["op_name"]] += seconds
    # The first run is counted by the profiler too; its share is small.
    return share_summary(times, types, PROFILE_RUNS)


def openvino_profile(path: str, size: int) -> dict:
    """OpenVINO's per-layer counters (PERF_COUNT), 1 thread. Layers are
    fused, so a fused layer goes by its last op's name: the attention share
    counts what kept an attention name."""
    import openvino as ov

    from keras_attn.inference.backends import openvino_runtime

    config = {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": 1,
        "PERF_COUNT": True,
    }
    compiled = ov.Core().compile_model(
        openvino_runtime.read_model(path), openvino_runtime.DEVICE, config
    )
    request = compiled.create_infer_request()
    feed = {0: pixels(1, size, np.uint8)}
    request.infer(feed)
    times, types = Counter(), Counter()
    for _ in range(PROFILE_RUNS):
        request.infer(feed)
        for info in request.get_profiling_info():
            seconds = info.real_time.total_seconds()
            times[info.node_name] += seconds
            types[f"{info.node_type} ({info.exec_type})"] += seconds
    return share_summary(times, types, PROFILE_RUNS)
