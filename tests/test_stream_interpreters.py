"""Every interpreter steps a stream file (DESIGN.md "Streaming model"), each checked against a
reference: a small stand-in with the stream file's signature and a real carried state, built
here with litert_torch, through LiteRT (default and reference kernels), TFLM and LiteRT.js in
headless Chromium; and the browser's 50 Hz resampler against the Python runtime's."""

from __future__ import annotations

import numpy as np
import pytest
from stream_interpreters import (
    INPUTS,
    OUTPUTS,
    SIGNATURE,
    resample_in_browser,
    signature_positions,
    steps_browser,
    steps_litert,
    steps_tflm,
)

HOP, CHANNELS, CLASSES, STATE = 4, 6, 3, 7
STEPS = 40
# float32 graph vs the eager float32 module: the same ops in another order (XNNPACK's and the
# reference kernels' sums, the softmax's exp); the probabilities here are ~0.3, so a few ulp
ATOL = 2e-6


def _stand_in():
    """state = [running mean of the channels (6), steps seen capped at 2 (1)]; the mean starts at
    the first step's mean (the arithmetic blend, no SELECT: TFLM has none), probs = softmax of a
    linear layer on it, ready from the second step on. Only MINIMUM, never clamp(0, 1): that
    lowers to RELU_0_TO_1, which TFLM does not have."""
    import torch

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc = torch.nn.Linear(CHANNELS, CLASSES)

        def forward(self, samples, state):
            mean, seen = state[:, :CHANNELS], state[:, CHANNELS:]
            fresh = 1.0 - torch.clamp(seen, max=1.0)
            mean = mean + (0.25 + 0.75 * fresh) * (samples.mean(dim=1) - mean)
            seen = torch.clamp(seen + 1.0, max=2.0)
            return {"probs": torch.softmax(self.fc(mean), dim=-1), "ready": (seen - 1.0).reshape(1),
                    "state": torch.cat([mean, seen], dim=1)}

    return Step().eval()


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")
    import torch

    module = _stand_in()
    path = tmp_path_factory.mktemp("stream") / "stand_in_stream.tflite"
    sample = {"samples": torch.zeros(1, HOP, CHANNELS), "state": torch.zeros(1, STATE)}
    litert_torch.signature(SIGNATURE, module, sample_kwargs=sample).convert().export(str(path))
    return module, path


@pytest.fixture(scope="module")
def samples_seq():
    return np.random.default_rng(0).normal(size=(STEPS, HOP, CHANNELS)).astype(np.float32)


@pytest.fixture(scope="module")
def expected(stand_in, samples_seq):
    """The eager torch module stepped the same way: (steps, C) probs and (steps,) ready."""
    import torch

    module, _ = stand_in
    state = torch.zeros(1, STATE)
    probs, ready = [], []
    with torch.no_grad():
        for x in samples_seq:
            y = module(torch.from_numpy(x[None]), state)
            state = y["state"]
            probs.append(y["probs"][0].numpy())
            ready.append(float(y["ready"][0]))
    return np.array(probs), np.array(ready)


def _check(steps, expected) -> None:
    probs, ready = expected
    assert len(steps) == len(probs)
    np.testing.assert_array_equal([s.ready for s in steps], ready)
    np.testing.assert_allclose(np.stack([s.probs for s in steps]), probs, rtol=0, atol=ATOL)


def test_the_stand_in_carries_its_state(expected):
    """Not a stateless graph in disguise: ready flips at step 1, and the probabilities move with
    the running mean (every step differs from the one before)."""
    probs, ready = expected
    assert ready[0] == 0 and (ready[1:] == 1).all()
    assert (np.abs(np.diff(probs, axis=0)).max(axis=1) > 1e-4).all()


def test_signature_names_map_to_tflm_positions(stand_in):
    _, path = stand_in
    ins, outs = signature_positions(path.read_bytes())
    assert set(ins) == set(INPUTS) and set(outs) == set(OUTPUTS)
    assert sorted(ins.values()) == [0, 1] and sorted(outs.values()) == [0, 1, 2]


@pytest.mark.parametrize("resolver", ["default", "reference"])
def test_litert(stand_in, samples_seq, expected, resolver):
    _check(steps_litert(stand_in[1], samples_seq, resolver), expected)


def test_tflm_with_its_arena(stand_in, samples_seq, expected, record_property):
    steps, arena = steps_tflm(stand_in[1], samples_seq)
    _check(steps, expected)
    assert 0 < arena < 64 << 10 and arena % 16 == 0
    record_property("tflm_arena_bytes", arena)
    print(f"TFLM arena for the stand-in: {arena} bytes")


@pytest.mark.parametrize("wasm", ["auto", "compat"])
def test_litertjs_in_headless_chromium(stand_in, samples_seq, expected, wasm):
    _check(steps_browser(stand_in[1], samples_seq, wasm), expected)


def _python_grid(t: np.ndarray, v: np.ndarray, max_gap: float):
    from edgehar.runtime.logs.chunk import DataQuality
    from edgehar.runtime.logs.resample import GridAligner, TimedStream

    q = DataQuality()
    s = TimedStream("rows", q, max_gap)
    s.push(t, v, first_line=1)
    chunks = list(GridAligner([s], q).emit())
    k = np.concatenate([c.start + np.arange(len(c.samples)) for c in chunks])
    starts = np.zeros(len(k), bool)
    starts[np.cumsum([0] + [len(c.samples) for c in chunks[:-1]])] = [c.new_segment for c in chunks]
    return k, starts, np.concatenate([c.samples for c in chunks])


def _jittered_rows(rng, seconds: float = 30.0, rate: float = 100.0):
    """A phone's 100 Hz sensor: +-2 ms jitter, a few repeated and slightly early timestamps
    (merged), values a smooth signal plus noise."""
    t = 1712345678.123 + np.arange(int(seconds * rate)) / rate + rng.uniform(-2e-3, 2e-3, int(seconds * rate))
    t[50] = t[49]                       # a HAL batch with one timestamp
    t[120] = t[119] - 0.004             # within the 10 ms backward tolerance
    v = np.sin(np.outer(t - t[0], [1.0, 2.1, 0.7, 3.3, 0.2, 5.0])) + rng.normal(0, 0.05, (len(t), 6))
    return t, v


@pytest.mark.slow   # runs Node
def test_resample_js_matches_the_python_grid(rng):
    t, v = _jittered_rows(rng)
    k, starts, values = _python_grid(t, v, max_gap=1.0)
    js = resample_in_browser(t, v, max_gap=1.0)
    np.testing.assert_array_equal(js["k"], k)
    np.testing.assert_array_equal(js["newSegment"], starts)
    np.testing.assert_allclose(js["values"], values, rtol=0, atol=1e-9)


@pytest.mark.slow   # runs Node
def test_resample_js_splits_at_a_long_gap_as_python_does(rng):
    t, v = _jittered_rows(rng, seconds=10.0)
    t[400:] += 2.5                      # a 2.5 s pause, longer than max_gap
    k, starts, values = _python_grid(t, v, max_gap=1.0)
    assert starts.sum() == 2
    js = resample_in_browser(t, v, max_gap=1.0)
    np.testing.assert_array_equal(js["k"], k)
    np.testing.assert_array_equal(js["newSegment"], starts)
    np.testing.assert_allclose(js["values"], values, rtol=0, atol=1e-9)
