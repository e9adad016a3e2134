"""The bundle manifest, typed: one dataclass every reader and writer goes through.

Schema 3 stores each fact once: the window contract (labels, rate, window, hop, channels,
filters) at the top level, the normalization, the model, one entry per file with its lineage
(the sha256 of the file it was converted from) and its measured accuracy, and records for the
calibration, the quantization, the orientation and the data spec it was trained on (whose
source, classes, window and hop are not repeated elsewhere). Schema 2 bundles (the labels again
in ``dataset.classes``, the source again in ``data_source``) and schema 1 bundles
(labels/window/hop/channels also repeated under ``window_spec``) still load.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace

from .errors import EdgeharError
from .run_config import Normalization, Orientation, RunConfig
from .spec import DataSpec, IIRCoefficients, WindowSpec

MANIFEST = "manifest.json"
SCHEMA_VERSION = 3
READABLE_SCHEMAS = (1, 2, 3)
INPUT_LAYOUT = "[batch, window, channels] float32, normalized"
OUTPUT_MEANING = "logits in label order (the runtime applies softmax)"
ESSENTIAL_KEYS = ("schema_version", "labels", "sample_rate", "window", "hop", "channels",
                  "filters", "normalization", "input_layout", "output", "orientation")


@dataclass(frozen=True)
class Calibration:
    """The windows INT8 calibration drew (DESIGN: size and seed in the manifest)."""

    windows: int
    seed: int
    source: str

    def to_dict(self) -> dict:
        return {"windows": self.windows, "seed": self.seed, "source": self.source}

    @classmethod
    def from_dict(cls, d: dict | None) -> Calibration | None:
        return None if d is None else cls(int(d["windows"]), int(d["seed"]), d["source"])


@dataclass(frozen=True)
class Quantization:
    """How the INT8 files were made, and whether the INT8 .tflite came out integer-only."""

    float_modules: tuple[str, ...] = ()
    onnx_int8: str | None = None
    tflite_int8: str | None = None
    integer_only: bool | None = None   # read from the INT8 .tflite's graph once it exists
    input_scaling: str | None = None
    tflite_int8_graph: dict | None = None   # {"ops": n, "tensor_types": {type: count}}

    def to_dict(self) -> dict:
        d = {"float_modules": list(self.float_modules), "onnx_int8": self.onnx_int8,
             "tflite_int8": self.tflite_int8, "integer_only": self.integer_only,
             "input_scaling": self.input_scaling}
        if self.tflite_int8_graph is not None:
            d["tflite_int8_graph"] = self.tflite_int8_graph
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> Quantization | None:
        if d is None:
            return None
        return cls(tuple(d.get("float_modules", ())), d.get("onnx_int8"), d.get("tflite_int8"),
                   d.get("integer_only"), d.get("input_scaling"), d.get("tflite_int8_graph"))


@dataclass(frozen=True)
class ExportedWith:
    """What wrote the bundle: the versions of edgehar and of the converters and runtimes that
    made and scored its files (None: not installed, or not recorded by an older export), and
    when (UTC, ISO 8601). Older bundles recorded the Python version only."""

    python: str | None = None
    edgehar: str | None = None
    torch: str | None = None
    litert_torch: str | None = None
    onnxruntime: str | None = None
    date: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict | None) -> ExportedWith:
        d = d or {}
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Budgets:
    """A target device's budgets (pytest device_tests reads them); None: not stated."""

    latency_ms: float | None = None
    memory_mb: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in (("latency_ms", self.latency_ms),
                                  ("memory_mb", self.memory_mb)) if v is not None}

    @classmethod
    def from_dict(cls, d: dict | None) -> Budgets:
        d = d or {}
        return cls(d.get("latency_ms"), d.get("memory_mb"))


@dataclass(frozen=True)
class ModelInfo:
    name: str
    config: dict
    params: int
    macs: int


@dataclass(frozen=True)
class TensorIO:
    """One model tensor as the file declares it: real = scale * (q - zero_point) for int8
    (scale 0.0: a float tensor). ``qdq_scale``: an INT8 .onnx whose graph dequantizes its
    int8 logits to float records that step here."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int
    qdq_scale: float | None = None

    def to_dict(self) -> dict:
        d = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
             "scale": self.scale, "zero_point": self.zero_point}
        if self.qdq_scale is not None:
            d["qdq_scale"] = self.qdq_scale
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TensorIO:
        return cls(d["name"], tuple(d["shape"]), d["dtype"], d["scale"], d["zero_point"],
                   d.get("qdq_scale"))


@dataclass(frozen=True)
class FileIO:
    """A model file's input and output tensors."""

    input: TensorIO
    output: TensorIO

    def to_dict(self) -> dict:
        return {"input": self.input.to_dict(), "output": self.output.to_dict()}

    @classmethod
    def from_dict(cls, d: dict | None) -> FileIO | None:
        if d is None:
            return None
        return cls(TensorIO.from_dict(d["input"]), TensorIO.from_dict(d["output"]))


@dataclass(frozen=True)
class KernelParity:
    """One kernel implementation of the INT8 .tflite against the reference kernels: its
    largest output difference in output steps, the steps runtime.parity allows, and its
    top-1 agreement (TFLM: also against LiteRT's default kernels)."""

    max_steps: int
    allowed_steps: int
    top1_agreement: float
    top1_agreement_vs_litert: float | None = None

    @property
    def within(self) -> bool:
        return self.max_steps <= self.allowed_steps

    def to_dict(self) -> dict:
        d = {"max_steps": self.max_steps, "allowed_steps": self.allowed_steps,
             "top1_agreement": self.top1_agreement}
        if self.top1_agreement_vs_litert is not None:
            d["top1_agreement_vs_litert"] = self.top1_agreement_vs_litert
        return d

    @classmethod
    def from_dict(cls, d: dict) -> KernelParity:
        return cls(int(d["max_steps"]), int(d["allowed_steps"]), d["top1_agreement"],
                   d.get("top1_agreement_vs_litert"))


@dataclass(frozen=True)
class Parity:
    """The INT8 .tflite's kernel parity on the chain windows, one record per kernel
    implementation (default, builtin, tflm with --mcu), in the order measured. Stored flat:
    ``{"reference": ..., "windows": n, "<kernels>": {...}, ...}``."""

    reference: str
    windows: int
    kernels: dict[str, KernelParity] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d: dict = {"reference": self.reference, "windows": self.windows}
        d.update((k, p.to_dict()) for k, p in self.kernels.items())
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> Parity | None:
        if d is None:
            return None
        return cls(d["reference"], int(d["windows"]),
                   {k: KernelParity.from_dict(v) for k, v in d.items() if isinstance(v, dict)})


@dataclass(frozen=True)
class McuKit:
    """export --mcu: the TFLM arena, the ops (and resolver calls) the model needs, and the
    kit's files relative to the bundle."""

    arena_bytes: int
    ops: tuple[str, ...]
    resolver: tuple[str, ...]
    files: tuple[str, ...]
    interpreter: str

    def to_dict(self) -> dict:
        return {"arena_bytes": self.arena_bytes, "ops": list(self.ops),
                "resolver": list(self.resolver), "files": list(self.files),
                "interpreter": self.interpreter}

    @classmethod
    def from_dict(cls, d: dict | None) -> McuKit | None:
        if d is None:
            return None
        return cls(int(d["arena_bytes"]), tuple(d["ops"]), tuple(d["resolver"]),
                   tuple(d["files"]), d["interpreter"])


@dataclass(frozen=True)
class StreamInfo:
    """``model_stream.tflite`` (DESIGN.md "Streaming model"): one signature ``step(samples
    [1, hop, 6], state [1, state_size]) -> (probs [1, C], ready [1], state [1, state_size])``,
    raw ax ay az (g) and gx gy gz (rad/s) at the bundle's rate in, probabilities out. A fresh
    stream starts from an all-zero state; after a gap the host zeros the state except
    ``state[orientation_slice[0]:orientation_slice[1]]`` (the orientation estimate)."""

    signature: str                     # "step"
    hop: int                           # samples per step
    state_size: int                    # S
    inputs: dict[str, str]             # signature input name -> tensor name in the file
    outputs: dict[str, str]            # signature output name -> tensor name in the file
    orientation: str                   # "auto" (the running estimate) or "fixed"
    orientation_slice: tuple[int, int] | None   # None when "fixed"
    network: str                       # "int8" (integer-only core inside) or "fp32"
    network_note: str | None = None    # why the network is fp32, when it is
    tflm_arena_bytes: int | None = None   # measured where tflite-micro is installed

    def to_dict(self) -> dict:
        return {"signature": self.signature, "hop": self.hop, "state_size": self.state_size,
                "inputs": dict(self.inputs), "outputs": dict(self.outputs),
                "orientation": self.orientation,
                "orientation_slice": (list(self.orientation_slice)
                                      if self.orientation_slice is not None else None),
                "network": self.network, "network_note": self.network_note,
                "tflm_arena_bytes": self.tflm_arena_bytes}

    @classmethod
    def from_dict(cls, d: dict | None) -> StreamInfo | None:
        if d is None:
            return None
        sl = d.get("orientation_slice")
        return cls(d["signature"], int(d["hop"]), int(d["state_size"]), dict(d["inputs"]),
                   dict(d["outputs"]), d["orientation"],
                   (int(sl[0]), int(sl[1])) if sl is not None else None, d["network"],
                   d.get("network_note"), d.get("tflm_arena_bytes"))


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
    io: FileIO | None = None          # None: the torch weights
    parity: Parity | None = None      # the INT8 .tflite only (runtime.parity)
    mcu: McuKit | None = None         # export --mcu: the INT8 .tflite (and the stream file)
    stream: StreamInfo | None = None  # model_stream.tflite only

    def to_dict(self) -> dict:
        return {"format": self.format, "precision": self.precision, "sha256": self.sha256,
                "parent": self.parent, "parent_sha256": self.parent_sha256,
                "test_accuracy": self.test_accuracy, "test_macro_f1": self.test_macro_f1,
                "size_bytes": self.size_bytes, "signatures": list(self.signatures),
                "io": self.io.to_dict() if self.io else None,
                "parity": self.parity.to_dict() if self.parity else None,
                "mcu": self.mcu.to_dict() if self.mcu else None,
                **({"stream": self.stream.to_dict()} if self.stream else {})}

    @classmethod
    def from_dict(cls, d: dict) -> FileEntry:
        return cls(d["format"], d["precision"], d["sha256"], d.get("parent"),
                   d.get("parent_sha256"), d.get("test_accuracy"), d.get("test_macro_f1"),
                   d.get("size_bytes"), list(d.get("signatures", [])),
                   FileIO.from_dict(d.get("io")), Parity.from_dict(d.get("parity")),
                   McuKit.from_dict(d.get("mcu")), StreamInfo.from_dict(d.get("stream")))


@dataclass
class Manifest:
    spec: WindowSpec
    normalization: Normalization
    model: ModelInfo | None = None
    files: dict[str, FileEntry] = field(default_factory=dict)
    calibration: Calibration | None = None
    quantization: Quantization | None = None
    metrics_split: str = "test"
    test_windows: int = 0
    complete: bool = True
    failure: str | None = None        # the one line that stopped an incomplete export
    exported_with: ExportedWith = field(default_factory=ExportedWith)
    budgets: Budgets = field(default_factory=Budgets)
    orientation: Orientation | None = None   # None for bundles that predate it
    # the data spec it was trained and scored on, subjects resolved (its classes, window and
    # hop are the window contract's); None for a lone model file's essentials
    dataset: DataSpec | None = None
    trained_on_val: bool = False      # its validation subjects trained it too (--select last)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.dataset is not None:
            self.dataset = replace(self.dataset, classes=self.spec.labels,
                                   window=self.spec.window, hop=self.spec.hop)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    def model_files(self) -> list[str]:
        """Window models a runtime can load (everything but the torch weights and the stream
        file, which takes raw samples: ``stream_file``), in export order."""
        return [n for n, f in self.files.items() if f.format != "torch" and f.stream is None]

    def stream_file(self) -> str | None:
        """``model_stream.tflite`` when the bundle has one."""
        return next((n for n, f in self.files.items() if f.stream is not None), None)

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

    def run_config(self, where=MANIFEST) -> RunConfig:
        """The facts of a training run's config that the bundle carries (model, labels,
        normalization, window contract, data spec, orientation): a bundle stands in for its
        run."""
        if self.model is None:
            raise EdgeharError(where, "the manifest names no model config")
        return RunConfig(self.model.name, self.model.config, self.normalization, self.spec,
                         self.dataset or DataSpec(), self.orientation, self.trained_on_val)

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
             "files": {n: f.to_dict() for n, f in self.files.items()},
             "calibration": self.calibration.to_dict() if self.calibration else None,
             "quantization": self.quantization.to_dict() if self.quantization else None,
             "metrics_split": self.metrics_split, "test_windows": self.test_windows,
             "complete": self.complete, "failure": self.failure,
             "exported_with": self.exported_with.to_dict(),
             "orientation": self.orientation.to_dict() if self.orientation else None,
             "dataset": ({k: v for k, v in self.dataset.to_dict().items()
                          if k not in ("classes", "window", "hop")}
                         if self.dataset is not None else None),
             "trained_on_val": self.trained_on_val}
        if self.budgets.to_dict():
            d["budgets"] = self.budgets.to_dict()
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
                calibration=Calibration.from_dict(d.get("calibration")),
                quantization=Quantization.from_dict(d.get("quantization")),
                metrics_split=d.get("metrics_split", "test"),
                test_windows=int(d.get("test_windows", 0)),
                complete=bool(d.get("complete", True)), failure=d.get("failure"),
                exported_with=ExportedWith.from_dict(d.get("exported_with")),
                budgets=Budgets.from_dict(d.get("budgets")),
                orientation=Orientation.from_dict(d.get("orientation")),
                dataset=_dataset_of(d),
                trained_on_val=bool(d.get("trained_on_val",
                                          (d.get("dataset") or {}).get("trained_on_val", False))),
                schema_version=version)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise EdgeharError(where, f"malformed manifest ({type(e).__name__}: {e})") from None

    def write(self, bundle: str | os.PathLike[str]) -> None:
        from .files import write_json

        write_json(os.path.join(bundle, MANIFEST), self.to_dict())


def _dataset_of(d: dict) -> DataSpec | None:
    """Schema 3: ``dataset``, source included. Schemas 1-2: the same, or only ``data_source``
    (their ``dataset.classes`` repeat the labels and are dropped)."""
    if d.get("dataset") is not None:
        return DataSpec.from_dict(d["dataset"])
    if d.get("data_source") is not None:
        return DataSpec(source=d["data_source"])
    return None


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
