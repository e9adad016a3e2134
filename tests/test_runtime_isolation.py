"""The runtime is the leaf: importing it pulls no torch, tensorflow or onnx."""

import subprocess
import sys


def test_import_runtime_pulls_no_heavy_modules():
    code = ("import sys, edgehar.runtime, edgehar.runtime.replay, edgehar.runtime.logs;"
            "heavy=[m for m in ('torch','tensorflow','onnx','scipy','click') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_loading_a_tflite_model_pulls_no_heavy_modules(shipped_bundle):
    code = ("import sys; from edgehar.runtime import load_model;"
            f"load_model({str(shipped_bundle)!r});"
            "print(','.join(m for m in ('torch','tensorflow','onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
