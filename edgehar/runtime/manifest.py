"""The bundle manifest, typed: one dataclass every reader and writer goes through.

Schema 2 stores each fact once: the window contract (labels, rate, window, hop, channels,
filters) at the top level, the normalization, the model, and one entry per file with its
lineage (the sha256 of the file it was converted from) and its measured accuracy. Schema 1
bundles (labels/window/hop/channels also repeated under ``window_spec``) still load.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .errors import EdgeharError
from .spec import IIRCoefficients, WindowSpec

MANIFEST = "manifest.json"
SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
NORMALIZATION_KIND = "per_channel_standardize"
INPUT_LAYOUT = "[batch, window, channels] float32, normalized"
OUTPUT_MEANING = "logits in label order (the runtime applies softmax)"
ESSENTIAL_KEYS = ("schema_version", "labels", "sample_rate", "window", "hop", "channels",
                  "filters", "normalization", "input_layout", "output", "orientation")


@dataclass(frozen=True)
class Normalization:
    """Per-channel standardization, fitted on training windows, applied before the model."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    # Per-channel clip (in standard deviations) folded into ``std`` and the stem's weights at
    # export, so that every channel spans [-1, 1], the range of the int8 input tensor.
    input_clip: tuple[float, ...] | None = None

    @classmethod
    def identity(cls, channels: int) -> Normalization:
        return cls((0.0,) * channels, (1.0,) * channels)

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalization:
        """From (windows, time, channels) training data; std floored so flat channels pass."""
        return cls(tuple(x.mean((0, 1)).astype(float).tolist()),
                   tuple(np.maximum(x.std((0, 1)), 1e-6).astype(float).tolist()))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
                ).astype(np.float32)

    def to_dict(self) -> dict:
        d = {"kind": NORMALIZATION_KIND, "mean": list(self.mean), "std": list(self.std)}
        if self.input_clip is not None:
            d["input_clip"] = list(self.input_clip)
        return d

    @classmethod
    def from_dict(cls, d: dict | None, channels: int) -> Normalization:
        if not d:
            return cls.identity(channels)
        clip = d.get("input_clip")
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]),
                   None if clip is None else tuple(float(v) for v in clip))


@dataclass(frozen=True)
class ModelInfo:
    name: str
    config: dict
    params: int
    macs: int


@dataclass
class FileEntry:
    """One model file: what it is, where it came from, how it scored."""

    format: str                       # torch | onnx | tflite
    precision: str                    # fp32 | int8
    sha256: str
    parent: str | None = None         # file it was converted from
    parent_sha256: str | None = None
    test_accuracy: float | None = None
    test_macro_f1: float | None = None
    size_bytes: int | None = None
    signatures: list[str] = field(default_factory=list)
    io: dict | None = None            # input/output tensor name, shape, dtype, scale, zero point
    # INT8 .tflite: each kernel implementation's max output steps from the reference kernels
    # on the chain windows, and the allowed steps (runtime.parity)
    parity: dict | None = None
    mcu: dict | None = None           # export --mcu: arena bytes, ops, kit files

    @classmethod
    def from_dict(cls, d: dict) -> FileEntry:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Manifest:
    spec: WindowSpec
    normalization: Normalization
    model: ModelInfo | None = None
    files: dict[str, FileEntry] = field(default_factory=dict)
    calibration: dict | None = None   # {"windows", "seed", "source"}
    quantization: dict | None = None
    metrics_split: str = "test"
    test_windows: int = 0
    data_source: str | None = None
    complete: bool = True
    failure: str | None = None        # the one line that stopped an incomplete export
    exported_with: dict = field(default_factory=dict)
    budgets: dict = field(default_factory=dict)  # device budgets: latency_ms, memory_mb
    # the training frame's vertical (for --orientation auto) and whether the model was trained
    # heading-invariant; None for bundles that predate it
    orientation: dict | None = None
    dataset: dict | None = None       # the data spec it was trained and scored on (edgehar.data)
    schema_version: int = SCHEMA_VERSION

    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    def model_files(self) -> list[str]:
        """Files a runtime can load (everything but the torch weights), in export order."""
        return [n for n, f in self.files.items() if f.format != "torch"]

    def offline_file(self, backend: str) -> str:
        """For offline (fleet) replay: the INT8 file built for a fixed batch of windows when
        the bundle has one (same outputs per window), else ``default_file``."""
        if backend == "tflite":
            batched = [n for n, f in self.files.items()
                       if f.format == "tflite" and f.parent == "model_int8.tflite"]
            if batched:
                return batched[0]
        return self.default_file(backend)

    def default_file(self, backend: str) -> str:
        """The INT8 file of the backend's format if present, else its FP32 file."""
        for precision in ("int8", "fp32"):
            name = f"model_{precision}.{backend}"
            if name in self.files:
                return name
        raise EdgeharError(MANIFEST, f"the bundle has no {backend} model file")

    def run_config(self) -> dict:
        """The facts of a training run's config.json that the bundle carries (model, labels,
        normalization, data spec, orientation): a bundle stands in for its run."""
        return {"model": self.model.name if self.model else None,
                "model_config": self.model.config if self.model else None,
                "normalization": self.normalization.to_dict(), "window_spec": self.spec.to_dict(),
                "data": {"source": self.data_source or "package", "spec": self.dataset},
                "orientation": self.orientation}

    def essentials(self) -> dict:
        """What a lone model file needs to be run (carried in ONNX metadata_props): the window
        contract and the normalization, in the manifest's own layout."""
        return {k: v for k, v in self.to_dict().items() if k in ESSENTIAL_KEYS}

    def to_dict(self) -> dict:
        spec = self.spec.to_dict()
        d = {"schema_version": SCHEMA_VERSION,
             "labels": spec["labels"], "sample_rate": spec["sample_rate"],
             "window": spec["window"], "hop": spec["hop"], "channels": spec["channels"],
             "filters": {"noise": spec["noise_filter"], "gravity": spec["gravity_filter"]},
             "normalization": self.normalization.to_dict(),
             "input_layout": INPUT_LAYOUT, "output": OUTPUT_MEANING,
             "model": asdict(self.model) if self.model else None,
             "files": {n: asdict(f) for n, f in self.files.items()},
             "calibration": self.calibration, "quantization": self.quantization,
             "metrics_split": self.metrics_split, "test_windows": self.test_windows,
             "data_source": self.data_source, "complete": self.complete,
             "failure": self.failure, "exported_with": self.exported_with,
             "orientation": self.orientation, "dataset": self.dataset}
        if self.budgets:
            d["budgets"] = self.budgets
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = MANIFEST) -> Manifest:
        version = d.get("schema_version")
        if version not in READABLE_SCHEMAS:
            raise EdgeharError(where, f"unsupported schema_version {version!r} "
                                      f"(this edgehar reads {', '.join(map(str, READABLE_SCHEMAS))})")
        try:
            spec = _spec_of(d)
            model = d.get("model")
            return cls(
                spec=spec,
                normalization=Normalization.from_dict(d.get("normalization"), len(spec.channels)),
                model=ModelInfo(model["name"], model["config"], int(model["params"]),
                                int(model["macs"])) if model else None,
                files={n: FileEntry.from_dict(f) for n, f in d.get("files", {}).items()},
                calibration=d.get("calibration"), quantization=d.get("quantization"),
                metrics_split=d.get("metrics_split", "test"),
                test_windows=int(d.get("test_windows", 0)), data_source=d.get("data_source"),
                complete=bool(d.get("complete", True)), failure=d.get("failure"),
                exported_with=d.get("exported_with", {}), budgets=d.get("budgets", {}),
                orientation=_orientation(d.get("orientation")),
                dataset=d.get("dataset"),
                schema_version=version)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise EdgeharError(where, f"malformed manifest ({type(e).__name__}: {e})") from None

    def write(self, bundle: str | os.PathLike[str]) -> None:
        from .files import write_json

        write_json(os.path.join(bundle, MANIFEST), self.to_dict())


def _orientation(o) -> dict | None:
    """None, or a dict whose ``vertical`` is three finite numbers, not all zero."""
    if o is None:
        return None
    v = np.asarray(o["vertical"], float)
    if v.shape != (3,) or not np.isfinite(v).all() or not np.linalg.norm(v) > 0:
        raise ValueError(f"orientation.vertical must be three finite numbers, not all zero: {v}")
    return dict(o)


def _spec_of(d: dict) -> WindowSpec:
    if d.get("schema_version") == 1:  # the window contract lived under window_spec
        return WindowSpec.from_dict(d["window_spec"])
    filters = d["filters"]
    return WindowSpec(int(d["sample_rate"]), int(d["window"]), int(d["hop"]),
                      tuple(d["channels"]), tuple(d["labels"]),
                      IIRCoefficients.from_dict(filters["noise"]),
                      IIRCoefficients.from_dict(filters["gravity"]))


def read_manifest(bundle: str | os.PathLike[str]) -> Manifest:
    path = os.path.join(bundle, MANIFEST)
    if not os.path.isfile(path):
        raise EdgeharError(bundle, f"not a model bundle ({MANIFEST} missing)")
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EdgeharError(path, f"not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise EdgeharError(path, "not a manifest (expected a JSON object)")
    return Manifest.from_dict(d, path)
