"""Classification metrics in numpy (shared by training, export's chain and replay scoring)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(n * np.asarray(y_true) + np.asarray(y_pred), minlength=n * n).reshape(n, n)


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels) -> dict:
    return report_from_confusion(confusion(y_true, y_pred, len(labels)), labels)


def report_from_confusion(cm: np.ndarray, labels) -> dict:
    """Accuracy, macro P/R/F1 (over classes present), per-class scores from a confusion
    matrix (rows: true class): streaming scorers accumulate this instead of every label."""
    cm = np.asarray(cm)
    tp = np.diag(cm).astype(float)
    total = int(cm.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(cm.sum(0) > 0, tp / cm.sum(0), 0.0)
        recall = np.where(cm.sum(1) > 0, tp / cm.sum(1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = cm.sum(1) > 0  # macro over classes that occur in y_true
    return {
        "n": total,
        "accuracy": float(tp.sum() / max(total, 1)),
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class_accuracy": {lab: float(r) for lab, r in zip(labels, recall)},
        "per_class_f1": {lab: float(v) for lab, v in zip(labels, f1)},
        "confusion": cm.tolist(),
    }


class LatencyHistogram:
    """Percentiles of a stream of latencies in constant memory: log-spaced bins from 1 us to
    100 s, 0.5 % wide, so a 24-hour replay keeps 4 K counters instead of every sample."""

    LO_MS, HI_MS, BINS = 1e-3, 1e5, 4000

    def __init__(self):
        self.counts = np.zeros(self.BINS + 1, np.int64)
        self._scale = self.BINS / np.log(self.HI_MS / self.LO_MS)

    def add(self, ms: float, n: int = 1) -> None:
        b = int(np.log(max(ms, self.LO_MS) / self.LO_MS) * self._scale)
        self.counts[min(b, self.BINS)] += n

    def percentile(self, q: float) -> float:
        total = self.counts.sum()
        if total == 0:
            return float("nan")
        b = int(np.searchsorted(np.cumsum(self.counts), q / 100 * total, side="left"))
        return float(self.LO_MS * np.exp((b + 0.5) / self._scale))


def call_latency_ms(fn: Callable[[], object], repeats: int = 200, warmup: int = 20) -> dict:
    """p50 / p99 wall time (ms) of ``fn()`` over ``repeats`` calls after ``warmup`` calls:
    single-window latency wherever it is measured (training, export, device tests)."""
    for _ in range(warmup):
        fn()
    t = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        fn()
        t[i] = time.perf_counter() - t0
    return {"p50": float(np.percentile(t, 50) * 1e3), "p99": float(np.percentile(t, 99) * 1e3)}
