"""One preprocessing: exact filters, batch == streaming, windows at 0, hop, ..."""

import numpy as np
import pytest

from edgehar.runtime.filters import BlockIIR
from edgehar.runtime.preprocess import Preprocessor, Windower, iter_windows, windows_of
from edgehar.runtime.spec import GRAVITY_LOWPASS, NOISE_LOWPASS, WindowSpec


@pytest.fixture(scope="module")
def signal():
    """scipy.signal, the reference the filters are checked against (not in the runtime install)."""
    return pytest.importorskip("scipy.signal")


@pytest.mark.parametrize("coeffs", [NOISE_LOWPASS, GRAVITY_LOWPASS])
def test_stored_coefficients_match_scipy_design(signal, coeffs):
    b, a = signal.butter(coeffs.order, coeffs.cutoff_hz, fs=50.0)
    np.testing.assert_allclose(coeffs.b, b, rtol=1e-12)
    np.testing.assert_allclose(coeffs.a, a, rtol=1e-12)


@pytest.mark.parametrize("coeffs", [NOISE_LOWPASS, GRAVITY_LOWPASS])
def test_block_iir_equals_lfilter_with_steady_state_start(signal, coeffs, rng):
    # 5000 samples: several groups of blocks solved at once, then a partial block
    x = rng.normal(size=(5000, 3)) + 0.8
    f = BlockIIR(coeffs, 3)
    y = f(x)
    zi = signal.lfilter_zi(coeffs.b, coeffs.a)
    ref = np.stack([signal.lfilter(coeffs.b, coeffs.a, x[:, j], zi=zi * x[0, j])[0]
                    for j in range(3)], 1)
    np.testing.assert_allclose(y, ref, atol=1e-9)


def test_steady_state_start_does_not_ring():
    x = np.tile([0.1, -0.3, 0.95], (300, 1))
    y = BlockIIR(GRAVITY_LOWPASS, 3)(x)
    np.testing.assert_allclose(y, x, atol=1e-9)


def _stream(raw, sizes):
    pre = Preprocessor()
    win = Windower(128, 64, 9)
    starts, wins, i = [], [], 0
    for n in sizes:
        b = win.push(pre(raw[i:i + n]))
        starts.append(b.starts)
        wins.append(b.windows)
        i += n
    assert i >= len(raw)
    return np.concatenate(starts), np.concatenate(wins)


def test_batch_equals_streaming_for_any_chunking(small_recordings, rng):
    raw = small_recordings[0].raw[:6000]
    batch = windows_of(raw)
    one = _stream(raw, [1] * len(raw))
    random_sizes = rng.integers(1, 700, size=len(raw))
    rnd = _stream(raw, random_sizes)
    for starts, wins in (one, rnd):
        np.testing.assert_array_equal(starts, batch.starts)
        assert np.abs(wins - batch.windows).max() <= 1e-6
    assert batch.starts[0] == 0 and (np.diff(batch.starts) == 64).all()
    assert batch.windows.dtype == np.float32 and batch.windows.shape[1:] == (128, 9)


def _lfilter_steady(signal, coeffs, x):
    """scipy's filter, started in steady state at the first sample (as the runtime starts)."""
    zi = signal.lfilter_zi(coeffs.b, coeffs.a)
    return np.stack([signal.lfilter(coeffs.b, coeffs.a, x[:, j], zi=zi * x[0, j])[0]
                     for j in range(x.shape[1])], 1)


def test_channel_order_is_uci_har(signal, small_recordings):
    """Each of the nine channels against its definition, built here with scipy: total_acc =
    noise-filtered acc, body_acc = total_acc - its 0.3 Hz low-pass, body_gyro = noise-filtered
    gyro. Means alone cannot tell body_acc from body_gyro (both sit near zero)."""
    raw = small_recordings[0].raw[:3000]
    batch = windows_of(raw)
    smooth = _lfilter_steady(signal, NOISE_LOWPASS, raw)
    total = smooth[:, :3]
    expected = np.concatenate([total - _lfilter_steady(signal, GRAVITY_LOWPASS, total),
                               smooth[:, 3:], total], 1)
    ref = np.stack([expected[s:s + 128] for s in batch.starts])
    # float32 output of float64 arithmetic on values of a few g: 1e-5 is rounding, not a filter
    names = [f"{kind} {axis}" for kind in ("body_acc", "body_gyro", "total_acc") for axis in "xyz"]
    for c, name in enumerate(names):
        np.testing.assert_allclose(batch.windows[..., c], ref[..., c], atol=1e-5, err_msg=name)
    # total_acc is in g: its magnitude sits near 1 g
    assert 0.8 < np.linalg.norm(batch.windows[..., 6:9].mean((0, 1))) < 1.2


def test_windower_memory_is_bounded(rng):
    win = Windower(128, 64, 9)
    for _ in range(200):
        win.push(rng.normal(size=(1000, 9)).astype(np.float32))
        assert len(win._buf) < 128


def test_iter_windows_skips_short_streams():
    spec = WindowSpec()
    assert list(iter_windows(iter([np.zeros((100, 6))]), spec)) == []
