"""Shared by the device suite's conftest and tests (a module of its own: importing from
``conftest`` breaks when another conftest.py is collected first)."""

from __future__ import annotations

import importlib.util


def backend_available(fmt: str) -> bool:
    mod = {"tflite": "ai_edge_litert", "onnx": "onnxruntime"}[fmt]
    return importlib.util.find_spec(mod) is not None


REPORT: list[str] = []
