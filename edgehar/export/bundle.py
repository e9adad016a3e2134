"""``edgehar export``: run dir -> bundle (ONNX/TFLite, FP32/INT8, manifest, chain, golden).

Every conversion is a row of ``formats.STEPS`` and goes through one wrapper, ``run_step``:
convert -> load -> validate -> score -> record. A step that fails ends the export the same way
whatever went wrong: its file is removed, the bundle's manifest says ``complete: false`` and
names the failure, and the files already written stay valid and listed.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..quantize.mcu import KIT_DIR, KIT_FILES
from ..report.html import render_report_html
from ..runtime.backends import Backend, Kernels, open_runner
from ..runtime.errors import EdgeharError
from ..runtime.files import atomic_path, sha256, write_json
from ..runtime.manifest import (
    Calibration,
    ExportedWith,
    FileEntry,
    Manifest,
    ModelInfo,
    Quantization,
)
from ..runtime.metrics import call_latency_ms
from ..runtime.model import Model
from ..runtime.parity import TOLERANCE_STEPS, output_steps
from ..runtime.quiet import silenced_fds
from ..runtime.run_config import RUN_CONFIG
from .chain import Chain, ChainRow
from .converters import INPUT_NAME, ConvertContext, onnx_metadata, validate
from .formats import (
    BATCHED_FILENAME,
    FILENAMES,
    OFFLINE_BATCH,
    STEPS,
    TORCH_FP32,
    Format,
    Step,
    steps_for,
)

FLOAT_ATOL = 1e-3   # max |logit diff| a float conversion may add (DESIGN: < 1e-3)
GOLDEN_WINDOWS = 8
BUNDLE_FILES = ("manifest.json", "report.json", "report.md", "report.html", "golden.npz")


@dataclass
class ExportOptions:
    int8: bool = False
    max_drop_pp: float = 1.0
    calib_windows: int = 512
    calib_seed: int = 0
    # Layers left in float inside the INT8 models: a diagnosis tool (which layer loses the
    # accuracy?). Any makes the INT8 files hybrids, not integer-only; none by default.
    float_modules: tuple[str, ...] = ()
    # Per-channel input clips folded into the normalization and the stem (quantize/input_scaling):
    # what makes an integer-only input tensor lossless. Off only to measure what it buys.
    input_scaling: bool = True
    mcu: bool = False                  # the microcontroller kit and a TFLM row in the chain
    float_atol: float = FLOAT_ATOL     # max |logit diff| of a float step against torch
    chain_split: str = "test"          # "val" to make quantization choices without test data
    formats: frozenset[Format] = frozenset({Format.ONNX, Format.TFLITE})
    source: str | None = None          # data source; default: the run's own
    max_test_windows: int | None = None  # tests only: score the chain on a slice


@dataclass
class ExportResult:
    bundle: Path
    chain: Chain
    manifest: Manifest

    @property
    def ok(self) -> bool:
        return not self.chain.failed


class ExportFailed(EdgeharError):
    """A conversion step failed (converter error, unloadable file, outputs off tolerance)."""

    exit_code = 1


_OP = re.compile(r"\b(?:aten|prims)\.[A-Za-z_0-9]+\.[A-Za-z_0-9]+")
# what converters say when an op has no lowering (other errors may name ops in passing)
_NO_LOWERING = ("Lowering not found", "Error when translating node", "not supported",
                "Only 1D FFT", "NotImplementedError", "no lowering", "Unsupported")


def unconverted_op(e: BaseException) -> str | None:
    """The torch op a converter could not lower, from its error or the errors it chains
    (litert-torch: "Lowering not found: aten.erfinv.default"; torch.onnx: "Error when
    translating node ... target=torch.ops.prims.erf_inv.default")."""
    seen = 0
    while e is not None and seen < 8:
        text = f"{type(e).__name__}: {e}"
        m = _OP.search(text)
        if m and any(k in text for k in _NO_LOWERING):
            return m.group(0)
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


class StepFailed(Exception):
    def __init__(self, step: Step, problem: str):
        self.step, self.problem = step, problem
        super().__init__(f"{step.name}: {problem}")


@contextlib.contextmanager
def quiet_converters():
    """The converters narrate every pass on stdout/stderr (torch.onnx, ONNX Runtime's
    calibrator, MLIR's C++ logs). Keep the export output to the chain; set EDGEHAR_VERBOSE=1
    to see them."""
    if os.environ.get("EDGEHAR_VERBOSE"):
        yield
        return
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf), silenced_fds((1, 2)):
        yield


def _io_details(runner, path: Path) -> dict:
    io = {t: {"name": i.name, "shape": list(i.shape), "dtype": i.dtype, "scale": i.scale,
              "zero_point": i.zero_point}
          for t, i in (("input", runner.input), ("output", runner.output))}
    if path.suffix == ".onnx":
        scale = _onnx_output_qdq_scale(path)
        if scale is not None:  # a QDQ graph dequantizes its int8 logits to float
            io["output"]["qdq_scale"] = scale
    return io


def _onnx_output_qdq_scale(path: Path) -> float | None:
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    out = g.output[0].name
    init = {t.name: t for t in g.initializer}
    for node in g.node:
        if out in node.output and node.op_type == "DequantizeLinear" and node.input[1] in init:
            return float(numpy_helper.to_array(init[node.input[1]]).reshape(-1)[0])
    return None


@dataclass
class _Export:
    """The state one export accumulates: the chain, golden tensors, file lineage."""

    out: Path
    opts: ExportOptions
    manifest: Manifest
    chain: Chain
    x_test: np.ndarray
    golden_x: np.ndarray
    golden: dict = field(default_factory=dict)
    sha_of: dict = field(default_factory=dict)
    analysis: list | None = None
    latency: dict = field(default_factory=dict)
    tflite_int8_logits: np.ndarray | None = None

    def run_step(self, step: Step, ctx: ConvertContext, log) -> ChainRow:
        """convert -> load -> validate -> score -> record; any failure raises StepFailed."""
        path = self.out / step.filename
        log(f"[{step.name}] converting -> {path.name}")
        try:
            with quiet_converters():
                step.convert(ctx, path)
            runner = open_runner(path)
            ref = self.chain.reference_logits[:GOLDEN_WINDOWS]
            validate(step.name, runner, self.golden_x, ref,
                     self.opts.float_atol if step.is_float else None)
            logits = runner(self.x_test)
            # An INT8 .tflite's golden outputs are TFLite's semantics: the reference kernels
            # (runtime.parity); the chain scores what devices run (LiteRT's default kernels).
            golden_runner = (open_runner(path, kernels=Kernels.REFERENCE)
                             if step.format is Format.TFLITE and not step.is_float else runner)
            golden = golden_runner(self.golden_x)
            # device_tests replays the shipped sample log and compares with what it gave here.
            starts, probs = sample_replay(Model(str(path), Backend.of(path), self.manifest,
                                                golden_runner))
            io_details = _io_details(runner, path)
        except Exception as e:  # every way a step can fail ends here, one line
            if path.exists():
                path.unlink()   # never leave an unlisted, unvalidated model in the bundle
            msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            if isinstance(e, EdgeharError):
                msg = e.problem
            op = unconverted_op(e)
            if op:   # the converter's own message rarely names the op on its first line
                msg = f"cannot convert op {op} ({msg})"
            raise StepFailed(step, f"{type(e).__name__}: {msg}") from e
        # recorded only now that every check passed: a failed step leaves no trace but the failure
        row = self.chain.add(step.name, step.filename, logits, step.previous, step.is_float)
        self.golden[step.name] = golden
        self.golden[f"sample_starts_{step.name}"], self.golden[f"sample_probs_{step.name}"] = \
            starts, probs
        self.latency[step.filename] = _latency_ms(runner, self.golden_x[:1])
        self.sha_of[step.name] = sha256(path)
        self.manifest.files[step.filename] = FileEntry(
            format=step.format.value, precision=step.precision.value, sha256=self.sha_of[step.name],
            parent=FILENAMES[step.parent], parent_sha256=self.sha_of[step.parent],
            test_accuracy=row.accuracy, test_macro_f1=row.macro_f1,
            size_bytes=path.stat().st_size, signatures=runner.signatures, io=io_details)
        log(f"[{step.name}] accuracy {100 * row.accuracy:.2f}%  drop {row.drop_vs_torch_pp:+.2f} pp"
            f"  agreement {100 * row.agreement_top1:.2f}%")
        if step.format is Format.TFLITE and not step.is_float:
            self.tflite_int8_logits = logits
            self.record_integer_only(path, log)
        return row

    def record_integer_only(self, path: Path, log) -> None:
        """Integer-only is read from the graph, not assumed: the quantizer leaves in float
        what it cannot quantize (an LSTM, unrolled into per-step ops, stays float)."""
        from .tflite_file import op_names, read_model, tensor_types

        model = read_model(path.read_bytes())
        types = tensor_types(model)
        floats = sum(n for t, n in types.items() if t.startswith("FLOAT"))
        self.manifest.quantization = replace(
            self.manifest.quantization, integer_only=floats == 0,
            tflite_int8_graph={"ops": len(op_names(model)), "tensor_types": types})
        if floats:
            log(f"[tflite_int8] not integer-only: {floats} of {sum(types.values())} tensors "
                "stay float (a hybrid: microcontrollers and int8 NPUs cannot run it)")

    def int8_parity(self, log) -> None:
        """Every kernel implementation of the INT8 .tflite against the reference kernels on
        the chain windows; with --mcu, TFLM too, as its own chain row."""
        name = FILENAMES["tflite_int8"]
        path, entry = self.out / name, self.manifest.files[name]
        scale = entry.io["output"]["scale"]
        if not scale:   # a float output (a --float-modules hybrid): steps are undefined
            return
        ref = open_runner(path, kernels=Kernels.REFERENCE)(self.x_test)
        outputs = {Kernels.DEFAULT: self.tflite_int8_logits,
                   Kernels.BUILTIN: open_runner(path, kernels=Kernels.BUILTIN)(self.x_test)}
        if self.opts.mcu:
            outputs[Kernels.TFLM] = open_runner(path, kernels=Kernels.TFLM)(self.x_test)
        entry.parity = {"reference": "LiteRT BUILTIN_REF", "windows": int(len(ref))}
        for k, y in outputs.items():
            entry.parity[k.value] = {
                "max_steps": int(output_steps(y, ref, scale).max()),
                "allowed_steps": TOLERANCE_STEPS[k.value],
                "top1_agreement": float((y.argmax(1) == ref.argmax(1)).mean())}
        if self.opts.mcu:
            row = self.chain.add("tflm_int8", name, outputs[Kernels.TFLM], "tflite_int8", False)
            agree = float((outputs[Kernels.TFLM].argmax(1)
                           == self.tflite_int8_logits.argmax(1)).mean())
            entry.parity["tflm"]["top1_agreement_vs_litert"] = agree
            log(f"[tflm_int8] accuracy {100 * row.accuracy:.2f}%  drop "
                f"{row.drop_vs_torch_pp:+.2f} pp  agreement with LiteRT {100 * agree:.2f}%")
        worst = {k: v["max_steps"] for k, v in entry.parity.items() if isinstance(v, dict)}
        log(f"[parity] max output steps from the reference kernels: {worst}")
        over = [k for k, v in entry.parity.items()
                if isinstance(v, dict) and v["max_steps"] > v["allowed_steps"]]
        if over:   # device_tests would fail on such a device: say so now
            log(f"[parity] WARNING: beyond the allowed steps (runtime/parity.py): {over}")

    def batched_file(self, log) -> None:
        """model_int8_b64.tflite for offline replay, kept only if every chain window's output
        equals the batch-1 file's, bit for bit. A graph that fixes batch 1 in its constants
        (the reshapes of an unrolled LSTM) gets none: offline replay then runs batch 1."""
        from .tflite_file import with_batch

        name = FILENAMES["tflite_int8"]
        path = self.out / BATCHED_FILENAME
        with atomic_path(path) as tmp:
            tmp.write_bytes(with_batch((self.out / name).read_bytes(), OFFLINE_BATCH))
        try:
            runner = open_runner(path)
            outputs = runner(self.x_test)
            why = None if np.array_equal(outputs, self.tflite_int8_logits) else \
                f"its outputs differ from {name}'s"
        except (EdgeharError, RuntimeError, ValueError) as e:
            why = e.problem if isinstance(e, EdgeharError) else str(e).splitlines()[0][:160]
        if why:   # optional: offline replay then runs the batch-1 file
            path.unlink()
            log(f"[batched] none: a batch of {OFFLINE_BATCH} {why}; offline replay runs batch 1")
            return
        self.manifest.files[BATCHED_FILENAME] = FileEntry(
            format="tflite", precision="int8", sha256=sha256(path), parent=name,
            parent_sha256=self.sha_of["tflite_int8"],
            test_accuracy=self.manifest.files[name].test_accuracy,
            test_macro_f1=self.manifest.files[name].test_macro_f1,
            size_bytes=path.stat().st_size, signatures=runner.signatures,
            io=_io_details(runner, path))
        log(f"[batched] {BATCHED_FILENAME}: batch {OFFLINE_BATCH}, outputs identical to {name}")

    def mcu_kit(self, log) -> None:
        from ..quantize.mcu import arena_bytes, write_kit

        name = FILENAMES["tflite_int8"]
        if not self.manifest.quantization.integer_only:
            raise EdgeharError(self.out / name, "--mcu needs an integer-only model; this one "
                                                "keeps float tensors (see quantization in "
                                                "manifest.json)")
        entry = self.manifest.files[name]
        arena = arena_bytes((self.out / name).read_bytes())
        entry.mcu = write_kit(self.out, name, arena, entry.io, self.manifest.labels)
        log(f"[mcu] {KIT_DIR}/model_int8.h, .cc, ops.txt: {len(entry.mcu['ops'])} ops, "
            f"TFLM arena {arena:,} bytes")

    def write(self) -> None:
        """manifest.json, report.json/.md and golden.npz, each atomically."""
        self.manifest.write(self.out)
        report = {"max_drop_pp": self.opts.max_drop_pp, "split": self.opts.chain_split,
                  "test_windows": int(len(self.chain.y_true)),
                  "chain": self.chain.to_json(), "failed_steps": [r.step for r in self.chain.failed],
                  "int8_layer_sqnr": self.analysis, "files": sorted(self.manifest.files),
                  "complete": self.manifest.complete, "failure": self.manifest.failure,
                  "latency_ms": self.latency}
        write_json(self.out / "report.json", report)
        with atomic_path(self.out / "report.md") as tmp:
            tmp.write_text(render_report_md(self.manifest, report, self.chain))
        with atomic_path(self.out / "report.html") as tmp:
            tmp.write_text(render_report_html(self.manifest, report))
        with atomic_path(self.out / "golden.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **self.golden)


def export_bundle(run_dir: Path, out: Path, opts: ExportOptions, log=print) -> ExportResult:
    from ..data.windows import cap_windows, dataset_of_run
    from ..quantize.calibration import CalibrationSet
    from ..quantize.input_scaling import foldable
    from ..train.checkpoint import load_run, predict_logits
    from ..train.models import count_macs, count_params

    run_dir, out = Path(run_dir), Path(out)
    if opts.mcu:
        _check_mcu(opts)
    model, norm, config = load_run(run_dir)
    if opts.chain_split == "val" and config.trained_on_val:
        raise EdgeharError(run_dir, "--chain-split val: this run trained on its validation "
                                    "subjects (--select last); use the test split")
    spec = config.spec
    dataset = dataset_of_run(config.data, opts.source)
    splits = dataset.splits
    train = splits["train"]
    folded = False
    if opts.input_scaling and norm.input_clip is None and foldable(model):
        from ..quantize.input_scaling import choose_clips, fold_input_clips

        if (run_dir / RUN_CONFIG).is_file() and \
                (run_dir / TORCH_FP32.filename).resolve() == (out / TORCH_FP32.filename).resolve():
            raise EdgeharError(out, "export into the training run itself would replace its "
                                    "weights with the bundle's; give --out another directory")

        draw = CalibrationSet.draw(norm.apply(train.x), train.y, opts.calib_windows,
                                   opts.calib_seed)
        model, norm = fold_input_clips(model, norm, choose_clips(model, draw.windows))
        folded = True
        log("[input] per-channel clips (std): "
            + " ".join(f"{c:.2f}" for c in norm.input_clip))
    out.mkdir(parents=True, exist_ok=True)
    test = cap_windows(splits[opts.chain_split], opts.max_test_windows, 0)
    x_test = norm.apply(test.x)
    x_train = norm.apply(train.x)
    if norm.input_clip is not None:
        x_train = np.clip(x_train, -1.0, 1.0)   # calibrate on what the int8 input can hold
    calib = CalibrationSet.draw(x_train, train.y, opts.calib_windows, opts.calib_seed)

    for stale in [*(out / st.filename for st in STEPS), *(out / n for n in BUNDLE_FILES),
                  out / BATCHED_FILENAME,
                  *(out / KIT_DIR / n for n in KIT_FILES)]:
        stale.unlink(missing_ok=True)   # an earlier export's files must not outlive its manifest
    if folded:  # the bundle's weights are the folded ones, matching its normalization
        import torch

        buf = io.BytesIO()   # through memory: torch.save names the zip after its file
        torch.save(model.state_dict(), buf)
        with atomic_path(out / TORCH_FP32.filename) as tmp:
            tmp.write_bytes(buf.getvalue())
    elif (run_dir / TORCH_FP32.filename).resolve() != (out / TORCH_FP32.filename).resolve():
        shutil.copyfile(run_dir / TORCH_FP32.filename, out / TORCH_FP32.filename)
    ref = predict_logits(model, x_test)
    chain = Chain(test.y, ref, opts.max_drop_pp, spec.labels)
    torch_row = chain.add(TORCH_FP32.name, TORCH_FP32.filename, ref, "", True)
    manifest = Manifest(
        spec=spec, normalization=norm,
        model=ModelInfo(config.model, config.model_config, count_params(model),
                        count_macs(model)),
        calibration=Calibration(len(calib), calib.seed, "train subjects, class-balanced"),
        quantization=Quantization(
            float_modules=tuple(opts.float_modules),
            onnx_int8="ONNX Runtime static QDQ: per-channel symmetric int8 weights, "
                      "uint8 activations, Percentile 99.999 calibration",
            tflite_int8="litert-torch PT2E: per-channel symmetric int8 weights, "
                        "int8 activations (histogram observers), int8 input and output",
            integer_only=None,   # read from the INT8 .tflite's graph once it exists
            input_scaling=("per-channel clips folded into normalization.std and the stem "
                           "(normalization.input_clip)" if norm.input_clip else None)),
        metrics_split=opts.chain_split, test_windows=int(len(test.y)),
        complete=False, exported_with=ExportedWith(platform.python_version()),
        dataset=replace(dataset.spec, test_subjects=tuple(dataset.subjects["test"]),
                        val_subjects=tuple(dataset.subjects["val"])),
        trained_on_val=config.trained_on_val, orientation=config.orientation)
    sha = sha256(out / TORCH_FP32.filename)
    manifest.files[TORCH_FP32.filename] = FileEntry(
        "torch", "fp32", sha, test_accuracy=torch_row.accuracy, test_macro_f1=torch_row.macro_f1,
        size_bytes=(out / TORCH_FP32.filename).stat().st_size)
    state = _Export(out, opts, manifest, chain, x_test, x_test[:GOLDEN_WINDOWS],
                    golden={"inputs_normalized": x_test[:GOLDEN_WINDOWS],
                            "torch_fp32": ref[:GOLDEN_WINDOWS]},
                    sha_of={TORCH_FP32.name: sha})
    ctx = ConvertContext(model, out, calib, onnx_metadata(manifest.essentials()),
                         opts.float_modules, _tflite_description(manifest))
    for step in steps_for(set(opts.formats), opts.int8):
        try:
            row = state.run_step(step, ctx, log)
        except StepFailed as e:
            manifest.failure = str(e)
            state.write()
            raise ExportFailed(out, f"export incomplete: {e}; valid files: "
                                    f"{', '.join(manifest.files)} (listed in manifest.json)") from None
        if not row.passed and not step.is_float and state.analysis is None \
                and (out / "model_int8.onnx").exists():
            # Either INT8 step over the limit: show where the quantized graph loses signal.
            state.analysis = _sqnr(out, calib, log)
    if state.tflite_int8_logits is not None:
        try:
            state.batched_file(log)
            state.int8_parity(log)
            if opts.mcu:
                state.mcu_kit(log)
        except Exception as e:  # after the steps, fails the same way: manifest says so
            msg = e.problem if isinstance(e, EdgeharError) else (
                str(e).splitlines()[0][:200] if str(e) else type(e).__name__)
            manifest.failure = f"{type(e).__name__}: {msg}"
            state.write()
            raise ExportFailed(out, f"export incomplete: {manifest.failure}; valid files: "
                                    f"{', '.join(manifest.files)} (listed in manifest.json)") from None
    if not opts.mcu and (out / KIT_DIR).is_dir() and not any((out / KIT_DIR).iterdir()):
        (out / KIT_DIR).rmdir()   # an earlier --mcu export's kit is gone: its folder too
    manifest.complete = True
    state.write()
    return ExportResult(out, chain, manifest)


def _check_mcu(opts: ExportOptions) -> None:
    import importlib.util

    if Format.TFLITE not in opts.formats or not opts.int8:
        raise EdgeharError(None, "--mcu needs the INT8 tflite model (--formats with tflite)")
    if opts.float_modules:
        raise EdgeharError(None, "--mcu needs an integer-only model: drop --float-modules")
    if importlib.util.find_spec("tflite_micro") is None:
        raise EdgeharError(None, "--mcu measures the arena with TFLM's interpreter: "
                                 "pip install tflite-micro (x86-64 hosts)")


def _tflite_description(m: Manifest):
    from .tflite_metadata import ModelDescription

    spec = m.spec
    return ModelDescription(
        name=f"edgehar {m.model.name}",
        description=(f"Human activity recognition from one {spec.window / spec.sample_rate:.2f} s "
                     f"window of phone accelerometer + gyroscope ({len(m.labels)} classes). "
                     "Preprocessing (filters, gravity split) as in the bundle's manifest.json."),
        version=f"edgehar bundle schema {m.schema_version}",
        labels=tuple(m.labels),
        input_name="window",
        input_description=(f"[1, {spec.window}, {len(spec.channels)}]: "
                           f"{', '.join(spec.channels)} at {spec.sample_rate} Hz, each normalized "
                           "(x - mean) / std with the NormalizationOptions below"),
        mean=tuple(m.normalization.mean), std=tuple(m.normalization.std),
        output_name="logits",
        output_description="one logit per class in labels.txt order; softmax for probabilities")


def quantize_bundle(bundle: Path, opts: ExportOptions, log=print) -> ExportResult:
    """The INT8 half of ``export --int8`` on a bundle exported without it: from the bundle's
    own weights, data spec and chain split, for the formats it holds. The float steps run
    again so the chain is scored in one pass (they come out byte-identical)."""
    from ..runtime.manifest import read_manifest

    m = read_manifest(bundle)
    if TORCH_FP32.filename not in m.files or not (Path(bundle) / TORCH_FP32.filename).is_file():
        raise EdgeharError(bundle, f"no {TORCH_FP32.filename} to quantize from (export the run "
                                   "into a bundle first)")
    formats = frozenset(Format(e.format) for e in m.files.values() if e.format != "torch")
    opts = replace(opts, int8=True, formats=formats or opts.formats,
                   chain_split=m.metrics_split)
    return export_bundle(Path(bundle), Path(bundle), opts, log)


def _latency_ms(runner, x: np.ndarray) -> dict:
    """Single-window latency on the export machine (a rough figure; `edgehar bench` times it
    properly, interleaved against torch)."""
    lat = call_latency_ms(lambda: runner(x), warmup=10)
    return {k: round(v, 4) for k, v in lat.items()}


def sample_replay(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Window starts and probabilities of the shipped sample log through the runtime."""
    from ..runtime.assets import SAMPLE_LOG
    from ..runtime.engine import StreamEngine
    from ..runtime.logs import open_log

    engine = StreamEngine(model, orientation="fixed")   # the model and backend, nothing else
    starts, probs = [], []
    for chunk in open_log(SAMPLE_LOG):
        p = engine.push(chunk.samples)
        starts.append(p.starts)
        probs.append(p.probs)
    return np.concatenate(starts), np.concatenate(probs)


def _sqnr(out: Path, calib, log) -> list[dict] | None:
    from ..quantize.debug import onnx_layer_sqnr

    try:
        with quiet_converters():
            return onnx_layer_sqnr(out / "model_fp32.onnx", out / "model_int8.onnx", calib,
                                   INPUT_NAME)
    except Exception as e:  # the analysis explains a failure; it must not become one
        log(f"[sqnr] analysis skipped: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
        return None


def render_report_md(manifest: Manifest, report: dict, chain: Chain) -> str:
    m = manifest.model
    lines = [
        f"# Export report: {m.name}",
        "",
        f"{m.params:,} parameters, {m.macs / 1e6:.2f} M MACs per window. Scored on "
        f"{report['test_windows']} {report['split']}-subject windows; max drop {report['max_drop_pp']} pp.",
        "",
        chain.table(),
        "",
    ]
    if not manifest.complete:
        lines += [f"**Incomplete export:** {manifest.failure}", ""]
    if report["failed_steps"]:
        lines += [f"**Failed:** {', '.join(report['failed_steps'])} exceeded the max drop.", ""]
    if report["int8_layer_sqnr"]:
        lines += ["## Where INT8 loses accuracy (ONNX QDQ graph, lowest SQNR first)", "",
                  "| tensor | SQNR vs float (dB) | SQNR across its own QDQ (dB) |", "|---|---|---|"]
        lines += [f"| {r['tensor']} | {r['sqnr_db']:.1f} | {r['qdq_sqnr_db']:.1f} |"
                  for r in report["int8_layer_sqnr"]]
        lines.append("")
    lines += ["## Files", "", "| file | format | precision | size | sha256 | converted from |",
              "|---|---|---|---|---|---|"]
    for name, f in manifest.files.items():
        lines.append(f"| {name} | {f.format} | {f.precision} | "
                     f"{f.size_bytes or '-'} | {f.sha256[:12]} | {f.parent or '-'} |")
    return "\n".join(lines) + "\n"


__all__ = ["ExportFailed", "ExportOptions", "ExportResult", "export_bundle", "quantize_bundle",
           "STEPS"]
