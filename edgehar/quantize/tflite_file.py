"""The .tflite flatbuffer as data: read, compact, write back, and say where its bytes go.

Uses the schema ``ai_edge_litert`` ships (``schema_py_generated``), so no TensorFlow.
"""

from __future__ import annotations

import numpy as np

# Operators whose third input is a bias (int32 in an INT8 graph).
_BIAS_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}


def read_model(data: bytes):
    """The object API's ModelT; its vectors are numpy arrays (numpy is a dependency), which
    ``pack_model`` relies on to share them."""
    from ai_edge_litert import schema_py_generated as schema

    return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)


def pack_model(model) -> bytes:
    """ModelT -> bytes, writing each distinct quantization vector once. Per-channel zero
    points are int64 zeros, one vector per weight and bias tensor (8 bytes a channel); flatbuffer
    tables may share a vector, and the interpreters only read them."""
    import flatbuffers

    class SharingBuilder(flatbuffers.Builder):
        def __init__(self, size: int):
            super().__init__(size)
            self._seen: dict[tuple, int] = {}

        def CreateNumpyVector(self, x):  # noqa: N802 (flatbuffers' name)
            if x.dtype not in (np.int64, np.float32):   # quantization vectors only
                return super().CreateNumpyVector(x)
            key = (x.dtype.str, x.tobytes())
            if key not in self._seen:
                self._seen[key] = super().CreateNumpyVector(x)
            return self._seen[key]

    b = SharingBuilder(1 << 16)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def compact(data: bytes) -> bytes:
    """The same graph, smaller: internal tensors named by index (the converter's names are
    module paths, 12 KB in the INT8 model; inputs and outputs keep theirs) and shared
    quantization vectors. Outputs are bit-identical."""
    model = read_model(data)
    for g in model.subgraphs:
        keep = {*g.inputs.tolist(), *g.outputs.tolist()} if g.inputs is not None else set()
        for i, t in enumerate(g.tensors):
            if i not in keep:
                t.name = f"t{i}".encode()
    return pack_model(model)


def op_names(model) -> list[str]:
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = model.operatorCodes
    out = []
    for g in model.subgraphs:   # control flow (WHILE, IF) keeps its bodies in other subgraphs
        for o in g.operators:
            c = codes[o.opcodeIndex]
            out.append(names[max(c.builtinCode, c.deprecatedBuiltinCode)])
    return out


def bias_scale_mismatches(model, rtol: float = 1e-5) -> list[str]:
    """The CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV ops (every subgraph)
    whose int32 bias scale is not input scale x weight scale (per channel where the weights
    are), one line each; ``model`` is a ModelT or the file's bytes. TFLite's integer kernels
    (LiteRT reference and builtin, XNNPACK, TFLM) never read the bias tensor's scale: they add
    the int32 values at input x weight scale, so a bias stored at another scale is a wrong bias
    to them while OpenVINO, which honours it, computes something else. An empty list for any
    INT8 file edgehar writes (``_strip_dropout`` in quantize.tflite_int8 removed the one cause
    found); the export validates it (also callable on a file that embeds the network, such
    as the stream model)."""
    from ai_edge_litert import schema_py_generated as schema

    if isinstance(model, (bytes, bytearray)):
        model = read_model(model)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for gi, g in enumerate(model.subgraphs):
        for oi, o in enumerate(g.operators):
            c = model.operatorCodes[o.opcodeIndex]
            name = names[max(c.builtinCode, c.deprecatedBuiltinCode)]
            if name not in _BIAS_OPS:
                continue
            if name == "TRANSPOSE_CONV":   # inputs (output shape, weights, input, bias)
                x, w, b = (o.inputs[2], o.inputs[1], o.inputs[3]) if len(o.inputs) > 3 \
                    else (-1, -1, -1)
            else:
                x, w, b = o.inputs[:3] if len(o.inputs) > 2 else (-1, -1, -1)
            if b < 0:
                continue
            tb = g.tensors[b]
            if tb.type != schema.TensorType.INT32:
                continue
            q = [g.tensors[i].quantization for i in (x, w)] + [tb.quantization]
            if any(v is None or v.scale is None or not len(v.scale) for v in q):
                out.append(f"subgraph {gi} op {oi} {name}: a quantization scale is missing")
                continue
            want = np.float64(q[0].scale[0]) * np.asarray(q[1].scale, np.float64)
            have = np.asarray(q[2].scale, np.float64)
            if have.shape != want.shape and want.size != 1 and have.size != 1:
                out.append(f"subgraph {gi} op {oi} {name}: {have.size} bias scales for "
                           f"{want.size} weight scales")
                continue
            ratio = have / want
            if np.abs(ratio - 1).max() > rtol:
                out.append(f"subgraph {gi} op {oi} {name}: bias scale / (input x weight scale) "
                           f"in [{ratio.min():.4g}, {ratio.max():.4g}]")
    return out


def tensor_types(model) -> dict[str, int]:
    """How many tensors of each element type the graph holds, every subgraph
    (``{"INT8": 50, ...}``)."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    counts: dict[str, int] = {}
    for t in (t for g in model.subgraphs for t in g.tensors):
        counts[names[t.type]] = counts.get(names[t.type], 0) + 1
    return counts


def size_breakdown(data: bytes) -> dict[str, int]:
    """Where a .tflite's bytes go: weights, biases, quantization parameters, metadata, and
    the rest (graph structure, names, flatbuffer tables, the appended labels zip)."""
    model = read_model(data)
    g = model.subgraphs[0]
    ops = op_names(model)
    bias = {o.inputs[2] for o, name in zip(g.operators, ops)
            if name in _BIAS_OPS and len(o.inputs) > 2 and o.inputs[2] >= 0}
    nbytes = {"weights": 0, "biases": 0}
    for i, t in enumerate(g.tensors):
        buf = model.buffers[t.buffer].data
        if buf is not None and len(buf):
            nbytes["biases" if i in bias else "weights"] += len(buf)
    meta = sum(len(model.buffers[m.buffer].data) for m in (model.metadata or [])
               if model.buffers[m.buffer].data is not None)
    names = sum(len(t.name or b"") for t in g.tensors)
    nbytes |= {"metadata": meta, "tensor_names": names}
    nbytes["structure_and_quantization"] = len(data) - sum(nbytes.values())
    nbytes["total"] = len(data)
    return nbytes


def with_batch(data: bytes, batch: int) -> bytes:
    """The same graph for a fixed batch of ``batch`` windows instead of 1: every batch-1
    activation shape and each RESHAPE's target shape get the new leading dimension. Weights,
    quantization and ops are untouched, so each window's outputs are the batch-1 graph's."""
    from ai_edge_litert import schema_py_generated as schema

    model = read_model(data)
    g = model.subgraphs[0]
    ops = op_names(model)
    constant = {i for i, t in enumerate(g.tensors)
                if model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data)}
    for i, t in enumerate(g.tensors):
        if i in constant or t.shape is None or len(t.shape) == 0 or t.shape[0] != 1:
            continue
        t.shape = np.array([batch, *t.shape[1:]], np.int32)
        if t.shapeSignature is not None and len(t.shapeSignature):
            t.shapeSignature = np.array([batch, *t.shapeSignature[1:]], np.int32)
    for o, name in zip(g.operators, ops):
        if name != "RESHAPE":
            continue
        if len(o.inputs) > 1 and o.inputs[1] >= 0:   # the target shape as a constant tensor
            buf = model.buffers[g.tensors[o.inputs[1]].buffer]
            shape = np.frombuffer(bytes(bytearray(buf.data)), np.int32).copy()
            if shape.size and shape[0] == 1:
                shape[0] = batch
                buf.data = np.frombuffer(shape.tobytes(), np.uint8)
        opts = o.builtinOptions
        if isinstance(opts, schema.ReshapeOptionsT) and opts.newShape is not None \
                and len(opts.newShape) and opts.newShape[0] == 1:
            opts.newShape = np.array([batch, *opts.newShape[1:]], np.int32)
    return pack_model(model)


def signature_positions(data: bytes, signature: str = "step"
                        ) -> tuple[dict[str, int], dict[str, int]]:
    """A signature's input and output names -> their positions in subgraph 0's input and output
    lists (the indices TFLM's interpreter addresses tensors by)."""
    model = read_model(data)
    sigs = {(s.signatureKey.decode() if isinstance(s.signatureKey, bytes) else s.signatureKey): s
            for s in model.signatureDefs or []}
    if signature not in sigs:
        raise ValueError(f"no {signature!r} signature (found {sorted(sigs)})")
    sig = sigs[signature]
    if sig.subgraphIndex != 0:   # TFLM runs subgraph 0
        raise ValueError(f"the {signature!r} signature is subgraph {sig.subgraphIndex}, not 0")
    g = model.subgraphs[0]

    def positions(maps, tensors) -> dict[str, int]:
        order = [int(t) for t in tensors]
        return {(m.name.decode() if isinstance(m.name, bytes) else m.name):
                order.index(m.tensorIndex) for m in maps}

    return positions(sig.inputs, g.inputs), positions(sig.outputs, g.outputs)
