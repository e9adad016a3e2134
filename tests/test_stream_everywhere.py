"""The shipped model_stream.tflite through every interpreter that runs the INT8 file: the sample
recording (raw samples, hop by hop) gives the Python runtime's labels through LiteRT (default and
reference kernels), TFLM's Python interpreter and LiteRT.js in headless Chromium; each skips with
its reason where its piece is missing. The labels must equal the Python runtime's
(``replay --orientation running``) except where that window's top-2 probabilities are a tie
within ``TIE_GAP``."""

from __future__ import annotations

import numpy as np
import pytest
from stream_interpreters import steps_browser, steps_litert, steps_tflm

from edgehar.runtime.assets import PRETRAINED, SAMPLE_LOG
from edgehar.runtime.engine import StreamEngine
from edgehar.runtime.logs import open_log
from edgehar.runtime.manifest import read_manifest
from edgehar.runtime.model import load_model
from edgehar.runtime.parity import STREAM_TIE_GAP
from edgehar.runtime.replay import predict_log

# a label may differ from the runtime's only where the runtime's top-2 probabilities are this
# close (runtime/parity.py says why)
TIE_GAP = STREAM_TIE_GAP


@pytest.fixture(scope="module")
def sample():
    info = read_manifest(PRETRAINED).files["model_stream.tflite"].stream
    raw = np.concatenate([c.samples for c in open_log(SAMPLE_LOG)]).astype(np.float32)
    n = len(raw) // info.hop * info.hop
    hops = raw[:n].reshape(-1, info.hop, 6)
    engine = StreamEngine(load_model(PRETRAINED), "running")
    probs = np.concatenate([b.probs for b in predict_log(engine, open_log(SAMPLE_LOG))])
    return hops, probs


def _check(steps, runtime_probs):
    ready = [s.probs for s in steps if s.ready]
    assert [bool(s.ready) for s in steps[:2]] == [False, True]
    got = np.array(ready)[:len(runtime_probs)]
    assert len(got) == len(runtime_probs)
    top2 = np.sort(runtime_probs, axis=1)[:, -2:]
    tie = top2[:, 1] - top2[:, 0] < TIE_GAP
    differ = got.argmax(1) != runtime_probs.argmax(1)
    assert not (differ & ~tie).any(), np.flatnonzero(differ & ~tie)
    return got


@pytest.mark.parametrize("resolver", ["default", "reference"])
def test_litert(sample, resolver):
    hops, probs = sample
    _check(steps_litert(PRETRAINED / "model_stream.tflite", hops, resolver), probs)


def test_tflm_and_its_arena_is_the_manifests(sample):
    pytest.importorskip("tflite_micro")
    hops, probs = sample
    steps, arena = steps_tflm(PRETRAINED / "model_stream.tflite", hops)
    _check(steps, probs)
    info = read_manifest(PRETRAINED).files["model_stream.tflite"].stream
    assert info.tflm_arena_bytes == arena


@pytest.mark.slow   # headless Chromium
def test_litertjs_in_headless_chromium(sample):
    hops, probs = sample
    browser = steps_browser(PRETRAINED / "model_stream.tflite", hops)
    got = _check(browser, probs)
    litert = np.array([s.probs for s in steps_litert(PRETRAINED / "model_stream.tflite", hops)
                       if s.ready])[:len(got)]
    assert np.abs(got - litert).max() < 1e-4   # the same file, float32 I/O, WASM vs x86


def _replay(log, *flags) -> list[dict]:
    import json
    import tempfile
    from pathlib import Path

    from edgehar.runtime.cli import main

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "p.jsonl"
        assert main(["replay", str(log), "--out", str(out), "--quiet", *flags]) == 0
        return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("gap", [False, True], ids=["continuous", "3 s gap"])
def test_replay_backend_stream_gives_the_runtimes_windows(tmp_path, gap):
    """``replay --backend stream`` (StreamFileEngine) against ``--orientation running``: the same
    windows (a gap restarts both on the same grid; the file keeps its orientation slice), the
    same labels except ties; after a gap the file's first window differs most, its filters
    started in steady state where the runtime's were warmed up by the samples before the grid."""
    log = SAMPLE_LOG
    if gap:
        lines = SAMPLE_LOG.read_text().splitlines()
        keep = [ln for ln in lines[1:] if not 90.0 < float(ln.split(",")[0]) < 93.0]
        log = tmp_path / "gap.csv"
        log.write_text("\n".join([lines[0], *keep]) + "\n")
    stream = _replay(log, "--backend", "stream", "--orientation", "running")
    runtime = _replay(log, "--orientation", "running")
    assert [p["start"] for p in stream] == [p["start"] for p in runtime]
    ref = np.array([p["probs"] for p in runtime])
    got = np.array([p["probs"] for p in stream])
    top2 = np.sort(ref, axis=1)[:, -2:]
    differ = got.argmax(1) != ref.argmax(1)
    assert not (differ & (top2[:, 1] - top2[:, 0] >= TIE_GAP)).any()
    if not gap:
        assert np.abs(got - ref).max() < 1e-3
