"""Replay a recorded sensor log through the runtime.

``predict_log`` turns a log into a stream of ``ReplayBatch``es (the windows each push
completed, with ground truth where the log carries labels); ``replay_into`` feeds that stream
to sinks (the JSON Lines file, scorers, ...): one-log replay and fleet replay both wire a log to
its sinks through it. ``run_replay`` picks the sinks one-log replay's options ask for and builds
the summary.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .assets import PRETRAINED, SAMPLE_LOG
from .engine import ReplayBatch, StreamEngine
from .errors import EdgeharError
from .files import atomic_path, check_output_file, write_json
from .logs import LabelVocabulary, LogChunk, LogSource, open_log
from .model import Backend, load_model
from .options import LogOptions
from .orientation import RunningOrientation
from .preprocess import window_labels
from .progress import ProgressLine
from .progress import wanted as progress_wanted
from .sinks import JsonlSink, LiveLine, Scorer, Throughput, Timeline, describe
from .stream_file import StreamFile, StreamFileEngine
from .whole_log import TwoPassSource, whole_log

__all__ = ["PRETRAINED", "SAMPLE_LOG", "LogOptions", "ReplayBatch", "ReplayOptions",
           "jsonl_file", "open_replayed_log", "predict_log", "replay_into", "run_replay"]


@dataclass(kw_only=True)
class ReplayOptions(LogOptions):
    """One log: the shared ``LogOptions`` (model, labels, units, gaps, orientation, reader) and
    what only one-log replay has."""

    log: Path
    out: Path | None = None
    summary: Path | None = None
    realtime: bool = False
    gyro: Path | None = None     # separate gyroscope CSV (``log`` is then the accelerometer's)
    smooth: int = 0          # majority vote over the last k windows; 0 = off
    chunk: int = 64          # samples per push: one hop, so latency is per window
    threads: int = 1
    quiet: bool = False
    progress: bool = False   # a progress line on stderr (also shown when both ends are a terminal)


class _LabelTrack:
    """Per-sample labels kept only as far back as the oldest window still to be scored."""

    def __init__(self):
        self.buf = np.empty(0, np.int16)
        self.start = 0
        self.active = False       # the log carries labels

    def push(self, labels: np.ndarray) -> None:
        self.active = True
        self.buf = np.concatenate([self.buf, labels])

    def restart(self, at: int) -> None:
        self.buf = np.empty(0, np.int16)
        self.start = at

    def truth(self, starts: np.ndarray, window: int, classes: int) -> np.ndarray:
        starts = np.asarray(starts) - self.start
        if not len(starts):
            return np.zeros(0, np.int64)
        lo = max(int(starts[0]), 0)   # only the span these windows cover (the buffer is long)
        return window_labels(self.buf[lo:int(starts[-1]) + window], starts - lo, window, classes)

    def trim(self, keep_from: int) -> None:
        cut = keep_from - self.start
        if cut > 0:
            self.buf = self.buf[cut:]
            self.start = keep_from


def realtime_pacer(rate: int, clock: Callable[[], float] = time.perf_counter,
                   sleep: Callable[[float], None] = time.sleep) -> Callable[[int], None]:
    """Blocks until stream sample ``n`` is due, as if a sensor delivered ``rate`` samples/s
    from the first call on (not from creation: whole-log orientation reads the log once
    before the first push)."""
    t0: float | None = None

    def wait_for(n: int) -> None:
        nonlocal t0
        if t0 is None:
            t0 = clock()
        sleep(max(0.0, t0 + n / rate - clock()))

    return wait_for


def predict_log(engine: StreamEngine, chunks: Iterable[LogChunk], push: int = 64,
                pace: Callable[[int], None] | None = None) -> Iterator[ReplayBatch]:
    """Push the log through the engine ``push`` samples at a time; one batch per push.

    Pushes end on multiples of ``push`` in the stream (or where a segment ends), whatever
    the chunks the reader delivers: the filters' block boundaries, and so every float, are then
    the same for a file read in 16k-row chunks and for a live pipe read line by line."""
    spec = engine.model.spec
    classes = len(spec.labels)
    track = _LabelTrack()
    pending: list[np.ndarray] = []
    held = 0

    def run(part: np.ndarray) -> ReplayBatch:
        if pace:
            pace(engine.samples_seen + len(part))
        preds = engine.push(part)
        truth = None
        if track.active:
            truth = track.truth(preds.starts, spec.window, classes)
            track.trim(engine.windower.next_start)
        return ReplayBatch(preds.starts, preds.probs, truth, preds.latency_ms,
                           engine.samples_seen)

    for chunk in chunks:
        if chunk.new_segment:
            if held:
                yield run(np.concatenate(pending))
            pending, held = [], 0
            engine.restart(chunk.start)
            track.restart(chunk.start)
        if chunk.labels is not None:
            track.push(chunk.labels)
        pending.append(chunk.samples)
        held += len(chunk.samples)
        due = push - engine.samples_seen % push    # samples up to the next boundary
        if held < due:
            continue
        data = np.concatenate(pending) if len(pending) > 1 else pending[0]
        i = 0
        while held - i >= due:
            yield run(data[i:i + due])
            i += due
            due = push
        pending, held = ([data[i:]], held - i) if held > i else ([], 0)
    if held:
        yield run(np.concatenate(pending))


@contextlib.contextmanager
def jsonl_file(path: Path, spec) -> Iterator[JsonlSink]:
    """A JSON Lines sink (DESIGN.md 'Prediction output') whose file appears whole or not at all:
    written to a temp file, renamed into place when the block ends without an error (after a
    Ctrl-C, ``run_replay`` keeps the whole lines so far: ``JsonlSink.keep_whole_lines``)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="\n") as f:
        yield JsonlSink(f, spec)


def replay_into(engine: StreamEngine, chunks: LogSource, log: Path, sinks: list,
                push: int = 64, pace: Callable[[int], None] | None = None,
                after_batch: Callable[[], None] | None = None) -> int:
    """Feed every prediction batch of a log to every sink, in order; return the windows. The
    log's chunks are closed when it returns or raises. A log too short for one window is bad
    input (raised after the stream ends: a ``jsonl_file`` around this call then leaves no
    file)."""
    windows = 0
    if isinstance(chunks, TwoPassSource):   # its first pass reports progress too
        chunks.on_progress = after_batch
    try:
        for batch in predict_log(engine, chunks, push, pace):
            for sink in sinks:
                sink(batch)
            windows += len(batch)
            if after_batch is not None:
                after_batch()
    finally:   # a replay that stops early (an error, Ctrl-C) closes its log (and any spill) now
        close = getattr(getattr(chunks, "chunks", None), "close", None)
        if close is not None:
            close()
    if windows == 0:
        spec = engine.model.spec
        raise EdgeharError(log, f"too short for one window ({engine.samples_processed} samples "
                                f"at {spec.sample_rate} Hz, need {spec.window}"
                                + (" without a gap)" if chunks.quality.gaps else ")"))
    return windows


def open_replayed_log(log: Path, opts: LogOptions, labels: Path | None, model,
                      gyro: Path | None = None, reader: str | None = None) -> LogSource:
    """``open_log`` with the shared options, label names mapped to the model's classes."""
    return open_log(log, opts.acc_units, labels, opts.gyro_units, opts.max_gap, gyro,
                    LabelVocabulary(model.labels), reader or opts.reader, opts.columns)


STREAM_BACKEND = "stream"   # --backend stream: the bundle's model_stream.tflite


def stream_engine(opts: ReplayOptions, model) -> StreamFileEngine:
    """``--backend stream``: the bundle's stream file behind StreamEngine's interface. Its
    orientation is built in: ``running`` (or ``auto``, which a stream file means as running)
    for an ``auto`` file, ``fixed`` for a fixed one."""
    if opts.model is not None and not Path(opts.model).is_dir():
        raise EdgeharError(opts.model, "--backend stream takes a bundle directory (its "
                                       "model_stream.tflite and manifest.json)")
    stream = StreamFile.open(opts.model or PRETRAINED, threads=opts.threads)
    built = "running" if stream.info.orientation == "auto" else "fixed"
    if opts.orientation not in (built, "auto" if built == "running" else built):
        raise EdgeharError(stream.path, f"this stream file is built with orientation {built}; "
                                        f"--orientation {opts.orientation} needs another build")
    if opts.chunk % stream.hop:
        raise EdgeharError(None, f"--chunk must be a multiple of the stream file's hop "
                                 f"({stream.hop}) with --backend stream")
    return StreamFileEngine(stream, model)


def run_replay(opts: ReplayOptions, stdout=sys.stdout, stderr=sys.stderr) -> dict:
    """Replay one log; returns the summary (DESIGN.md 'Replay summary'), also written to
    ``opts.summary``. Speeds: ``realtime_factor`` and ``windows_per_s`` per wall second of the
    replay (``paced``: with ``--realtime`` the pace, ~1x), ``compute_headroom`` per second of
    inference alone. Ctrl-C keeps the windows so far (whole lines) in ``opts.out``, writes the
    summary with ``interrupted: true`` and re-raises the KeyboardInterrupt (exit 130)."""
    check_output_file(opts.out, "--out")          # before the replay, not after it
    check_output_file(opts.summary, "--summary")
    stream = opts.backend == STREAM_BACKEND
    model = load_model(opts.model or PRETRAINED,
                       Backend(opts.backend) if opts.backend and not stream else None,
                       threads=opts.threads)
    spec = model.spec
    source = open_replayed_log(opts.log, opts, opts.labels, model, opts.gyro)
    if stream:   # the whole pipe in model_stream.tflite: raw samples in, hop by hop
        engine, chunks = stream_engine(opts, model), source
    else:
        # auto: one rotation for the whole log, from a first pass over it (whole_log.py)
        chunks, orientation = whole_log(source, model, opts.orientation, opts.log,
                                        lambda line: print(line, file=stderr))
        engine = StreamEngine(model, orientation)
    throughput, scorer = Throughput(), Scorer(spec.labels, opts.smooth)
    settled = None
    if isinstance(getattr(engine, "orientation", None), RunningOrientation):   # windows before it settled
        settled = engine.orientation.settled_window_start
    settled_scorer = Scorer(spec.labels, since=settled) if settled is not None else None
    timeline = None if opts.out else Timeline(spec, settled)
    live = LiveLine(stderr, spec) if opts.realtime and not opts.quiet else None
    pace = realtime_pacer(spec.sample_rate) if opts.realtime else None
    bar = None
    if not opts.realtime and progress_wanted(opts.quiet, opts.progress):
        bar = ProgressLine(f"replay {Path(opts.log).name}", " s of log")
    stopped, jsonl = None, None
    with contextlib.ExitStack() as stack:
        # Predictions go to a temp file renamed into place only when the whole replay
        # succeeded (``jsonl_file``), or was stopped by Ctrl-C: then with the lines so far.
        if bar is not None:
            stack.callback(bar.close)   # also when the replay stops on an error
        if live is not None:
            stack.callback(live.close)
        sinks = [throughput, scorer, settled_scorer, timeline, live]
        if opts.out:
            jsonl = stack.enter_context(jsonl_file(opts.out, spec))
            sinks.insert(0, jsonl)   # first: a window the live line showed is in the file

        def progress() -> None:   # seconds of log, with the share of the file read for the ETA
            read, two = chunks.read, isinstance(chunks, TwoPassSource)   # two: share of both
            done = (chunks.pass_samples if two else engine.samples_processed) / spec.sample_rate
            share = read.done / read.total if read.total else 0
            bar.update(done, done / share if share > 0 else None, chunks.stage if two else "")

        t0 = time.perf_counter()
        try:
            replay_into(engine, chunks, opts.log, [s for s in sinks if s is not None],
                        opts.chunk, pace, progress if bar is not None else None)
        except KeyboardInterrupt as e:   # summary and lines so far, then exit 130 (run_main)
            stopped = e
            if jsonl is not None:
                jsonl.keep_whole_lines()
        wall = time.perf_counter() - t0
    busy = throughput.busy_s
    stream_s = engine.samples_processed / spec.sample_rate   # gaps left out
    # realtime_factor: stream seconds per wall second of the replay (reading, preprocessing,
    # inference and, with --realtime, waiting for the samples: ~1x); compute_headroom: per
    # second of inference alone, how much faster than real time the model keeps up
    summary = {
        **({"interrupted": True} if stopped else {}),
        "windows": jsonl.windows if stopped and jsonl is not None else throughput.windows,
        "samples": engine.samples_processed,
        "stream_seconds": round(stream_s, 3),
        "latency_ms": {"p50": throughput.latency.percentile(50),
                       "p99": throughput.latency.percentile(99)},
        "windows_per_s": throughput.windows / wall if wall > 0 else float("inf"),
        "realtime_factor": stream_s / wall if wall > 0 else float("inf"),
        "paced": opts.realtime,
        "compute_headroom": stream_s / busy if busy > 0 else float("inf"),
        "wall_seconds": round(wall, 3),
        "compute_seconds": round(busy, 6),
        "backend": STREAM_BACKEND if stream else model.backend.value,
        "model_file": engine.stream.path if stream else str(model.path),
        "chunk_samples": opts.chunk,
        "threads": opts.threads,
        **scorer.summary(),
        "data_quality": chunks.quality.to_dict(),
        **({"app": chunks.app} if chunks.app else {}),   # the logger app whose export this is
        "orientation": engine.orientation_state(),
    }
    after = settled_scorer.summary() if settled_scorer is not None else {}
    if after:
        summary["orientation"].update(accuracy_after_settled=after["accuracy"],
                                      scored_windows_after_settled=after["scored_windows"],
                                      confusion_after_settled=after["confusion"])
    if opts.summary:
        write_json(opts.summary, summary)
    if timeline and not opts.quiet:
        timeline.render(stdout)
    if not opts.quiet:
        print(describe(summary), file=stderr if not opts.out else stdout)
    if stopped is not None:
        raise stopped
    return summary
