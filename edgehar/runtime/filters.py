"""Causal IIR filtering with carried state, exact for any chunking, in numpy alone.

A per-sample Python loop cannot keep up with replay (>1 M samples/s), so each transfer
function is turned into state-space form and run block-wise: inside a block of L samples the
output is the zero-input response of the carried state plus a lower-triangular Toeplitz matmul
with the impulse response, and the state moves on by A^L. This is the same linear recursion as
``scipy.signal.lfilter`` (to float64 rounding) whatever the block boundaries are, which is what
makes batch == streaming hold.
"""

from __future__ import annotations

import functools

import numpy as np

from .spec import IIRCoefficients

BLOCK = 128  # samples per matmul block; larger wastes MACs on the triangular matrix


def _tf2ss(b: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, ...]:
    """Controllable canonical form of b/a (same convention as scipy.signal.tf2ss)."""
    a = a / a[0]
    b = b / a[0]
    n = len(a) - 1
    b = np.concatenate([np.zeros(n + 1 - len(b)), b])
    A = np.zeros((n, n))
    A[0, :] = -a[1:]
    A[1:, :-1] = np.eye(n - 1)
    B = np.zeros((n, 1))
    B[0, 0] = 1.0
    C = (b[1:] - b[0] * a[1:]).reshape(1, n)
    D = b[0]
    return A, B, C, D


@functools.lru_cache(maxsize=16)
def _block_matrices(b: tuple[float, ...], a: tuple[float, ...], block: int
                    ) -> tuple[np.ndarray, ...]:
    """The block recursion's matrices for b/a, built once per filter (a fleet worker opens
    thousands of logs with the same two filters). Callers must not modify them."""
    A, B, C, D = _tf2ss(np.asarray(b, float), np.asarray(a, float))
    n = A.shape[0]
    powers = [np.eye(n)]
    for _ in range(block):
        powers.append(A @ powers[-1])
    obs = np.stack([(C @ p)[0] for p in powers[:block]])   # C A^k, (block, n)
    h = np.empty(block)
    h[0] = D
    h[1:] = [(C @ p @ B)[0, 0] for p in powers[: block - 1]]
    idx = np.arange(block)
    lag = idx[:, None] - idx[None, :]
    toeplitz = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0)
    # Column j: A^(block-1-j) B, so the last l columns advance the state over l inputs.
    drive = np.stack([(powers[block - 1 - j] @ B)[:, 0] for j in range(block)], 1)
    steady = np.linalg.solve(np.eye(n) - A, B)[:, 0]  # state for a constant input 1
    return np.stack(powers), obs, toeplitz, drive, steady   # powers: A^k, k = 0..block


class BlockIIR:
    """One IIR filter applied independently to each column of a (samples, channels) stream."""

    def __init__(self, coeffs: IIRCoefficients, channels: int, block: int = BLOCK):
        (self._powers, self._obs, self._toeplitz, self._drive,
         self._steady) = _block_matrices(tuple(coeffs.b), tuple(coeffs.a), block)
        self.block = block
        self.channels = channels
        self.state: np.ndarray | None = None

    def reset(self, first: np.ndarray | None = None) -> None:
        """Forget the state; with ``first`` (channels,), start in steady state at that value."""
        self.state = None if first is None else np.outer(self._steady, first)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.state is None:
            self.reset(x[0] if len(x) else np.zeros(self.channels))
        y = np.empty_like(x)
        s = self.state
        for i in range(0, len(x), self.block):
            u = x[i:i + self.block]
            m = len(u)
            y[i:i + m] = self._obs[:m] @ s + self._toeplitz[:m, :m] @ u
            s = self._powers[m] @ s + self._drive[:, self.block - m:] @ u
        self.state = s
        return y
