"""The pretrained bundle inside the package: INT8 delegates, manifest checks, the accuracy chain
re-scored, size budget, the bench's structure."""

import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgehar.runtime import StreamEngine
from edgehar.runtime.assets import SAMPLE_LOG
from edgehar.runtime.errors import EdgeharError
from edgehar.runtime.logs import open_log
from edgehar.runtime.manifest import read_manifest
from edgehar.runtime.model import load_model

CHAIN = {"torch_fp32": "weights.pt", "onnx_fp32": "model_fp32.onnx",
         "onnx_int8": "model_int8.onnx", "tflite_fp32": "model_fp32.tflite",
         "tflite_int8": "model_int8.tflite", "tflite_stream": "model_stream.tflite",
         "tflm_int8": "model_int8.tflite"}
MAX_INT8_TFLITE_BYTES = 100_000
BATCHED = "model_int8_b64.tflite"   # offline replay's fixed-batch copy of model_int8.tflite
MIN_TORCH_ACCURACY = 0.955   # the promise: torch FP32 on the test subjects, and
MAX_DROP_PP = 0.5            # no exported file more than 0.5 pp below it


def _report(bundle: Path) -> dict:
    return json.loads((bundle / "report.json").read_text())


@pytest.mark.parametrize("kernels", ["reference", "default", "builtin", "tflm"])
def test_int8_tflite_parity_across_kernels(shipped_bundle, kernels):
    """The checks device_tests makes, with each implementation of the integer ops: golden
    outputs (the reference kernels') within the stated steps, and the sample replay's labels
    kept wherever the reference's top-2 gap is wider than the steps allow."""
    from edgehar.runtime.parity import TOLERANCE_STEPS, flips_outside_ties, output_steps

    if kernels == "tflm":
        pytest.importorskip("tflite_micro")
    g = np.load(shipped_bundle / "golden.npz")
    m = load_model(shipped_bundle / "model_int8.tflite", kernels=kernels)
    scale = m.runner.output.scale
    allowed = TOLERANCE_STEPS[kernels]
    assert output_steps(m.runner(g["inputs_normalized"]), g["tflite_int8"], scale).max() <= allowed
    engine = StreamEngine(m, orientation="fixed")
    probs = np.concatenate([engine.push(c.samples).probs for c in open_log(SAMPLE_LOG)])
    assert flips_outside_ties(probs, g["sample_probs_tflite_int8"], 2 * allowed * scale) == 0
    if kernels == "reference":
        np.testing.assert_array_equal(probs, g["sample_probs_tflite_int8"])


def test_parity_tolerances_are_set_on_validation_and_hold_on_test():
    """The allowed steps are HEADROOM x the maxima bench/parity_layers.py measured on the
    validation subjects, and the test subjects' maxima (the export's parity row) fit in them."""
    from edgehar.data.windows import TEST_SUBJECTS, VAL_SUBJECTS
    from edgehar.runtime.parity import HEADROOM, TOLERANCE_STEPS, VALIDATION_MAX_STEPS

    measured = json.loads((Path(__file__).parents[1] / "docs" / "results" /
                           "parity_layers.json").read_text())
    val, test = measured["splits"]["val"], measured["splits"]["test"]
    assert set(val["subjects"]) == set(VAL_SUBJECTS)
    assert set(test["subjects"]) == set(TEST_SUBJECTS)
    for k in ("tflm", "builtin", "default"):
        assert VALIDATION_MAX_STEPS[k] == val[k]["max_output_steps"], k
        assert TOLERANCE_STEPS[k] == HEADROOM * VALIDATION_MAX_STEPS[k], k
        assert test[k]["max_output_steps"] <= TOLERANCE_STEPS[k], k


def test_shipped_report_records_the_promise(shipped_bundle):
    report = _report(shipped_bundle)
    rows = {r["step"]: r for r in report["chain"]}
    assert {step: r["file"] for step, r in rows.items()} == CHAIN
    assert report["split"] == "test" and not report["failed_steps"]
    assert rows["torch_fp32"]["accuracy"] >= MIN_TORCH_ACCURACY
    for step in ("onnx_fp32", "onnx_int8", "tflite_fp32", "tflite_int8", "tflm_int8"):
        assert rows[step]["drop_vs_torch_pp"] <= MAX_DROP_PP
        drop = 100 * (rows["torch_fp32"]["accuracy"] - rows[step]["accuracy"])
        assert rows[step]["drop_vs_torch_pp"] == pytest.approx(drop, abs=1e-3)
    for step in ("onnx_fp32", "tflite_fp32"):
        assert rows[step]["agreement_top1"] >= 0.999 and rows[step]["max_abs_logit_diff"] < 1e-3
    assert (shipped_bundle / "model_int8.onnx").stat().st_size <= 150 * 1024
    assert (shipped_bundle / "model_int8.tflite").stat().st_size <= MAX_INT8_TFLITE_BYTES


def test_shipped_int8_tflite_is_integer_only(shipped_bundle):
    """No float32 tensor anywhere in the graph (so no float op), int8 in and out, and the TFLM
    arena the manifest states."""
    from edgehar.quantize.tflite_file import op_names, read_model, tensor_types

    model = read_model((shipped_bundle / "model_int8.tflite").read_bytes())
    assert set(tensor_types(model)) <= {"INT8", "INT32"}
    assert "DEQUANTIZE" not in op_names(model)
    entry = read_manifest(shipped_bundle).files["model_int8.tflite"]
    assert entry.io.input.dtype == entry.io.output.dtype == "int8"
    assert 0 < entry.mcu.arena_bytes < 64 * 1024
    kernels = entry.parity.kernels
    assert kernels["tflm"].top1_agreement_vs_litert >= 0.995
    assert list(kernels) == ["default", "builtin", "tflm"]
    assert all(p.max_steps <= p.allowed_steps for p in kernels.values())
    # read into records and written back, the files section is the shipped JSON, key for key
    stored = json.loads((shipped_bundle / "manifest.json").read_text())["files"]
    written = {n: f.to_dict() for n, f in read_manifest(shipped_bundle).files.items()}
    assert json.dumps(written) == json.dumps(stored)


def _test_logits(bundle: Path, name: str, x: np.ndarray, kernels: str = "default") -> np.ndarray:
    manifest = read_manifest(bundle)
    if manifest.files[name].format == "torch":
        pytest.importorskip("torch")
        from edgehar.train.checkpoint import load_weights, predict_logits

        model = load_weights(manifest.model.config, bundle / name)
        return predict_logits(model, manifest.normalization.apply(x))
    if name.endswith(".onnx"):
        pytest.importorskip("onnxruntime")
    return load_model(bundle / name, kernels=kernels).logits(x)


# the stream file takes raw samples, not windows: tests/test_stream_file.py
@pytest.mark.parametrize("step", [s for s in CHAIN if s != "tflite_stream"])
def test_shipped_chain_meets_the_promise(shipped_bundle, windows_test_split, step):
    """Each shipped file, run again on the test split's windows, scores what report.json and the
    manifest say (within one window), and the figures keep the promise."""
    ws = windows_test_split
    report = _report(shipped_bundle)
    rows = {r["step"]: r for r in report["chain"]}
    name = CHAIN[step]
    n = len(ws.y)
    assert n == report["test_windows"] == read_manifest(shipped_bundle).test_windows
    kernels = "tflm" if step == "tflm_int8" else "default"
    if kernels == "tflm":
        pytest.importorskip("tflite_micro")
    accuracy = float((_test_logits(shipped_bundle, name, ws.x, kernels).argmax(1) == ws.y).mean())
    assert abs(accuracy - rows[step]["accuracy"]) * n <= 1 + 1e-9
    if step != "tflm_int8":   # the file's entry holds LiteRT's score; TFLM's is its own row
        assert read_manifest(shipped_bundle).files[name].test_accuracy == pytest.approx(
            rows[step]["accuracy"], abs=1e-12)
    torch_accuracy = rows["torch_fp32"]["accuracy"]
    if step == "torch_fp32":
        assert accuracy >= MIN_TORCH_ACCURACY
    else:
        assert 100 * (torch_accuracy - accuracy) <= MAX_DROP_PP + 100 / n   # one window of slack


def test_manifest_describes_the_files_on_disk(shipped_bundle):
    """sha256 (hashlib here, not edgehar's reader), size and lineage of every listed file."""
    m = read_manifest(shipped_bundle)
    assert set(m.files) == set(CHAIN.values()) | {BATCHED} == set(_report(shipped_bundle)["files"])
    assert m.files[BATCHED].parent == "model_int8.tflite"
    assert m.offline_file("tflite") == BATCHED and m.default_file("tflite") == "model_int8.tflite"
    for name, entry in m.files.items():
        blob = (shipped_bundle / name).read_bytes()
        assert entry.sha256 == hashlib.sha256(blob).hexdigest(), name
        if entry.size_bytes is not None:
            assert entry.size_bytes == len(blob), name
        if entry.parent:
            assert entry.parent_sha256 == m.files[entry.parent].sha256, name
    assert m.files["model_int8.onnx"].parent == "model_fp32.onnx"
    assert m.model_files() == [n for n in m.files if n not in ("weights.pt", m.stream_file())]
    assert m.stream_file() == "model_stream.tflite"


def test_manifest_io_matches_the_tflite(shipped_bundle):
    m = read_manifest(shipped_bundle)
    model = load_model(shipped_bundle / "model_int8.tflite")
    io = m.files["model_int8.tflite"].io
    assert io.output.dtype == model.runner.output.dtype == "int8"
    assert io.output.scale == pytest.approx(model.runner.output.scale)
    assert io.output.zero_point == model.runner.output.zero_point
    assert io.input.dtype == model.runner.input.dtype
    assert io.input.shape == (1, m.spec.window, len(m.spec.channels))


def test_window_spec_mismatch_is_refused(shipped_bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(shipped_bundle, b)
    m = read_manifest(b)
    m.spec = dataclasses.replace(m.spec, window=64)
    m.write(b)
    with pytest.raises(EdgeharError, match="does not match the window spec"):
        load_model(b)


@pytest.mark.slow
def test_bench_reports_every_file(shipped_bundle, tmp_path):
    """The bench's JSON has one complete row per file. Only its structure is checked: timings
    (and torch-vs-runtime ratios) are results for bench JSON, not pass/fail criteria."""
    pytest.importorskip("onnxruntime")   # the bench times every file in the bundle, .onnx too
    from edgehar.benchmark import run_bench
    from edgehar.runtime.assets import SAMPLE_LOG

    m = read_manifest(shipped_bundle)
    out = tmp_path / "bench.json"
    r = run_bench(shipped_bundle, out, repeats=12, echo=lambda *_: None)
    assert json.loads(out.read_text()) == json.loads(json.dumps(r))
    cores = os.cpu_count() or 1
    assert r["machine"]["cpu_count"] == cores
    assert (r["model"], r["params"], r["macs"]) == (m.model.name, m.model.params, m.model.macs)
    has_torch = importlib.util.find_spec("torch") is not None
    assert list(r["files"]) == (["weights.pt"] if has_torch else []) + m.model_files()
    latency_keys = {"latency_1_thread", f"latency_{cores}_threads"}
    for name, row in r["files"].items():
        entry = m.files[name]
        assert set(row) == ({"backend", "precision", "size_bytes", "params", "macs"} | latency_keys
                            | ({"speedup_vs_torch_1_thread"} if has_torch else set())), name
        assert row["size_bytes"] == (shipped_bundle / name).stat().st_size
        assert row["precision"] == entry.precision
        assert row["backend"] == ("torch eager" if entry.format == "torch" else entry.format)
        assert (row["params"], row["macs"]) == (m.model.params, m.model.macs)
        for key in latency_keys:
            assert set(row[key]) == {"p50_ms", "p99_ms"}
            assert 0 < row[key]["p50_ms"] <= row[key]["p99_ms"], (name, key)
        if has_torch:
            torch_p50 = r["files"]["weights.pt"]["latency_1_thread"]["p50_ms"]
            assert row["speedup_vs_torch_1_thread"] == pytest.approx(
                torch_p50 / row["latency_1_thread"]["p50_ms"])
    # windows/s and x-realtime come from one wall time: their ratio is fixed by the sample log
    samples = len(SAMPLE_LOG.read_text().splitlines()) - 1
    windows = (samples - m.spec.window) // m.spec.hop + 1
    t = r["replay_throughput"]
    assert t["chunk_samples"] == 4096
    assert t["realtime_factor"] / t["windows_per_s"] == pytest.approx(
        samples / m.spec.sample_rate / windows)
    c = r["cold_start"]
    assert len(c["runs_ms"]) == 9 and isinstance(c["runtime_bytecode_cached"], bool)
    assert c["import_load_first_inference_ms"] == pytest.approx(np.median(c["runs_ms"]), abs=0.05)
    assert r["runtime_replay_memory"]["heavy_modules_loaded"] == []


def _device_suite(*args: str):
    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, "-m", "pytest", str(root / "device_tests"), "-q",
                           "-p", "no:cacheprovider", "-k", "budget", *args],
                          capture_output=True, text=True, cwd=root)


@pytest.mark.slow
def test_device_budgets_given_on_the_cli_are_held_and_reported():
    generous = _device_suite("--latency-budget-ms", "1000", "--memory-budget-mb", "10000")
    assert generous.returncode == 0, generous.stdout[-2000:]
    assert "<= 1000 ms met" in generous.stdout
    missed = _device_suite("--latency-budget-ms", "0.000001", "--memory-budget-mb", "1")
    assert missed.returncode == 1
    assert "2 failed" in missed.stdout and "MISSED" in missed.stdout
