"""The export as a table of steps, run through one wrapper (STYLE.md point 13).

Every row of ``STEPS`` (the conversions, the batched file, the INT8 parity check, the MCU kit)
goes through ``run_step``: it times the row's function and turns whatever goes wrong in it (a
converter error, an unloadable file, outputs off a tolerance) into one ``StepFailed``, after
removing the files the row started. The export then ends the same way whichever row failed: the
manifest says ``complete: false`` and names it, and the files already written stay valid and
listed. A new artifact is a new row.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..quantize.mcu import KIT_DIR, KIT_FILES, STREAM_FILES
from ..runtime.backends import Backend, Kernels, open_runner
from ..runtime.errors import EdgeharError, one_line
from ..runtime.files import atomic_path, sha256
from ..runtime.manifest import (
    FileEntry,
    FileIO,
    KernelParity,
    Manifest,
    Parity,
    TensorIO,
)
from ..runtime.metrics import call_latency_ms
from ..runtime.model import Model
from ..runtime.parity import TOLERANCE_STEPS, output_steps
from ..runtime.quiet import silenced_fds
from ..runtime.stream_file import STREAM_FILENAME
from . import converters
from .chain import Chain, ChainRow
from .converters import INPUT_NAME, ConvertContext, ValidationError, validate
from .formats import BATCHED_FILENAME, OFFLINE_BATCH, TORCH_FP32, Format, Precision, Step
from .options import ExportOptions

GOLDEN_WINDOWS = 64    # enough that a microcontroller port can check itself on them


@dataclass
class Export:
    """The state one export accumulates as its rows run: the chain, golden tensors, lineage."""

    out: Path
    opts: ExportOptions
    manifest: Manifest
    chain: Chain
    ctx: ConvertContext
    x_test: np.ndarray
    golden: dict = field(default_factory=dict)
    sha_of: dict = field(default_factory=dict)
    analysis: list | None = None
    latency: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    tflite_int8_logits: np.ndarray | None = None
    notes: dict = field(default_factory=dict)   # rows that made no file, and why
    stream_parity: dict | None = None

    @property
    def golden_x(self) -> np.ndarray:
        return self.x_test[:GOLDEN_WINDOWS]


class StepFailed(Exception):
    def __init__(self, step: Step, problem: str):
        self.step, self.problem = step, problem
        super().__init__(f"{step.name}: {problem}")


def run_step(ex: Export, step: Step, log) -> None:
    """Run one row: time it; on any failure remove its files (never leave an unlisted,
    unvalidated file in the bundle) and raise StepFailed with one line."""
    t0 = time.perf_counter()
    try:
        step.run(ex, step, log)
    except Exception as e:  # every way a step can fail ends here, one line
        for name in step.files:
            (ex.out / name).unlink(missing_ok=True)
            ex.manifest.files.pop(name, None)
        msg = one_line(e, 200)
        op = unconverted_op(e)
        if op:   # the converter's own message rarely names the op on its first line
            msg = f"cannot convert op {op} ({msg})"
        raise StepFailed(step, f"{type(e).__name__}: {msg}") from e
    ex.seconds[step.name] = round(time.perf_counter() - t0, 3)


# --- the rows' functions: (export, step, log) -> None


def convert_model(ex: Export, step: Step, log) -> None:
    """convert -> load -> validate -> score -> record."""
    path = ex.out / step.filename
    log(f"[{step.name}] converting -> {path.name}")
    with quiet_converters():
        step.convert(ex.ctx, path)
    runner = open_runner(path)
    ref = ex.chain.reference_logits[:GOLDEN_WINDOWS]
    validate(step.name, runner, ex.golden_x, ref, ex.opts.float_atol if step.is_float else None)
    logits = runner(ex.x_test)
    int8_tflite = step.format is Format.TFLITE and not step.is_float
    # An INT8 .tflite's golden outputs are TFLite's semantics: the reference kernels
    # (runtime.parity); the chain scores what devices run (LiteRT's default kernels).
    golden_runner = open_runner(path, kernels=Kernels.REFERENCE) if int8_tflite else runner
    golden = golden_runner(ex.golden_x)
    # device_tests replays the shipped sample log and compares with what it gave here.
    starts, probs = sample_replay(Model(str(path), Backend.of(path), ex.manifest, golden_runner))
    io_details = _io_details(runner, path)
    graph = _int8_graph(path, log) if int8_tflite else None
    # recorded only now that every check passed: a failed step leaves no trace but the failure
    row = ex.chain.add(step.name, step.filename, logits, step.previous, step.is_float)
    ex.golden[step.name] = golden
    if int8_tflite and golden_runner.input.quantized:   # the integer-only file's own tensors
        q_in = golden_runner.input.quantize(np.array(ex.golden_x, np.float32))
        ex.golden[f"{step.name}_input_int8"] = q_in
        ex.golden[f"{step.name}_output_int8"] = golden_runner.run_raw(q_in)
    ex.golden[f"sample_starts_{step.name}"], ex.golden[f"sample_probs_{step.name}"] = \
        starts, probs
    ex.latency[step.filename] = _latency_ms(runner, ex.golden_x[:1])
    ex.sha_of[step.name] = sha256(path)
    ex.manifest.files[step.filename] = FileEntry(
        format=step.format.value, precision=step.precision.value, sha256=ex.sha_of[step.name],
        parent=FILENAMES[step.parent], parent_sha256=ex.sha_of[step.parent],
        test_accuracy=row.accuracy, test_macro_f1=row.macro_f1,
        size_bytes=path.stat().st_size, signatures=runner.signatures, io=io_details)
    log(f"[{step.name}] accuracy {100 * row.accuracy:.2f}%  drop {row.drop_vs_torch_pp:+.2f} pp"
        f"  agreement {100 * row.agreement_top1:.2f}%")
    if int8_tflite:
        ex.tflite_int8_logits = logits
        ex.manifest.quantization = replace(
            ex.manifest.quantization, integer_only=graph["floats"] == 0,
            tflite_int8_graph={"ops": graph["ops"], "tensor_types": graph["tensor_types"]})
    _explain_int8_drop(ex, step, row, log)


def batched_file(ex: Export, step: Step, log) -> None:
    """model_int8_b64.tflite for offline replay, kept only if every chain window's output
    equals the batch-1 file's, bit for bit. A graph that fixes batch 1 in its constants
    (the reshapes of an unrolled LSTM) gets none: offline replay then runs batch 1."""
    from ..quantize.tflite_file import with_batch

    name = FILENAMES[step.parent]
    path = ex.out / step.filename
    with atomic_path(path) as tmp:
        tmp.write_bytes(with_batch((ex.out / name).read_bytes(), OFFLINE_BATCH))
    try:
        runner = open_runner(path)
        outputs = runner(ex.x_test)
        why = None if np.array_equal(outputs, ex.tflite_int8_logits) else \
            f"its outputs differ from {name}'s"
    except (EdgeharError, RuntimeError, ValueError) as e:
        why = one_line(e, 160)
    if why:   # optional: offline replay then runs the batch-1 file
        path.unlink()
        log(f"[batched] none: a batch of {OFFLINE_BATCH} {why}; offline replay runs batch 1")
        return
    ex.manifest.files[step.filename] = FileEntry(
        format="tflite", precision="int8", sha256=sha256(path), parent=name,
        parent_sha256=ex.sha_of[step.parent],
        test_accuracy=ex.manifest.files[name].test_accuracy,
        test_macro_f1=ex.manifest.files[name].test_macro_f1,
        size_bytes=path.stat().st_size, signatures=runner.signatures,
        io=_io_details(runner, path))
    log(f"[batched] {step.filename}: batch {OFFLINE_BATCH}, outputs identical to {name}")


def int8_parity(ex: Export, step: Step, log) -> None:
    """Every kernel implementation of the INT8 .tflite against the reference kernels on the
    chain windows (with --mcu, TFLM too, as its own chain row). Beyond the allowed steps
    (runtime/parity.py) is a failed tolerance: device_tests would fail on such a device."""
    name = FILENAMES["tflite_int8"]
    path, entry = ex.out / name, ex.manifest.files[name]
    scale = entry.io.output.scale
    if not scale:   # a float output (a --float-modules hybrid): steps are undefined
        return
    ref = open_runner(path, kernels=Kernels.REFERENCE)(ex.x_test)
    outputs = {Kernels.DEFAULT: ex.tflite_int8_logits,
               Kernels.BUILTIN: open_runner(path, kernels=Kernels.BUILTIN)(ex.x_test)}
    if ex.opts.mcu:
        outputs[Kernels.TFLM] = open_runner(path, kernels=Kernels.TFLM)(ex.x_test)
    kernels = {}
    for k, y in outputs.items():
        kernels[k.value] = KernelParity(
            max_steps=int(output_steps(y, ref, scale).max()),
            allowed_steps=TOLERANCE_STEPS[k.value],
            top1_agreement=float((y.argmax(1) == ref.argmax(1)).mean()))
    if ex.opts.mcu:
        row = ex.chain.add("tflm_int8", name, outputs[Kernels.TFLM], "tflite_int8", False)
        agree = float((outputs[Kernels.TFLM].argmax(1) == ex.tflite_int8_logits.argmax(1)).mean())
        kernels["tflm"] = replace(kernels["tflm"], top1_agreement_vs_litert=agree)
        log(f"[tflm_int8] accuracy {100 * row.accuracy:.2f}%  drop "
            f"{row.drop_vs_torch_pp:+.2f} pp  agreement with LiteRT {100 * agree:.2f}%")
    entry.parity = Parity("LiteRT BUILTIN_REF", int(len(ref)), kernels)
    worst = {k: p.max_steps for k, p in kernels.items()}
    log(f"[parity] max output steps from the reference kernels: {worst}")
    over = {k: p for k, p in kernels.items() if not p.within}
    if over:
        raise ValidationError(f"{name}: " + ", ".join(
            f"{k} kernels {p.max_steps} output steps from the reference, "
            f"{p.allowed_steps} allowed" for k, p in over.items()) + " (runtime/parity.py)")


def mcu_kit(ex: Export, step: Step, log) -> None:
    from ..quantize.mcu import arena_bytes, write_kit, write_stream_kit

    name = FILENAMES["tflite_int8"]
    if not ex.manifest.quantization.integer_only:
        raise EdgeharError(ex.out / name, "--mcu needs an integer-only model; this one keeps "
                                          "float tensors (see quantization in manifest.json)")
    entry = ex.manifest.files[name]
    arena = arena_bytes((ex.out / name).read_bytes())
    entry.mcu = write_kit(ex.out, name, arena, entry.io, ex.manifest.labels)
    log(f"[mcu] {KIT_DIR}/model_int8.h, .cc, ops.txt: {len(entry.mcu.ops)} ops, "
        f"TFLM arena {arena:,} bytes")
    stream = ex.manifest.files.get(STREAM_FILENAME)
    if stream is not None and stream.stream is not None and stream.stream.tflm_arena_bytes:
        # the whole pipe, as a second array (when TFLM ran it: its arena was measured)
        stream.mcu = write_stream_kit(ex.out, STREAM_FILENAME, stream.stream.tflm_arena_bytes,
                                      stream.stream.orientation_slice)
        log(f"[mcu] {', '.join(stream.mcu.files)}: {len(stream.mcu.ops)} ops, TFLM arena "
            f"{stream.mcu.arena_bytes:,} bytes")


def _golden_stream(ex: Export, path: Path, info) -> None:
    """golden.npz: the shipped sample recording as the stream file's input, hop by hop (raw
    samples, g and rad/s), and each step's ``probs``/``ready`` from LiteRT's reference kernels,
    for device_tests and ports (a fresh all-zero state at step 0)."""
    from ..runtime.assets import SAMPLE_LOG
    from ..runtime.logs import open_log
    from ..runtime.stream_file import StreamFile

    raw = np.concatenate([c.samples for c in open_log(SAMPLE_LOG)]).astype(np.float32)
    hops = raw[:len(raw) // info.hop * info.hop].reshape(-1, info.hop, 6)
    ref = StreamFile(path, info, kernels="reference")
    steps = [ref.step(h) for h in hops]
    ex.golden["stream_samples"] = hops
    ex.golden["stream_probs"] = np.stack([p for p, _ in steps]).astype(np.float32)
    ex.golden["stream_ready"] = np.array([r for _, r in steps], np.bool_)


def stream_file(ex: Export, step: Step, log) -> None:
    """model_stream.tflite (DESIGN.md "Streaming model"): built, then every test recording
    stepped through it hop by hop and through the Python runtime (``running``, the INT8 file)
    on the same windows. Chain row: its accuracy there, the drop against the INT8 file's on
    those windows added to the INT8 file's drop against torch. Parity: a top-1 difference
    outside the tie gap (runtime/parity.py REPLAY_STEPS) fails the row."""
    from ..runtime.orientation import UCI_VERTICAL
    from ..runtime.stream_file import StreamFile
    from .stream_check import accuracies, parity_of, side_by_side, split_recordings
    from .stream_model import NotStreamable, build_stream_file, check_streamable

    m = ex.manifest
    try:
        check_streamable(m.spec)
    except NotStreamable as e:
        ex.notes[step.name] = str(e)
        log(f"[{step.name}] none: {e}")
        return
    int8_name = FILENAMES["tflite_int8"]
    entry = m.files[int8_name]
    path = ex.out / step.filename
    vertical = tuple(m.orientation.vertical) if m.orientation is not None else UCI_VERTICAL
    log(f"[{step.name}] converting -> {path.name}")
    with quiet_converters():
        info = build_stream_file(path, ex.ctx.model, m.normalization, m.spec, ex.ctx.calib,
                                 entry.io.input, vertical, ex.ctx.float_modules,
                                 quantized=ex.ctx.quantized)
    if info.network_note:
        log(f"[{step.name}] FP32 network: {info.network_note}")
    subjects = m.dataset.val_subjects if ex.opts.chain_split == "val" else m.dataset.test_subjects
    recs = split_recordings(replace(m.dataset, source=ex.opts.source or m.dataset.source),
                            subjects)
    if ex.opts.max_test_windows is not None:   # tests: one recording
        recs = recs[:1]
    stream = StreamFile(path, info)
    model = Model(str(ex.out / int8_name), Backend.TFLITE, m, open_runner(ex.out / int8_name))
    rows = [side_by_side(stream, model, "running", r.raw, r.labels, len(m.labels)) for r in recs]
    parity = parity_of(rows, entry.io.output.scale)
    acc, ref = accuracies(rows, m.labels)
    int8_row = next(r for r in ex.chain.rows if r.step == "tflite_int8")
    drop = round(100 * (ref["accuracy"] - acc["accuracy"]), 4)
    row = ChainRow(step.name, step.filename, acc["accuracy"], acc["macro_f1"],
                   round(int8_row.drop_vs_torch_pp + drop, 4), drop, "tflite_int8 (running)",
                   parity.top1_agreement, None, confusion=acc["confusion"])
    row.passed = row.drop_vs_torch_pp <= ex.opts.max_drop_pp + 1e-9
    ex.chain.rows.append(row)
    ex.stream_parity = {**parity.to_dict(), "recordings": len(recs),
                        "scored_windows": int(sum((r.truth >= 0).sum() for r in rows)),
                        "int8_running_accuracy": ref["accuracy"], "orientation": "running"}
    _golden_stream(ex, path, info)
    ex.sha_of[step.name] = sha256(path)
    m.files[step.filename] = FileEntry(
        format="tflite", precision=info.network, sha256=ex.sha_of[step.name],
        parent=FILENAMES["torch_fp32"], parent_sha256=ex.sha_of["torch_fp32"],
        test_accuracy=acc["accuracy"], test_macro_f1=acc["macro_f1"],
        size_bytes=path.stat().st_size, signatures=[info.signature], stream=info)
    log(f"[{step.name}] accuracy {100 * acc['accuracy']:.2f}% on {len(recs)} recordings (INT8 "
        f"file, running: {100 * ref['accuracy']:.2f}%)  agreement "
        f"{100 * parity.top1_agreement:.2f}%  max |prob diff| {parity.max_abs_prob_diff:.2g}")
    if parity.flips_outside_ties:
        raise ValidationError(f"{step.filename}: {parity.flips_outside_ties} windows change "
                              f"label against the Python runtime outside the tie gap "
                              f"{parity.tie_gap:.3f} (runtime/parity.py)")


def _int8_tflite(opts: ExportOptions) -> bool:
    return Format.TFLITE in opts.formats and opts.int8


STEPS: tuple[Step, ...] = (
    Step("onnx_fp32", convert_model, "model_fp32.onnx", Format.ONNX, Precision.FP32,
         "torch_fp32", "torch_fp32", converters.onnx_fp32),
    Step("onnx_int8", convert_model, "model_int8.onnx", Format.ONNX, Precision.INT8,
         "onnx_fp32", "onnx_fp32", converters.onnx_int8),
    Step("tflite_fp32", convert_model, "model_fp32.tflite", Format.TFLITE, Precision.FP32,
         "torch_fp32", "torch_fp32", converters.tflite_fp32),
    # PT2E quantizes the torch graph, so the INT8 .tflite's parent file is the torch weights;
    # in the chain it is compared against TFLite FP32, the step before it.
    Step("tflite_int8", convert_model, "model_int8.tflite", Format.TFLITE, Precision.INT8,
         "torch_fp32", "tflite_fp32", converters.tflite_int8),
    Step("batched", batched_file, BATCHED_FILENAME, Format.TFLITE, Precision.INT8,
         parent="tflite_int8"),
    # the whole pipe from raw samples (its network: the INT8 file's quantization)
    Step("tflite_stream", stream_file, STREAM_FILENAME, Format.TFLITE, Precision.INT8,
         "torch_fp32", "tflite_int8", when=_int8_tflite),
    Step("mcu", mcu_kit, other_files=tuple(f"{KIT_DIR}/{n}" for n in KIT_FILES + STREAM_FILES),
         when=lambda opts: opts.mcu),
    # last: a parity excess fails the export with every file written (and listed)
    Step("int8_parity", int8_parity, when=_int8_tflite),
)
FILENAMES = {s.name: s.filename for s in (TORCH_FP32, *STEPS) if s.filename}


def steps_for(opts: ExportOptions) -> list[Step]:
    return [s for s in STEPS if s.wanted(opts)]


# --- helpers of the rows


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


def _int8_graph(path: Path, log) -> dict:
    """Integer-only is read from the graph, not assumed: the quantizer leaves in float
    what it cannot quantize (an LSTM, unrolled into per-step ops, stays float)."""
    from ..quantize.tflite_file import op_names, read_model, tensor_types

    model = read_model(path.read_bytes())
    types = tensor_types(model)
    floats = sum(n for t, n in types.items() if t.startswith("FLOAT"))
    if floats:
        log(f"[tflite_int8] not integer-only: {floats} of {sum(types.values())} tensors "
            "stay float (a hybrid: microcontrollers and int8 NPUs cannot run it)")
    return {"floats": floats, "ops": len(op_names(model)), "tensor_types": types}


def _explain_int8_drop(ex: Export, step: Step, row: ChainRow, log) -> None:
    """Either INT8 step over the max drop: show where the quantized graph loses signal
    (per-layer SQNR of the ONNX QDQ graph, STYLE.md point 5), once."""
    if row.passed or step.is_float or ex.analysis is not None \
            or not (ex.out / "model_int8.onnx").exists():
        return
    from ..quantize.debug import onnx_layer_sqnr

    try:
        with quiet_converters():
            ex.analysis = onnx_layer_sqnr(ex.out / "model_fp32.onnx", ex.out / "model_int8.onnx",
                                          ex.ctx.calib, INPUT_NAME)
    except Exception as e:  # the analysis explains a failure; it must not become one
        log(f"[sqnr] analysis skipped: {type(e).__name__}: {one_line(e, 160)}")


def _io_details(runner, path: Path) -> FileIO:
    # a QDQ .onnx dequantizes its int8 logits to float in the graph: its step is recorded
    qdq_scale = _onnx_output_qdq_scale(path) if path.suffix == ".onnx" else None
    inp, out = runner.input, runner.output
    return FileIO(
        TensorIO(inp.name, tuple(inp.shape), inp.dtype, inp.scale, inp.zero_point),
        TensorIO(out.name, tuple(out.shape), out.dtype, out.scale, out.zero_point, qdq_scale))


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
