"""Streaming inference: push samples of any chunk size, get one prediction per window."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .errors import EdgeharError
from .model import Model
from .orientation import DEFAULT_ORIENTATION, MODES, UCI_VERTICAL, AutoOrientation
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
    call; state (filters, partial window) is carried between calls. ``orientation="auto"``
    rotates each window from the phone's frame into the training frame (runtime/orientation.py);
    ``restart`` begins a new segment after a gap in the data."""

    def __init__(self, model: Model, orientation: str = DEFAULT_ORIENTATION):
        if orientation not in MODES:
            raise EdgeharError(None, f"unknown orientation mode {orientation!r} "
                                     f"(use one of: {', '.join(MODES)})")
        self.model = model
        spec = model.spec
        self.pre = Preprocessor(spec)
        self.windower = Windower(spec.window, spec.hop, len(spec.channels))
        self.samples_seen = 0
        self.samples_processed = 0   # samples pushed (samples_seen also counts skipped gaps)
        self.orientation = None
        if orientation == "auto":
            known = model.manifest.orientation
            vertical = known.vertical if known is not None else UCI_VERTICAL
            self.orientation = AutoOrientation(tuple(vertical), spec.sample_rate, spec.hop,
                                               spec.window)

    def reset(self) -> None:
        self.restart(0)
        self.samples_processed = 0
        if self.orientation:
            self.orientation.reset()

    def restart(self, at: int) -> None:
        """A gap: filters and windows start afresh at stream index ``at`` (orientation kept:
        the phone is still where it was)."""
        self.pre.reset()
        self.windower.reset(at)
        self.samples_seen = at
        if self.orientation is not None:
            self.orientation.after_gap()

    def orientation_state(self) -> dict:
        if self.orientation is None:
            return {"mode": "fixed", "settled_at_s": None, "rotation": None}
        st = self.orientation.state()
        return {"mode": st.mode, "settled_at_s": st.settled_at_s, "rotation": st.rotation,
                "walking_windows": st.walking_windows}

    def push(self, raw: np.ndarray) -> Predictions:
        t = time.perf_counter()
        batch = self.windower.push(self.pre(raw))
        windows = batch.windows
        if self.orientation is not None and len(batch.starts):
            windows = self.orientation(windows, batch.starts)
        probs = (self.model.probs(windows) if len(batch.starts)
                 else np.zeros((0, len(self.model.labels)), np.float32))
        self.samples_seen += len(raw)
        self.samples_processed += len(raw)
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
