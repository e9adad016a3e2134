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
                help="per-window p99 latency budget of the INT8 TFLite model (default: the "
                     "manifest's, else a tenth of the hop)")
    g.addoption("--memory-budget-mb", type=float, default=None,
                help="peak RSS budget of a runtime-only replay (default: the manifest's, else "
                     f"{DEFAULT_MEMORY_MB:g} MB)")


# Loose defaults, for a device that states no budget: they catch a runtime gone wrong, not a
# slow board. Latency: a tenth of the hop (1.28 s at 50 Hz: 128 ms), real time with nine
# tenths of the CPU left to the app (the shipped INT8 model takes ~1 ms on a laptop core).
# Memory: 512 MB, half a 1 GB Raspberry Pi 3 (a replay of the sample peaks near 100 MB).
DEFAULT_LATENCY_HOP_SHARE = 0.1
DEFAULT_MEMORY_MB = 512.0


def _bundle_dir(config) -> Path:
    opt = config.getoption("--bundle")
    if opt:
        return Path(opt)
    from edgehar.runtime.assets import PRETRAINED

    return PRETRAINED


def pytest_generate_tests(metafunc):
    """``model_file``: one test per model file the bundle's manifest lists, whatever their number."""
    if "model_file" in metafunc.fixturenames:
        from edgehar.runtime.manifest import read_manifest

        files = read_manifest(_bundle_dir(metafunc.config)).model_files()
        metafunc.parametrize("model_file", files, ids=files)


@pytest.fixture(scope="session")
def bundle(request) -> Path:
    return _bundle_dir(request.config)


@pytest.fixture(scope="session")
def manifest(bundle):
    from edgehar.runtime.manifest import read_manifest

    return read_manifest(bundle)


@pytest.fixture(scope="session")
def budgets(request, manifest) -> dict:
    """A budget is a device property: from the CLI, else from the bundle's manifest, else the
    loose default above. ``*_from`` says which, for the report."""
    spec = manifest.spec
    defaults = {"latency_ms": DEFAULT_LATENCY_HOP_SHARE * 1000 * spec.hop / spec.sample_rate,
                "memory_mb": DEFAULT_MEMORY_MB}
    out = {}
    for key, option in (("latency_ms", "--latency-budget-ms"), ("memory_mb", "--memory-budget-mb")):
        for source, value in ((option, request.config.getoption(option)),
                              ("manifest", getattr(manifest.budgets, key)),
                              ("default", defaults[key])):
            if value is not None:
                out[key], out[f"{key}_from"] = value, source
                break
    return out


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("edgehar device report")
        for line in REPORT:
            terminalreporter.write_line(line)
