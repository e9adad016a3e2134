"""Load an exported model (bundle directory, .tflite or .onnx) with its manifest.

Paths go through ``os.path``, not pathlib: on Python 3.11 pathlib pulls in urllib.parse and
ipaddress, about 10 ms of a ~140 ms cold start on this kind of CPU.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from .backends import Backend, Runner, TFLiteRunner, open_runner
from .errors import EdgeharError
from .files import sha256
from .manifest import MANIFEST, Manifest, Normalization, read_manifest
from .spec import WindowSpec
from .tensors import folded_quantizer


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Model:
    """A runnable model with the window spec and normalization it was trained with."""

    path: str
    backend: Backend
    manifest: Manifest      # the bundle's, or the essentials a lone ONNX file carries
    runner: Runner

    def __post_init__(self):
        n = self.manifest.normalization
        self.mean = np.asarray(n.mean, np.float32)
        self.std = np.asarray(n.std, np.float32)
        # an int8-input LiteRT graph takes raw windows normalized and quantized in one pass
        # (~2.5 us a window less than the two steps, offline and live alike)
        self._prep = None
        if isinstance(self.runner, TFLiteRunner) and self.runner.input.quantized:
            self._prep = folded_quantizer(self.runner.input, self.mean, self.std)

    @property
    def spec(self) -> WindowSpec:
        return self.manifest.spec

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.spec.labels

    def normalize(self, windows: np.ndarray) -> np.ndarray:
        x = np.subtract(windows, self.mean)   # in place from here: offline batches are large
        x /= self.std
        return x.astype(np.float32, copy=False)

    def logits(self, windows: np.ndarray) -> np.ndarray:
        """Preprocessed (not yet normalized) windows (n, window, channels) -> logits (n, classes)."""
        if self._prep is not None:
            return self.runner(windows, prep=self._prep)
        return self.runner(self.normalize(windows))

    def probs(self, windows: np.ndarray) -> np.ndarray:
        return softmax(self.logits(windows))


def _check_input(path: str, runner: Runner, spec: WindowSpec) -> None:
    shape = runner.input.shape
    want = (spec.window, len(spec.channels))
    if len(shape) != 3 or tuple(shape[1:]) != want:
        raise EdgeharError(path, f"input shape {list(shape)} does not match the window spec "
                                 f"[batch, {want[0]}, {want[1]}]")


def _check_sha(path: str, expected: str) -> None:
    if sha256(path) != expected:
        raise EdgeharError(path, f"sha256 does not match {MANIFEST} (corrupt or replaced file)")


def load_model(path: str | os.PathLike[str], backend: Backend | str | None = None, threads: int = 1,
               verify: bool = True, kernels: str = "default", batched: bool = False) -> Model:
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
        path = os.path.join(path, manifest.offline_file(b.value) if batched
                            else manifest.default_file(b.value))
    elif os.path.isfile(os.path.join(os.path.dirname(path), MANIFEST)):
        manifest = read_manifest(os.path.dirname(path) or ".")
    b = Backend.of(path)
    if backend and Backend(backend) != b:
        raise EdgeharError(path, f"is a {b.value} model but --backend {Backend(backend).value} "
                                 "was asked for")
    if manifest is not None:
        entry = manifest.files.get(os.path.basename(path))
        if entry is None:
            raise EdgeharError(path, f"not listed in {MANIFEST} beside it")
        if verify:
            _check_sha(path, entry.sha256)
    runner = open_runner(path, threads, kernels)
    if batched and manifest is not None and b is Backend.TFLITE and runner.input.shape[0] > 1:
        # the batched file's leftover windows go through its batch-1 parent (same outputs)
        parent = manifest.files[os.path.basename(path)].parent
        if parent in manifest.files:
            ppath = os.path.join(os.path.dirname(path), parent)
            if verify:
                _check_sha(ppath, manifest.files[parent].sha256)
            runner.remainder = open_runner(ppath, threads, kernels)
    if manifest is None:
        if b is Backend.ONNX and "edgehar" in runner.metadata:
            try:
                essentials = json.loads(runner.metadata["edgehar"])
            except ValueError:
                raise EdgeharError(path, "its edgehar metadata is not valid JSON") from None
            if not isinstance(essentials, dict):
                raise EdgeharError(path, "its edgehar metadata is not a JSON object")
            manifest = Manifest.from_dict(essentials, path)
        else:
            raise EdgeharError(path, f"no {MANIFEST} beside the model to read labels and window from")
    _check_input(path, runner, manifest.spec)
    return Model(path, b, manifest, runner)


__all__ = ["Backend", "Model", "Normalization", "load_model", "read_manifest", "softmax"]
