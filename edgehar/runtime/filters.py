"""Causal IIR filtering with carried state, exact for any chunking, in numpy alone.

A per-sample Python loop cannot keep up with replay (>1 M samples/s), so each transfer
function is turned into state-space form and run block-wise: inside a block of L samples the
output is the zero-input response of the carried state plus a lower-triangular Toeplitz matmul
with the impulse response, and the state moves on by A^L. Offline pushes go one level further:
the states at the starts of G consecutive blocks are one matmul of the first state and the
blocks' inputs (s_j = P^j s_0 + sum_i<j P^(j-1-i) d_i, P = A^L), so a whole push is a handful
of BLAS calls instead of a Python loop over its blocks. This is the same linear recursion as
``scipy.signal.lfilter`` (to float64 rounding) whatever the block boundaries are, which is what
makes batch == streaming hold.
"""

from __future__ import annotations

import functools

import numpy as np

from .spec import IIRCoefficients

LIVE_BLOCK = 128   # samples per step of the block loop (live pushes, and what is left over)
BLOCK = 32         # offline: samples per Toeplitz block (each output sample costs BLOCK MACs
GROUP = 32         # per channel), and blocks whose states one matmul solves (BlockIIR._blocks)


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


def _balanced(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, ...]:
    """The same filter in balanced coordinates (square-root method). The canonical form of a
    0.3 Hz low-pass carries states ~2e4 times its input read out by a C of ~4e-5; a group of
    blocks sums A^(32 j) terms of that size and lost 1e-8 of the output. Balanced, the states
    are of the input's size and the output stays within ~1e-11 of lfilter, offline and live."""
    n = len(A)
    eye = np.eye(n * n)
    wc = np.linalg.solve(eye - np.kron(A, A), (B @ B.T).ravel()).reshape(n, n)
    wo = np.linalg.solve(eye - np.kron(A.T, A.T), (C.T @ C).ravel()).reshape(n, n)
    lc = np.linalg.cholesky((wc + wc.T) / 2)
    lo = np.linalg.cholesky((wo + wo.T) / 2)
    u, hsv, vt = np.linalg.svd(lo.T @ lc)
    t = lc @ vt.T / np.sqrt(hsv)
    t_inv = (u / np.sqrt(hsv)).T @ lo.T
    return t_inv @ A @ t, t_inv @ B, C @ t


@functools.lru_cache(maxsize=16)
def _block_matrices(b: tuple[float, ...], a: tuple[float, ...], block: int
                    ) -> tuple[np.ndarray, ...]:
    """The block recursion's matrices for b/a, built once per filter (a fleet worker opens
    thousands of logs with the same two filters). Callers must not modify them."""
    A, B, C, D = _tf2ss(np.asarray(b, float), np.asarray(a, float))
    A, B, C = _balanced(A, B, C)
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


@functools.lru_cache(maxsize=16)
def _group_matrix(b: tuple[float, ...], a: tuple[float, ...], block: int, group: int
                  ) -> np.ndarray:
    """((group+1) n, (group+1) n): [s_0; d_0 .. d_(group-1)] -> [s_0 .. s_group], where d_i is
    block i's drive of the state. Its top-left corner serves fewer blocks."""
    powers = _block_matrices(b, a, block)[0]
    n = powers.shape[1]
    p = [np.eye(n)]
    for _ in range(group):
        p.append(powers[block] @ p[-1])   # (A^block)^j
    m = np.zeros(((group + 1) * n, (group + 1) * n))
    for j in range(group + 1):
        m[j * n:(j + 1) * n, :n] = p[j]
        for i in range(j):
            m[j * n:(j + 1) * n, (i + 1) * n:(i + 2) * n] = p[j - 1 - i]
    return m


class BlockIIR:
    """One IIR filter applied independently to each column of a (samples, channels) stream."""

    def __init__(self, coeffs: IIRCoefficients, channels: int, block: int = BLOCK,
                 group: int = GROUP, live_block: int = LIVE_BLOCK):
        b, a = tuple(coeffs.b), tuple(coeffs.a)
        (self._powers, self._obs, self._toeplitz, self._drive,
         self._steady) = _block_matrices(b, a, live_block)
        _, self._g_obs, self._g_toeplitz, self._g_drive, _ = _block_matrices(b, a, block)
        self._group = _group_matrix(b, a, block, group)
        self.block, self.group, self.live_block = block, group, live_block
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
        L = self.block
        whole = len(x) // L * L if len(x) > self.live_block else 0
        for i in range(0, whole, self.group * L):
            k = min(self.group, (whole - i) // L)
            y[i:i + k * L] = self._blocks(x[i:i + k * L], k)
        s = self.state   # what is left (a live push is all of it): block by block
        step = self.live_block
        for i in range(whole, len(x), step):
            u = x[i:i + step]
            m = len(u)
            y[i:i + m] = self._obs[:m] @ s + self._toeplitz[:m, :m] @ u
            s = self._powers[m] @ s + self._drive[:, step - m:] @ u
        self.state = s
        return y

    def _blocks(self, u: np.ndarray, k: int) -> np.ndarray:
        """k whole blocks (k * block, channels) at once; moves the state past them."""
        L, c, n = self.block, self.channels, len(self.state)
        cols = u.reshape(k, L, c).transpose(1, 0, 2).reshape(L, k * c)   # column: block, channel
        drives = (self._g_drive @ cols).reshape(n, k, c).transpose(1, 0, 2).reshape(k * n, c)
        states = self._group[:(k + 1) * n, :(k + 1) * n] @ np.concatenate([self.state, drives])
        self.state = states[k * n:]
        starts = states[:k * n].reshape(k, n, c).transpose(1, 0, 2).reshape(n, k * c)
        y = self._g_toeplitz @ cols + self._g_obs @ starts
        return y.reshape(L, k, c).transpose(1, 0, 2).reshape(k * L, c)
