"""The stream file against the Python runtime on raw recordings: the same windows, scored the
same way (the stream file's chain and parity rows, tests and bench/stream_parity.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..runtime.engine import StreamEngine
from ..runtime.metrics import classification_report
from ..runtime.parity import REPLAY_STEPS, flips_outside_ties
from ..runtime.preprocess import window_labels


@dataclass
class SideBySide:
    """Per window: the runtime's start, both probabilities, the window's class (-1: none)."""

    starts: np.ndarray
    stream: np.ndarray
    runtime: np.ndarray
    truth: np.ndarray


def step_through(stream, raw: np.ndarray, classes: int) -> np.ndarray:
    """Probabilities of every ready step of ``raw`` (n, 6) fed hop by hop from a fresh
    state; the samples after the last whole hop are not fed (they end no window)."""
    stream.reset()
    hop = stream.hop
    out = []
    for j in range(len(raw) // hop):
        probs, ready = stream.step(raw[j * hop:(j + 1) * hop])
        if ready:
            out.append(probs)
    return np.asarray(out, np.float32).reshape(len(out), classes)


def side_by_side(stream, model, orientation: str, raw: np.ndarray,
                 labels: np.ndarray | None = None, classes: int | None = None) -> SideBySide:
    """One recording through the stream file and through ``StreamEngine`` (``running`` for
    the stream file's ``auto``, ``fixed`` for a fixed build)."""
    ref = StreamEngine(model, orientation=orientation).push(raw)
    probs = step_through(stream, raw, len(model.labels))
    n = min(len(probs), len(ref.probs))
    truth = (window_labels(labels, ref.starts[:n], model.spec.window, classes or
                           len(model.labels)) if labels is not None else np.full(n, -1))
    return SideBySide(ref.starts[:n], probs[:n], ref.probs[:n], truth)


@dataclass
class StreamParity:
    windows: int
    top1_agreement: float
    max_abs_prob_diff: float
    flips: int                  # top-1 differences
    flips_outside_ties: int     # ... where the runtime's top-2 logit gap exceeds tie_gap
    tie_gap: float              # logits: twice REPLAY_STEPS output steps of the INT8 file

    def to_dict(self) -> dict:
        return asdict(self)


def parity_of(rows: list[SideBySide], output_scale: float) -> StreamParity:
    s = np.concatenate([r.stream for r in rows])
    r = np.concatenate([r.runtime for r in rows])
    flips = int((s.argmax(1) != r.argmax(1)).sum())
    # an input on an int8 rounding edge moved by float32 preprocessing (runtime/parity.py)
    gap = 2 * REPLAY_STEPS * output_scale
    return StreamParity(len(s), float(1 - flips / max(len(s), 1)), float(np.abs(s - r).max()),
                        flips, flips_outside_ties(s, r, gap), gap)


def accuracies(rows: list[SideBySide], labels: tuple[str, ...]) -> tuple[dict, dict]:
    """(stream, runtime) classification reports on the scored windows (one class each)."""
    y = np.concatenate([r.truth for r in rows])
    keep = y >= 0
    s = np.concatenate([r.stream for r in rows])[keep].argmax(1)
    r = np.concatenate([r.runtime for r in rows])[keep].argmax(1)
    return (classification_report(y[keep], s, labels), classification_report(y[keep], r, labels))


def split_recordings(data, subjects) -> list:
    """The raw recordings of ``subjects`` in a data spec's source, labels as 1-based ids into
    the bundle's classes; a source without raw recordings (UCI HAR's windows) raises
    ValueError saying so."""
    from ..data.dataset import relabel
    from ..data.windows import HAPT_LABELS, Source

    src = Source(data.source)
    if src.kind == "labelled":
        from ..data.labelled import load_labelled_dir

        recs, names, _ = load_labelled_dir(src.spec)
    elif src.kind in ("package", "hapt"):
        recs, names = src.recordings(), HAPT_LABELS
    else:
        raise ValueError(f"a {src.kind} source holds windows, not raw recordings")
    wanted = {str(s) for s in subjects}
    return relabel([r for r in recs if str(r.user) in wanted], names, tuple(data.classes))
