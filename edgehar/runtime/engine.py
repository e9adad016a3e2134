"""Streaming inference: push samples of any chunk size, get one prediction per window."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .errors import EdgeharError
from .model import Model
from .orientation import DEFAULT_ORIENTATION, MODES, UCI_VERTICAL, RunningOrientation
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
    call; state (filters, partial window) is carried between calls. ``restart`` begins a new
    segment after a gap in the data.

    ``orientation`` (runtime/orientation.py): ``"fixed"`` uses windows as recorded; ``"auto"``
    (the default) and ``"running"`` rotate each window from the phone's frame into the training
    frame by the running estimate, which settles after ~10 s of walking: a stream has no future,
    so ``auto`` here IS ``running``. A log on disk knows its future: replay estimates one
    rotation from the whole log first (``whole_log.whole_log``) and passes it here as an
    orientation object (``WholeLogOrientation``; ``WholeLogOrientation.known(R)`` for a
    rotation known otherwise), which is then applied to every window."""

    def __init__(self, model: Model, orientation=DEFAULT_ORIENTATION):
        if isinstance(orientation, str) and orientation not in MODES:
            raise EdgeharError(None, f"unknown orientation mode {orientation!r} "
                                     f"(use one of: {', '.join(MODES)})")
        self.model = model
        spec = model.spec
        self.pre = Preprocessor(spec)
        self.windower = Windower(spec.window, spec.hop, len(spec.channels))
        self.samples_seen = 0
        self.samples_processed = 0   # samples pushed (samples_seen also counts skipped gaps)
        self.orientation = None if orientation == "fixed" else orientation
        if orientation in ("auto", "running"):
            self.orientation = RunningOrientation(training_vertical(model), spec.sample_rate,
                                                  spec.hop, spec.window)

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
        return self.orientation.state()

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


def training_vertical(model: Model) -> tuple[float, ...]:
    """The vertical the bundle's training data had (older bundles: UCI-HAR's)."""
    known = model.manifest.orientation
    return tuple(known.vertical) if known is not None else UCI_VERTICAL


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
