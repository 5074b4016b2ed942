"""Reading a `.tflite` file's graph without TensorFlow: its operators, and
the chain of operators that computes a tensor.

Read from the flatbuffer with LiteRT's generated schema, not from an
interpreter, whose delegates hide the ops they take over.
"""

from __future__ import annotations

from keras_attn.errors import MissingDependencyError

# The flatbuffer file identifier of every .tflite file (bytes 4-8).
TFLITE_IDENTIFIER = b"TFL3"
LITERT_HINT = (
    "LiteRT is not installed: pip install ai-edge-litert (it runs .tflite files)."
)


def schema_module():
    """LiteRT's generated TFLite flatbuffer schema (to read files without TF)."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError as e:
        raise MissingDependencyError(LITERT_HINT) from e

    return schema_py_generated


def model_ops(model_content: bytes) -> list[str]:
    """Names of the operators in a `.tflite` file, in execution order.

    Builtin operators by their LiteRT name (`CONV_2D`), custom ones by their
    custom code (Flex ops are `Flex<TFOpName>`). Read from the flatbuffer, not
    from an interpreter, whose delegates hide the ops they take over.
    """
    schema = schema_module()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    model = schema.Model.GetRootAs(bytearray(model_content), 0)
    ops = []
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for i in range(subgraph.OperatorsLength()):
            code = model.OperatorCodes(subgraph.Operators(i).OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM:
                ops.append((code.CustomCode() or b"CUSTOM").decode())
            else:
                ops.append(names.get(builtin, str(builtin)))
    return ops


def producer_chain(model_content: bytes, tensor: int) -> list[tuple[str, list[int]]]:
    """The ops that lead to `tensor` in subgraph 0, last first: `(name, inputs)`.

    Follows first inputs back through QUANTIZE/DEQUANTIZE, so the chain of an
    output shows the op that computed it (e.g. SOFTMAX, then its input).
    """
    schema = schema_module()
    names = model_ops(model_content)
    subgraph = schema.Model.GetRootAs(bytearray(model_content), 0).Subgraphs(0)
    producers = {}
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        for out in op.OutputsAsNumpy():
            producers[int(out)] = (names[i], [int(t) for t in op.InputsAsNumpy()])
    chain = []
    while tensor in producers:
        name, inputs = producers[tensor]
        chain.append((name, inputs))
        if name not in ("QUANTIZE", "DEQUANTIZE"):
            break
        tensor = inputs[0]
    return chain
