"""A log on disk, read twice, so that ``--orientation auto`` knows the whole log's rotation
before its first window (DESIGN.md "Orientation"). One-log replay and fleet replay both open a
log through ``whole_log``.

Pass 1 reads the log once (the reader's chunks, as they come), writes each chunk unchanged to a
spill file, and gathers what the estimate needs: the noise-filtered total acceleration (the
Preprocessor's ``total_acc`` channels; rotation commutes with the linear filters, so the
phone-frame windows suffice), which windows are walking (``WalkingRule``) and their mean
gravity. Pass 2 replays the spilled chunks through an engine that holds the fitted rotation:
the same chunks, pushes and floats as replaying the log with that rotation.

Memory stays bounded by a chunk or two, whatever the log's length: the spill is on disk (about
50 bytes per 50 Hz sample, ~215 MB for 24 hours, in the temp directory: ``TMPDIR``), in memory
while it is small. It is an unnamed temporary file, closed (and so gone) when the replay ends,
whether it ends well, on an error or on Ctrl-C.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engine import training_vertical
from .filters import BlockIIR
from .logs import LogChunk, LogSource
from .logs.chunk import ReadCounter
from .orientation import WalkingRule, WholeLogOrientation, moving
from .preprocess import Windower
from .spec import WindowSpec

SPILL_IN_MEMORY = 1 << 20   # bytes of spill kept in memory (~20 k samples, 7 min at 50 Hz)
# pass 1 filters in pushes that end on multiples of this in the stream, so the estimate does not
# depend on the chunks a reader delivers (fleet and one-log replay pick readers differently)
ESTIMATE_PUSH = 16384
_HEAD = 5   # int64 per spilled chunk: start, rows, columns, new_segment, has labels


def whole_log(source: LogSource, model, mode: str, log: Path,
              notice: Callable[[str], None] | None = None):
    """``(source, orientation)`` to replay a log on disk with: for ``auto``, a two-pass source
    and the ``WholeLogOrientation`` its first pass fits (give it to ``StreamEngine``); for the
    other modes the source unchanged and the mode. ``notice`` gets the one line that says a log
    had too little walking to estimate its orientation (it is then replayed as recorded)."""
    if mode != "auto":
        return source, mode
    spec = model.spec
    orientation = WholeLogOrientation(training_vertical(model), spec.sample_rate, spec.hop)
    two = TwoPassSource(iter(()), source.quality, ReadCounter(total=2 * source.read.total))
    two.chunks = two.passes(source, WalkingGravity(spec), orientation, log, notice)
    return two, orientation


@dataclass
class TwoPassSource(LogSource):
    """The chunks of pass 2, after pass 1 has run (lazily: on the first chunk asked for).
    ``quality`` is the reader's, filled in pass 1; ``read`` spans both passes (a share for
    progress lines); ``on_progress`` is called after every chunk of pass 1 (replay_into sets it
    to its own progress callback, which otherwise runs only after predictions)."""

    on_progress: Callable[[], None] | None = None
    pass_samples: int = 0     # samples through the current pass
    stage: str = ""           # for a progress line

    def passes(self, source: LogSource, gravity: WalkingGravity,
               orientation: WholeLogOrientation, log: Path,
               notice: Callable[[str], None] | None) -> Iterator[LogChunk]:
        total = source.read.total
        with tempfile.SpooledTemporaryFile(SPILL_IN_MEMORY, prefix="edgehar-spill-") as spill:
            self.stage = "(pass 1 of 2: orientation)"
            spilled = 0
            for chunk in source:
                gravity.push(chunk)
                _write(spill, chunk)
                spilled += len(chunk.samples)
                self.pass_samples = spilled
                self.read.done = source.read.done
                if self.on_progress is not None:
                    self.on_progress()
            gravity.finish()
            orientation.fit(gravity.gravity_sum, gravity.walking_windows,
                            gravity.first_walking_start)
            why = orientation.not_estimated()
            if why is not None and notice is not None and gravity.windows:   # (no window: the
                # replay fails as too short, and says only that)
                notice(f"edgehar: {log}: orientation not estimated ({why}): replayed as recorded")
            self.stage = "(pass 2 of 2)"
            spill.seek(0)
            replayed = 0
            for chunk in _read(spill):
                replayed += len(chunk.samples)
                self.pass_samples = replayed
                self.read.done = total + (total * replayed // spilled if spilled else 0)
                yield chunk


class WalkingGravity:
    """Pass 1: the total acceleration windows of the stream (noise filter only, as the
    Preprocessor's ``total_acc``), and the summed mean gravity of its walking windows."""

    def __init__(self, spec: WindowSpec):
        self._noise = BlockIIR(spec.noise_filter, 3)
        self._windower = Windower(spec.window, spec.hop, 3)
        self._walking = WalkingRule()
        self.gravity_sum = np.zeros(3)
        self.walking_windows = 0
        self.windows = 0
        self.first_walking_start: int | None = None
        self._pending: list[np.ndarray] = []
        self._held = 0
        self._pos = 0   # stream index of the first pending sample

    def push(self, chunk: LogChunk) -> None:
        if chunk.new_segment:   # a gap: filters, windows and the walking rule start afresh
            self._flush()
            self._noise.reset()
            self._windower.reset(chunk.start)
            self._walking.after_gap()
            self._pos = chunk.start
        if not len(chunk.samples):
            return
        self._pending.append(chunk.samples[:, :3])
        self._held += len(chunk.samples)
        cut = (self._pos + self._held) // ESTIMATE_PUSH * ESTIMATE_PUSH - self._pos
        if cut > 0:
            data = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._filter(data[:cut])
            self._pending, self._held = ([data[cut:]], self._held - cut) if self._held > cut \
                else ([], 0)
            self._pos += cut

    def finish(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._held:
            self._filter(np.concatenate(self._pending))
            self._pos += self._held
        self._pending, self._held = [], 0

    def _filter(self, acc: np.ndarray) -> None:
        total = self._noise(acc).astype(np.float32)   # the Preprocessor's total_acc, cast once
        batch = self._windower.push(total)
        if not len(batch.starts):
            return
        self.windows += len(batch.starts)
        walking = self._walking(moving(batch.windows))
        if walking.any():
            if self.first_walking_start is None:
                self.first_walking_start = int(batch.starts[walking][0])
            self.gravity_sum += batch.windows[walking].mean(axis=1).astype(float).sum(axis=0)
            self.walking_windows += int(walking.sum())


def _write(f, chunk: LogChunk) -> None:
    samples = np.ascontiguousarray(chunk.samples, np.float64)
    labels = chunk.labels
    f.write(np.array([chunk.start, samples.shape[0], samples.shape[1], chunk.new_segment,
                      labels is not None], np.int64).tobytes())
    f.write(samples.tobytes())
    if labels is not None:
        f.write(np.ascontiguousarray(labels, np.int16).tobytes())


def _read(f) -> Iterator[LogChunk]:
    """The spilled chunks, as they were written (read-only arrays over the bytes read)."""
    while head := f.read(8 * _HEAD):
        start, rows, cols, new_segment, has_labels = np.frombuffer(head, np.int64).tolist()
        samples = np.frombuffer(f.read(8 * rows * cols), np.float64).reshape(rows, cols)
        labels = np.frombuffer(f.read(2 * rows), np.int16) if has_labels else None
        yield LogChunk(samples, labels, start, bool(new_segment))
