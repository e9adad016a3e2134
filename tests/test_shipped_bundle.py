"""The pretrained bundle inside the package: INT8 delegates, manifest checks, size budget."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgehar.runtime.errors import EdgeharError
from edgehar.runtime.model import load_model


def test_int8_tflite_runs_with_and_without_default_delegates(shipped_bundle):
    g = np.load(shipped_bundle / "golden.npz")
    a = load_model(shipped_bundle / "model_int8.tflite", default_delegates=True)
    b = load_model(shipped_bundle / "model_int8.tflite", default_delegates=False)
    ya, yb = a.runner(g["inputs_normalized"]), b.runner(g["inputs_normalized"])
    step = a.runner.output.scale
    # Same kernels (XNNPACK, as at export) -> the same integers; LiteRT's builtin reference
    # kernels round requantization differently: up to two output steps measured.
    np.testing.assert_array_equal(ya, g["tflite_int8"])
    assert np.abs(yb - g["tflite_int8"]).max() <= 2 * step + 1e-6
    assert (ya.argmax(1) == yb.argmax(1)).all()


def test_shipped_chain_meets_the_promise(shipped_bundle):
    report = json.loads((shipped_bundle / "report.json").read_text())
    rows = {r["step"]: r for r in report["chain"]}
    assert report["split"] == "test" and not report["failed_steps"]
    assert rows["torch_fp32"]["accuracy"] >= 0.955
    for step in ("onnx_fp32", "onnx_int8", "tflite_fp32", "tflite_int8"):
        assert rows[step]["drop_vs_torch_pp"] <= 0.5
    for step in ("onnx_fp32", "tflite_fp32"):
        assert rows[step]["agreement_top1"] >= 0.999 and rows[step]["max_abs_logit_diff"] < 1e-3
    for name in ("model_int8.tflite", "model_int8.onnx"):
        assert (shipped_bundle / name).stat().st_size <= 150 * 1024


def test_manifest_io_matches_the_tflite(shipped_bundle):
    m = json.loads((shipped_bundle / "manifest.json").read_text())
    model = load_model(shipped_bundle / "model_int8.tflite")
    io = m["files"]["model_int8.tflite"]["io"]
    assert io["output"]["dtype"] == model.runner.output.dtype == "int8"
    assert io["output"]["scale"] == pytest.approx(model.runner.output.scale)
    assert io["output"]["zero_point"] == model.runner.output.zero_point


def test_window_spec_mismatch_is_refused(shipped_bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(shipped_bundle, b)
    m = json.loads((b / "manifest.json").read_text())
    m["window_spec"]["window"] = 64
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(EdgeharError, match="does not match the window spec"):
        load_model(b)


def test_bench_reports_every_file_against_torch(shipped_bundle, tmp_path):
    from edgehar.bench import run_bench

    out = tmp_path / "bench.json"
    r = run_bench(shipped_bundle, out, repeats=12, echo=lambda *_: None)
    assert json.loads(out.read_text())["model"] == "resnext1d_small"
    assert set(r["files"]) == {"weights.pt", "model_fp32.onnx", "model_int8.onnx",
                               "model_fp32.tflite", "model_int8.tflite"}
    for name, f in r["files"].items():
        assert f["latency_1_thread"]["p50_ms"] > 0 and f["size_bytes"] > 0
        if name != "weights.pt":
            assert f["speedup_vs_torch_1_thread"] > 1   # any exported file beats eager torch
    assert r["runtime_replay_memory"]["heavy_modules_loaded"] == []
    assert r["replay_throughput"]["windows_per_s"] > 0 and r["cold_start"][
        "import_load_first_inference_ms"] > 0


def _device_suite(*args: str):
    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, "-m", "pytest", str(root / "device_tests"), "-q",
                           "-p", "no:cacheprovider", "-k", "budget", *args],
                          capture_output=True, text=True, cwd=root)


def test_device_budgets_fail_only_when_given_and_missed():
    generous = _device_suite("--latency-budget-ms", "1000", "--memory-budget-mb", "10000")
    assert generous.returncode == 0, generous.stdout[-2000:]
    assert "<= 1000 ms met" in generous.stdout
    missed = _device_suite("--latency-budget-ms", "0.000001", "--memory-budget-mb", "1")
    assert missed.returncode == 1
    assert "2 failed" in missed.stdout and "MISSED" in missed.stdout
