"""Streaming inference: push samples of any chunk size, get one prediction per window."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .model import Model
from .preprocess import Preprocessor, Windower


@dataclass
class Predictions:
    """Predictions for the windows completed by one push."""

    starts: np.ndarray     # (k,) window start sample index in the 50 Hz stream
    probs: np.ndarray      # (k, classes)
    latency_ms: float      # wall time of the push that produced them

    def __len__(self) -> int:
        return len(self.starts)


class StreamEngine:
    """raw (n, 6) samples -> shared causal preprocessing -> windows every hop -> model.

    Usable on a live sensor: call ``push`` with whatever the sensor delivered since the last
    call; state (filters, partial window) is carried between calls."""

    def __init__(self, model: Model):
        self.model = model
        spec = model.spec
        self.pre = Preprocessor(spec)
        self.windower = Windower(spec.window, spec.hop, len(spec.channels))
        self.samples_seen = 0

    def reset(self) -> None:
        self.pre.reset()
        self.windower.reset()
        self.samples_seen = 0

    def push(self, raw: np.ndarray) -> Predictions:
        t = time.perf_counter()
        batch = self.windower.push(self.pre(raw))
        probs = (self.model.probs(batch.windows) if len(batch.starts)
                 else np.zeros((0, len(self.model.labels)), np.float32))
        self.samples_seen += len(raw)
        return Predictions(batch.starts, probs, (time.perf_counter() - t) * 1e3)


@dataclass
class ReplayBatch:
    """The windows one push of a replayed log completed (possibly none), with ground truth."""

    starts: np.ndarray          # (k,) first sample of each window in the 50 Hz stream
    probs: np.ndarray           # (k, classes)
    truth: np.ndarray | None    # (k,) class index, -1 where the window has no one label; None
                                # when the log carries no labels
    latency_ms: float           # wall time of the push: filters, windowing, inference
    samples_seen: int           # stream position after the push

    def __len__(self) -> int:
        return len(self.starts)
