"""Inference backends: one runner per model format, opened through ``open_runner``.

Only numpy and the chosen backend are imported: ``ai_edge_litert`` for .tflite (default) or
``onnxruntime`` for .onnx, each at first use. INT8 tensors are (de)quantized with the tensor's
own scale and zero point, so float-I/O and int8-I/O models are called the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import Enum

import numpy as np

from .errors import EdgeharError, one_line
from .quiet import silenced_fds
from .tensors import TensorInfo

Prep = Callable[[np.ndarray], np.ndarray]   # windows -> the graph's input tensor

# A fixed-batch graph's last, short group of n windows is padded to a whole batch from this
# share of the batch on, and goes window by window through the batch-1 parent below it: one
# batch-64 invoke costs as much as ~50 single ones (bench/fleet.py, model_only: 42.4k vs 33.4k
# windows/s).
PAD_FROM = 0.78


class Backend(str, Enum):
    TFLITE = "tflite"
    ONNX = "onnx"

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> Backend:
        suffix = os.path.splitext(os.fspath(path))[1].lower()
        if suffix == ".tflite":
            return cls.TFLITE
        if suffix == ".onnx":
            return cls.ONNX
        raise EdgeharError(path, "unknown model format (expected .tflite, .onnx or a bundle dir)")


class Kernels(str, Enum):
    """Which implementation of the TFLite ops runs a .tflite."""

    DEFAULT = "default"       # LiteRT with its default delegate (XNNPACK): what phones and Pis run
    BUILTIN = "builtin"       # LiteRT's optimized builtin kernels, no delegate
    REFERENCE = "reference"   # LiteRT's reference kernels (BUILTIN_REF): TFLite's semantics
    TFLM = "tflm"             # TensorFlow Lite for Microcontrollers (pip install tflite-micro)


class TFLiteRunner:
    """ai-edge-litert Interpreter; batches by resizing the input when the graph allows it."""

    def __init__(self, path: str | os.PathLike[str], threads: int = 1,
                 kernels: Kernels = Kernels.DEFAULT):
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError:
            raise EdgeharError(path, "the LiteRT backend needs: pip install ai-edge-litert") from None
        resolver = {Kernels.DEFAULT: OpResolverType.AUTO,
                    Kernels.BUILTIN: OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                    Kernels.REFERENCE: OpResolverType.BUILTIN_REF}[Kernels(kernels)]
        try:
            with silenced_fds():
                self._it = Interpreter(model_path=str(path), num_threads=threads,
                                       experimental_op_resolver_type=resolver)
                self._it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise EdgeharError(path, f"not a valid TFLite model ({one_line(e)})") from None
        inp, out = self._it.get_input_details(), self._it.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise EdgeharError(path, f"expected 1 input and 1 output, found {len(inp)}/{len(out)}")
        self.input, self.output = self._info(inp[0]), self._info(out[0])
        self._in_idx, self._out_idx = inp[0]["index"], out[0]["index"]
        self._in_dtype = np.dtype(self.input.dtype)
        self._quant_in, self._quant_out = self.input.quantized, self.output.quantized
        self._batch = int(self.input.shape[0])
        # learnt on the first batch that needs a resize; a graph built for a fixed batch of
        # several windows (edgehar's batched file) is never resized: it pads instead
        self._resizable: bool | None = None if self._batch == 1 else False
        self.signatures = list(self._it.get_signature_list())
        # a fixed-batch graph's batch-1 original, for the windows that do not fill a batch
        self.remainder: TFLiteRunner | None = None

    @staticmethod
    def _info(d: dict) -> TensorInfo:
        scale, zp = d["quantization"]
        return TensorInfo(d["name"], tuple(int(s) for s in d["shape"]),
                          np.dtype(d["dtype"]).name, float(scale), int(zp))

    def _resize(self, n: int) -> bool:
        if n == self._batch:
            return True
        if self._resizable is False:
            return False
        try:
            self._it.resize_tensor_input(self._in_idx, [n, *self.input.shape[1:]], strict=False)
            self._it.allocate_tensors()
            self._batch = n
            self._resizable = True
            return True
        except (ValueError, RuntimeError):
            self._resizable = False
            self._it.resize_tensor_input(self._in_idx, list(self.input.shape))
            self._it.allocate_tensors()
            self._batch = int(self.input.shape[0])
            return False

    def _invoke(self, x: np.ndarray, prep: Prep | None = None) -> np.ndarray:
        # ~0.1 ms graphs: every numpy call and attribute lookup here shows in the latency.
        return self._run(self._input(x, prep))

    def _input(self, x: np.ndarray, prep: Prep | None = None) -> np.ndarray:
        if prep is not None:
            return prep(x)
        if self._quant_in:
            return self.input.quantize(x)
        return x if x.dtype == self._in_dtype else x.astype(self._in_dtype)

    def _run(self, x: np.ndarray) -> np.ndarray:
        self._it.set_tensor(self._in_idx, x)
        self._it.invoke()
        y = self._it.get_tensor(self._out_idx)  # a copy, safe to hand out
        return self.output.dequantize(y) if self._quant_out else y.astype(np.float32, copy=False)

    def __call__(self, x: np.ndarray, max_batch: int = 256, prep: Prep | None = None
                 ) -> np.ndarray:
        """Outputs for the windows ``x``: the graph's input as they are, or ``prep(x)``
        (Model: raw windows normalized and quantized in one pass)."""
        if len(x) == self._batch:  # one window on the batch-1 graph: the streaming hot path
            return self._invoke(x, prep)
        outs = []
        for i in range(0, len(x), max_batch):
            chunk = x[i:i + max_batch]
            if self._resize(len(chunk)):
                outs.append(self._invoke(chunk, prep))
            else:  # a graph with a fixed batch: groups of it (input converted once)
                outs.extend(self._fixed_batches(chunk, prep))
        return np.concatenate(outs) if outs else np.zeros((0, self.output.shape[-1]), np.float32)

    def run_raw(self, q: np.ndarray) -> np.ndarray:
        """The graph's output tensors, as it holds them (int8 for an integer-only file), for
        inputs already in its input type: what a microcontroller port compares with."""
        groups = [q] if self._resize(len(q)) else [q[i:i + self._batch]
                                                   for i in range(0, len(q), self._batch)]
        outs = []
        for g in groups:
            self._it.set_tensor(self._in_idx, g)
            self._it.invoke()
            outs.append(self._it.get_tensor(self._out_idx))
        return np.concatenate(outs)

    def _fixed_batches(self, chunk: np.ndarray, prep: Prep | None) -> list[np.ndarray]:
        """Outputs of a fixed-batch graph for ``chunk``; a short last group goes window by
        window through the batch-1 parent when that is cheaper than a padded batch."""
        b, outs = self._batch, []
        full = len(chunk) // b * b
        if full:
            q = self._input(chunk[:full], prep)
            outs += [self._run(q[j:j + b]) for j in range(0, full, b)]
        n = len(chunk) - full
        if n and self.remainder is not None and n < PAD_FROM * b:
            outs.append(self.remainder(chunk[full:], prep=prep))
        elif n:
            part = self._input(chunk[full:], prep)
            # padding is zero (quantized: the zero point); its outputs are dropped anyway
            pad = np.full((b, *part.shape[1:]), self.input.zero_point if self._quant_in else 0,
                          part.dtype)
            pad[:n] = part
            outs.append(self._run(pad)[:n])
        return outs


class OnnxRunner:
    def __init__(self, path: str | os.PathLike[str], threads: int = 1):
        try:
            import onnxruntime as ort
        except ImportError:
            raise EdgeharError(path, "the ONNX backend needs: pip install onnxruntime") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._s = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise EdgeharError(path, f"not a valid ONNX model ({one_line(e)})") from None
        i, o = self._s.get_inputs(), self._s.get_outputs()
        if len(i) != 1 or len(o) != 1:
            raise EdgeharError(path, f"expected 1 input and 1 output, found {len(i)}/{len(o)}")
        shape = tuple(d if isinstance(d, int) else -1 for d in i[0].shape)
        self.input = TensorInfo(i[0].name, shape, "float32")
        self.output = TensorInfo(o[0].name, tuple(d if isinstance(d, int) else -1
                                                  for d in o[0].shape), "float32")
        self.metadata = dict(self._s.get_modelmeta().custom_metadata_map)
        self.signatures: list[str] = []

    def __call__(self, x: np.ndarray, max_batch: int = 256) -> np.ndarray:
        if self.input.shape[0] != -1:  # fixed batch
            max_batch = self.input.shape[0]
        outs = [self._s.run(None, {self.input.name: x[i:i + max_batch]})[0]
                for i in range(0, len(x), max_batch)]
        return np.concatenate(outs) if outs else np.zeros((0, self.output.shape[-1]), np.float32)


class TFLMRunner:
    """A .tflite through TensorFlow Lite for Microcontrollers' interpreter (the ``tflite-micro``
    wheel, x86-64 hosts only): the kernels a microcontroller build runs. One window per call."""

    def __init__(self, path: str | os.PathLike[str], arena_bytes: int | None = None):
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError:
            raise EdgeharError(path, "the TFLM interpreter needs: pip install tflite-micro "
                                     "(x86-64 hosts)") from None
        with open(path, "rb") as f:
            data = f.read()
        try:
            with silenced_fds():
                self._it = runtime.Interpreter.from_bytes(data, arena_size=arena_bytes)
        except (RuntimeError, ValueError) as e:
            raise EdgeharError(path, f"TFLM cannot run it ({one_line(e)})") from None
        self.input = self._info(self._it.get_input_details(0), "input")
        self.output = self._info(self._it.get_output_details(0), "output")
        self.signatures: list[str] = []

    @staticmethod
    def _info(d: dict, name: str) -> TensorInfo:
        q = d.get("quantization_parameters") or {}
        scales, zps = q.get("scales", []), q.get("zero_points", [])
        return TensorInfo(name, tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"]).name,
                          float(scales[0]) if len(scales) else 0.0,
                          int(zps[0]) if len(zps) else 0)

    def __call__(self, x: np.ndarray, max_batch: int = 256) -> np.ndarray:
        outs = []
        for w in x:
            w = w[None]
            w = self.input.quantize(w) if self.input.quantized else w.astype(self.input.dtype)
            self._it.set_input(w, 0)
            self._it.invoke()
            y = self._it.get_output(0)
            outs.append(self.output.dequantize(y) if self.output.quantized
                        else y.astype(np.float32))
        return np.concatenate(outs) if outs else np.zeros((0, self.output.shape[-1]), np.float32)


Runner = TFLiteRunner | OnnxRunner | TFLMRunner


def open_runner(path: str | os.PathLike[str], threads: int = 1,
                kernels: Kernels | str = Kernels.DEFAULT) -> Runner:
    """The one backend dispatch: the file's suffix picks the runner, ``kernels`` which
    implementation of the TFLite ops runs a .tflite."""
    if Backend.of(path) is Backend.TFLITE:
        if Kernels(kernels) is Kernels.TFLM:
            return TFLMRunner(path)
        return TFLiteRunner(path, threads, Kernels(kernels))
    return OnnxRunner(path, threads)
