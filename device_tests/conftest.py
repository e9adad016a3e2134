"""Options for the on-device suite: ``pytest device_tests --bundle DIR [budgets]``.

Needs only the runtime install (numpy + ai-edge-litert, optionally onnxruntime)."""

from __future__ import annotations

from pathlib import Path

import pytest
from device_report import REPORT


def pytest_addoption(parser):
    g = parser.getgroup("edgehar device")
    g.addoption("--bundle", default=None, help="model bundle dir (default: the shipped bundle)")
    g.addoption("--latency-budget-ms", type=float, default=None,
                help="per-window p99 latency budget of the INT8 TFLite model")
    g.addoption("--memory-budget-mb", type=float, default=None,
                help="peak RSS budget of a runtime-only replay")


@pytest.fixture(scope="session")
def bundle(request) -> Path:
    opt = request.config.getoption("--bundle")
    if opt:
        return Path(opt)
    from edgehar.runtime.assets import PRETRAINED

    return PRETRAINED


@pytest.fixture(scope="session")
def manifest(bundle):
    from edgehar.runtime.manifest import read_manifest

    return read_manifest(bundle)


@pytest.fixture(scope="session")
def budgets(request, manifest) -> dict:
    """A budget is a device property: from the CLI, else from the bundle's manifest, else none."""
    stored = manifest.budgets
    return {
        "latency_ms": request.config.getoption("--latency-budget-ms") or stored.latency_ms,
        "memory_mb": request.config.getoption("--memory-budget-mb") or stored.memory_mb,
    }


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("edgehar device report")
        for line in REPORT:
            terminalreporter.write_line(line)
