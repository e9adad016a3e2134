"""On-device checks of a bundle: load, golden outputs, sample replay, latency, memory."""

from __future__ import annotations

import functools
import os
import platform

import numpy as np
import pytest
from device_report import REPORT, backend_available

from edgehar.runtime import StreamEngine, load_model
from edgehar.runtime.assets import SAMPLE_LOG
from edgehar.runtime.logs import open_log
from edgehar.runtime.memory import replay_peak_rss
from edgehar.runtime.metrics import call_latency_ms
from edgehar.runtime.parity import REPLAY_STEPS, TOLERANCE_STEPS, flips_outside_ties

FLOAT_ATOL = 1e-4  # float kernels differ across CPUs only in summation order


def _step(name: str) -> str:
    fmt = name.rsplit(".", 1)[1]
    return f"{fmt}_{name.split('_')[1].split('.')[0]}"


@pytest.fixture(scope="module")
def golden(bundle):
    return dict(np.load(bundle / "golden.npz"))


def test_some_backend_is_installed():
    assert backend_available("tflite") or backend_available("onnx")


def test_model_loads_and_matches_manifest(bundle, manifest, model_file):
    """model_file: each file manifest.model_files() lists (conftest parametrizes from the
    bundle's manifest)."""
    name = model_file
    if not backend_available(name.rsplit(".", 1)[1]):
        pytest.skip(f"backend for {name} not installed")
    m = load_model(bundle / name)
    assert m.labels == manifest.labels
    io = manifest.files[name].io
    if io and name.endswith(".tflite"):
        assert m.runner.input.dtype == io.input.dtype
        assert m.runner.input.scale == pytest.approx(io.input.scale)
        assert m.runner.input.zero_point == io.input.zero_point
        assert m.runner.output.dtype == io.output.dtype


@pytest.mark.parametrize("name", ["model_fp32.onnx", "model_int8.onnx", "model_fp32.tflite",
                                  "model_int8.tflite"])
def test_golden_outputs(bundle, manifest, golden, name):
    if name not in manifest.files or not backend_available(name.rsplit(".", 1)[1]):
        pytest.skip(f"{name} not in bundle or backend missing")
    m = load_model(bundle / name)
    y = m.runner(golden["inputs_normalized"])
    ref = golden[_step(name)]
    if "int8" in name:
        # INT8 .tflite: the golden outputs are the reference kernels' (TFLite's semantics); the
        # device runs LiteRT's default kernels (XNNPACK), allowed the steps runtime.parity states
        # with its reason. INT8 .onnx: ONNX Runtime picks a different integer GEMM per ISA (x86
        # AVX2 without VNNI: u8s8 with 16-bit intermediate sums; ARM: s8s8 dot products), whose
        # rounding differs by up to a step inside the graph; allow two steps of the output QDQ.
        out = manifest.files[name].io.output
        step = m.runner.output.scale or out.qdq_scale or float(np.abs(ref).max() / 127)
        steps = TOLERANCE_STEPS["default"] if name.endswith(".tflite") else 2
        err = np.abs(y - ref).max()
        REPORT.append(f"golden {name}: max |diff| {err:.3g} (allowed {steps} x step {step:.3g})")
        assert err <= steps * step + 1e-6
    else:
        err = np.abs(y - ref).max()
        REPORT.append(f"golden {name}: max |diff| {err:.3g} (atol {FLOAT_ATOL})")
        assert err <= FLOAT_ATOL


@pytest.mark.parametrize("name", ["model_int8.tflite", "model_int8.onnx"])
def test_sample_replay_gives_stored_predictions(bundle, manifest, golden, name):
    step = _step(name)
    if f"sample_probs_{step}" not in golden or not backend_available(name.rsplit(".", 1)[1]):
        pytest.skip("no stored sample replay for this file, or backend missing")
    engine = StreamEngine(load_model(bundle / name), orientation="fixed")   # as export stored it
    starts, probs = [], []
    for chunk in open_log(SAMPLE_LOG):
        for i in range(0, len(chunk.samples), 64):
            p = engine.push(chunk.samples[i:i + 64])
            starts.append(p.starts)
            probs.append(p.probs)
    starts, probs = np.concatenate(starts), np.concatenate(probs)
    np.testing.assert_array_equal(starts, golden[f"sample_starts_{step}"])
    ref = golden[f"sample_probs_{step}"]
    agree = (probs.argmax(1) == ref.argmax(1)).mean()
    REPORT.append(f"sample replay {name}: {len(starts)} windows, label agreement "
                  f"{100 * agree:.2f}%, max |prob diff| {np.abs(probs - ref).max():.3g}")
    io = manifest.files[name].io
    out = io.output if io else None
    if name.endswith(".tflite") and out and out.scale > 0:
        # stored from the reference kernels: each logit may be off by the allowed steps, so
        # only a window whose top-2 gap is wider than twice that must keep its label
        tol = TOLERANCE_STEPS["default"] * out.scale
        assert flips_outside_ties(probs, ref, 2 * tol) == 0
        assert np.abs(probs - ref).max() <= tol + 1e-6
    elif out and out.qdq_scale:   # ONNX INT8: logits dequantized in the graph
        tol = REPLAY_STEPS * out.qdq_scale
        assert flips_outside_ties(probs, ref, 2 * tol) == 0
        assert np.abs(probs - ref).max() <= tol + 1e-6
    else:
        assert agree == 1.0
        assert np.abs(probs - ref).max() < 0.02


def _budget_cell(value: float, budget: float, unit: str, source: str) -> str:
    return f"<= {budget:g} {unit} {'met' if value <= budget else 'MISSED'} ({source})"


def test_latency_budget(bundle, manifest, budgets):
    x = np.random.default_rng(0).normal(size=(1, manifest.spec.window,
                                              len(manifest.spec.channels))).astype(np.float32)
    REPORT.append(f"{'file':<20} {'p50 ms':>8} {'p99 ms':>8}  budget  ({platform.machine()})")
    measured = {}
    for name in manifest.model_files():
        if not backend_available(name.rsplit(".", 1)[1]):
            continue
        lat = call_latency_ms(functools.partial(load_model(bundle / name).runner, x))
        p50, p99 = lat["p50"], lat["p99"]
        measured[name] = p99
        budget = (_budget_cell(p99, budgets["latency_ms"], "ms", budgets["latency_ms_from"])
                  if name == "model_int8.tflite" else "-")
        REPORT.append(f"{name:<20} {p50:8.3f} {p99:8.3f}  {budget}")
    assert measured
    if "model_int8.tflite" in measured:
        p99 = measured["model_int8.tflite"]
        assert p99 <= budgets["latency_ms"], (f"model_int8.tflite p99 {p99:.3f} ms misses the "
                                              f"{budgets['latency_ms']:g} ms budget "
                                              f"({budgets['latency_ms_from']})")


def test_memory_budget(bundle, budgets):
    if os.environ.get("EDGEHAR_QEMU_USER"):
        pytest.skip("qemu user-mode (emulate_pi.sh) cannot start a second emulated interpreter")
    name = "model_int8.tflite" if backend_available("tflite") else "model_int8.onnx"
    try:
        mem = replay_peak_rss(bundle / name)
    except OSError as e:  # qemu user-mode without binfmt cannot exec the emulated interpreter
        pytest.skip(f"cannot start a fresh interpreter here ({e.strerror})")
    rss_mb, heavy = mem["peak_rss_mb"], mem["heavy_modules_loaded"]
    REPORT.append(f"runtime replay peak RSS {rss_mb:.1f} MB "
                  f"(budget: {_budget_cell(rss_mb, budgets['memory_mb'], 'MB', budgets['memory_mb_from'])}); "
                  f"heavy modules: {heavy or 'none'}")
    assert heavy == []
    assert rss_mb <= budgets["memory_mb"], (f"peak RSS {rss_mb:.1f} MB misses the "
                                            f"{budgets['memory_mb']:g} MB budget "
                                            f"({budgets['memory_mb_from']})")


def test_golden_int8_tensors_through_the_reference_kernels(bundle, manifest, golden):
    """The integer-only file's own int8 tensors (what a microcontroller port checks itself
    against): LiteRT's reference kernels give the stored output bytes for the stored input."""
    if "tflite_int8_input_int8" not in golden or not backend_available("tflite"):
        pytest.skip("bundle predates the int8 golden tensors, or LiteRT missing")
    from edgehar.runtime.backends import Kernels, open_runner

    runner = open_runner(bundle / "model_int8.tflite", kernels=Kernels.REFERENCE)
    q_in = golden["tflite_int8_input_int8"]
    assert len(q_in) >= 64 and q_in.dtype == np.int8
    np.testing.assert_array_equal(runner.run_raw(q_in), golden["tflite_int8_output_int8"])


def test_stream_file_steps_the_golden_recording(bundle, manifest, golden):
    """model_stream.tflite on this device, stepped through the stored sample recording from a
    fresh state, gives the reference kernels' per-step outputs: ``ready`` exactly, labels except
    where the stored top-2 probabilities are a tie within parity.STREAM_TIE_GAP."""
    if manifest.stream_file() is None or "stream_samples" not in golden:
        pytest.skip("bundle has no stream file (or predates its golden stream)")
    if not backend_available("tflite"):
        pytest.skip("LiteRT missing")
    from edgehar.runtime.parity import STREAM_TIE_GAP
    from edgehar.runtime.stream_file import StreamFile

    stream = StreamFile.open(bundle)
    steps = [stream.step(h) for h in golden["stream_samples"]]
    np.testing.assert_array_equal([r for _, r in steps], golden["stream_ready"])
    ready = golden["stream_ready"]
    got = np.stack([p for p, _ in steps])[ready]
    ref = golden["stream_probs"][ready]
    top2 = np.sort(ref, axis=1)[:, -2:]
    flips = (got.argmax(1) != ref.argmax(1)) & (top2[:, 1] - top2[:, 0] >= STREAM_TIE_GAP)
    assert not flips.any(), np.flatnonzero(flips)
