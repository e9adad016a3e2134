"""The runtime is the leaf: importing it pulls no torch, tensorflow or onnx."""

import subprocess
import sys


def test_import_runtime_pulls_no_heavy_modules():
    """... nor click, nor the fleet above it (the runtime's command line is the leaf's own)."""
    code = ("import sys, edgehar.runtime, edgehar.runtime.replay, edgehar.runtime.logs,"
            " edgehar.runtime.cli;"
            "heavy=[m for m in ('torch','tensorflow','onnx','scipy','click','edgehar.fleet')"
            " if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_loading_a_tflite_model_pulls_no_heavy_modules(shipped_bundle):
    code = ("import sys; from edgehar.runtime import load_model;"
            f"load_model({str(shipped_bundle)!r});"
            "print(','.join(m for m in ('torch','tensorflow','onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cold_path_skips_slow_stdlib_imports(shipped_bundle):
    """import + load + first window, as a regular install sees it (a site-less interpreter):
    pathlib (-> urllib.parse, ipaddress) and hashlib (-> OpenSSL) cost ~15 ms of a ~130 ms
    cold start on a small CPU, and the runtime does not need them to serve a model."""
    from edgehar.runtime.memory import run_fresh

    code = ("import json, numpy as np; from edgehar.runtime import load_model;"
            f"m = load_model({str(shipped_bundle)!r}); m.probs(np.zeros((1, 128, 9), np.float32));"
            "print(json.dumps({'loaded': [n for n in ('pathlib', 'hashlib', 'urllib.parse')"
            " if n in sys.modules]}))")
    assert run_fresh("import sys;" + code, site=False)["loaded"] == []
