"""Load an exported model (bundle directory, .tflite or .onnx) and run windows through it.

Only numpy and the chosen backend are imported: ``ai_edge_litert`` for .tflite (default) or
``onnxruntime`` for .onnx. Paths go through ``os.path``, not pathlib: on Python 3.11 pathlib
pulls in urllib.parse and ipaddress, about 10 ms of a ~140 ms cold start on this kind of CPU.
INT8 tensors are (de)quantized with the tensor's own scale and zero point, so float-I/O and
int8-I/O models are used the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from enum import Enum

import numpy as np

from .errors import EdgeharError
from .files import sha256
from .spec import WindowSpec

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1


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


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.dtype in ("int8", "uint8") and self.scale > 0

    def quantize(self, x: np.ndarray) -> np.ndarray:
        info = np.iinfo(self.dtype)
        q = np.round(x / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        # Python scalars keep the float32 array float32: no trailing astype copy.
        return (q.astype(np.float32) - self.zero_point) * self.scale


@contextlib.contextmanager
def silenced_fds(fds: tuple[int, ...] = (2,)):
    """Point OS-level file descriptors at /dev/null for a while: LiteRT's and MLIR's C++
    loggers write there directly ('INFO: Created TensorFlow Lite XNNPACK delegate'), and the
    CLI contract is one line on stderr."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        saved = [os.dup(fd) for fd in fds]
    except (OSError, ValueError):  # no real descriptors (embedded interpreters, some runners)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in fds:
        os.dup2(devnull, fd)
    try:
        yield
    finally:
        for fd, old in zip(fds, saved):
            os.dup2(old, fd)
            os.close(old)
        os.close(devnull)


class TFLiteRunner:
    """ai-edge-litert Interpreter; batches by resizing the input when the graph allows it."""

    def __init__(self, path: str | os.PathLike[str], threads: int = 1, default_delegates: bool = True):
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError:
            raise EdgeharError(path, "the LiteRT backend needs: pip install ai-edge-litert") from None
        resolver = (OpResolverType.AUTO if default_delegates
                    else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        try:
            with silenced_fds():
                self._it = Interpreter(model_path=str(path), num_threads=threads,
                                       experimental_op_resolver_type=resolver)
                self._it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise EdgeharError(path, f"not a valid TFLite model ({str(e).splitlines()[0]})") from None
        inp, out = self._it.get_input_details(), self._it.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise EdgeharError(path, f"expected 1 input and 1 output, found {len(inp)}/{len(out)}")
        self.input, self.output = self._info(inp[0]), self._info(out[0])
        self._in_idx, self._out_idx = inp[0]["index"], out[0]["index"]
        self._in_dtype = np.dtype(self.input.dtype)
        self._quant_in, self._quant_out = self.input.quantized, self.output.quantized
        self._batch = int(self.input.shape[0])
        self._resizable: bool | None = None  # learnt on the first batch that needs a resize
        self.signatures = list(self._it.get_signature_list())

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

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        # ~0.1 ms graphs: every numpy call and attribute lookup here shows in the latency.
        if self._quant_in:
            x = self.input.quantize(x)
        elif x.dtype != self._in_dtype:
            x = x.astype(self._in_dtype)
        self._it.set_tensor(self._in_idx, x)
        self._it.invoke()
        y = self._it.get_tensor(self._out_idx)  # a copy, safe to hand out
        return self.output.dequantize(y) if self._quant_out else y.astype(np.float32, copy=False)

    def __call__(self, x: np.ndarray, max_batch: int = 256) -> np.ndarray:
        if len(x) == self._batch:  # one window on the batch-1 graph: the streaming hot path
            return self._invoke(x)
        outs = []
        for i in range(0, len(x), max_batch):
            chunk = x[i:i + max_batch]
            if self._resize(len(chunk)):
                outs.append(self._invoke(chunk))
            else:  # a graph with a fixed batch of 1
                outs.extend(self._invoke(chunk[j:j + 1]) for j in range(len(chunk)))
        return np.concatenate(outs) if outs else np.zeros((0, self.output.shape[-1]), np.float32)


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
            msg = str(e).splitlines()[0][:160]
            raise EdgeharError(path, f"not a valid ONNX model ({msg})") from None
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


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Model:
    """A runnable model with the window spec and normalization it was trained with."""

    path: str
    backend: Backend
    spec: WindowSpec
    mean: np.ndarray
    std: np.ndarray
    runner: TFLiteRunner | OnnxRunner
    manifest: dict | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    def normalize(self, windows: np.ndarray) -> np.ndarray:
        return ((windows - self.mean) / self.std).astype(np.float32)

    def logits(self, windows: np.ndarray) -> np.ndarray:
        """Preprocessed (not yet normalized) windows (n, window, channels) -> logits (n, classes)."""
        return self.runner(self.normalize(windows))

    def probs(self, windows: np.ndarray) -> np.ndarray:
        return softmax(self.logits(windows))


def read_manifest(bundle: str | os.PathLike[str]) -> dict:
    path = os.path.join(bundle, MANIFEST)
    if not os.path.isfile(path):
        raise EdgeharError(bundle, f"not a model bundle ({MANIFEST} missing)")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EdgeharError(path, f"not valid JSON ({e})") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise EdgeharError(path, f"unsupported schema_version {manifest.get('schema_version')!r}")
    return manifest


def default_file(manifest: dict, backend: Backend) -> str:
    """The INT8 file of the backend's format if present, else its FP32 file."""
    files = manifest.get("files", {})
    for precision in ("int8", "fp32"):
        name = f"model_{precision}.{backend.value}"
        if name in files:
            return name
    raise EdgeharError(MANIFEST, f"the bundle has no {backend.value} model file")


def _spec_and_norm(meta: dict) -> tuple[WindowSpec, np.ndarray, np.ndarray]:
    spec = WindowSpec.from_dict(meta["window_spec"])
    norm = meta.get("normalization")
    c = len(spec.channels)
    mean = np.asarray(norm["mean"] if norm else np.zeros(c), np.float32)
    std = np.asarray(norm["std"] if norm else np.ones(c), np.float32)
    return spec, mean, std


def _check_input(path: str, runner, spec: WindowSpec) -> None:
    shape = runner.input.shape
    want = (spec.window, len(spec.channels))
    if len(shape) != 3 or tuple(shape[1:]) != want:
        raise EdgeharError(path, f"input shape {list(shape)} does not match the window spec "
                                 f"[batch, {want[0]}, {want[1]}]")


def load_model(path: str | os.PathLike[str], backend: Backend | str | None = None, threads: int = 1,
               verify: bool = True, default_delegates: bool = True) -> Model:
    """A bundle directory (picks the backend's INT8 file), or one .tflite / .onnx file.

    A single file is matched to ``manifest.json`` beside it (sha256 checked); an .onnx file
    without one falls back to the manifest essentials in its metadata_props."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise EdgeharError(path, "model not found")
    manifest = None
    if os.path.isdir(path):
        manifest = read_manifest(path)
        b = Backend(backend) if backend else Backend.TFLITE
        path = os.path.join(path, default_file(manifest, b))
    elif os.path.isfile(os.path.join(os.path.dirname(path), MANIFEST)):
        manifest = read_manifest(os.path.dirname(path) or ".")
    b = Backend.of(path)
    if backend and Backend(backend) != b:
        raise EdgeharError(path, f"is a {b.value} model but --backend {Backend(backend).value} "
                                 "was asked for")
    entry = None
    if manifest is not None:
        entry = manifest.get("files", {}).get(os.path.basename(path))
        if entry is None:
            raise EdgeharError(path, f"not listed in {MANIFEST} beside it")
        if verify and sha256(path) != entry["sha256"]:
            raise EdgeharError(path, f"sha256 does not match {MANIFEST} (corrupt or replaced file)")
    runner = (TFLiteRunner(path, threads, default_delegates) if b is Backend.TFLITE
              else OnnxRunner(path, threads))
    if manifest is not None:
        meta = manifest
    elif b is Backend.ONNX and "edgehar" in runner.metadata:
        meta = json.loads(runner.metadata["edgehar"])
    else:
        raise EdgeharError(path, f"no {MANIFEST} beside the model to read labels and window from")
    spec, mean, std = _spec_and_norm(meta)
    _check_input(path, runner, spec)
    return Model(path, b, spec, mean, std, runner, manifest)
