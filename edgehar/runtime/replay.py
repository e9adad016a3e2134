"""Replay a recorded sensor log through the runtime: predictions, timeline, scoring, summary."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engine import MajorityVote, StreamEngine
from .errors import EdgeharError
from .files import atomic_path, write_json
from .logs import ACC_UNITS, open_log
from .metrics import LatencyHistogram, report_from_confusion
from .model import Backend, Model, load_model
from .preprocess import window_label

ASSETS = Path(__file__).resolve().parent.parent / "assets"
PRETRAINED = ASSETS / "pretrained"
SAMPLE_LOG = ASSETS / "sample_user02.csv"


@dataclass
class ReplayOptions:
    log: Path
    model: Path = PRETRAINED
    labels: Path | None = None
    out: Path | None = None
    summary: Path | None = None
    backend: str | None = None
    realtime: bool = False
    acc_units: str = "g"
    smooth: int = 0          # majority vote over the last k windows; 0 = off
    chunk: int = 64          # samples per push: one hop, so latency is per window
    threads: int = 1
    quiet: bool = False


class _LabelTrack:
    """Per-sample labels kept only as far back as the oldest window still to be scored."""

    def __init__(self):
        self.buf = np.empty(0, np.int16)
        self.start = 0

    def push(self, labels: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, labels])

    def window_label(self, s: int, n: int, classes: int) -> int:
        return window_label(self.buf[s - self.start:s - self.start + n], n, classes)

    def trim(self, keep_from: int) -> None:
        cut = keep_from - self.start
        if cut > 0:
            self.buf = self.buf[cut:]
            self.start = keep_from


def _timeline(segments: list[list], out) -> None:
    print(f"{'start':>9} {'end':>9}  {'activity':<20} {'windows':>7} {'mean conf':>9}", file=out)
    for label, t0, t1, n, conf in segments:
        print(f"{t0:8.2f}s {t1:8.2f}s  {label:<20} {n:7d} {conf / n:9.3f}", file=out)


def run_replay(opts: ReplayOptions, stdout=sys.stdout, stderr=sys.stderr) -> dict:
    model: Model = load_model(opts.model, Backend(opts.backend) if opts.backend else None,
                              threads=opts.threads)
    spec = model.spec
    engine = StreamEngine(model)
    smoother = MajorityVote(opts.smooth) if opts.smooth > 0 else None
    chunks = open_log(opts.log, opts.acc_units, opts.labels)
    track = _LabelTrack()
    # Everything accumulated below is constant-size, so a 24-hour log replays in bounded memory.
    latencies = LatencyHistogram()
    n_cls = len(spec.labels)
    cm = np.zeros((n_cls, n_cls), np.int64)
    cm_smooth = np.zeros_like(cm)
    segments: list[list] = []   # the printed timeline only (not kept when writing --out)
    busy = 0.0
    n_windows = 0
    wall0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        # Predictions go to a temp file that is renamed into place only when the whole
        # replay succeeded; the file (entered last) is closed before the rename.
        out_file = None
        if opts.out:
            out_file = stack.enter_context(open(stack.enter_context(atomic_path(opts.out)), "w"))
        has_labels = None
        for chunk in chunks:
            if has_labels is None:
                has_labels = chunk.labels is not None
            if has_labels:
                track.push(chunk.labels)
            for i in range(0, len(chunk.samples), opts.chunk):
                part = chunk.samples[i:i + opts.chunk]
                if opts.realtime:
                    due = wall0 + (engine.samples_seen + len(part)) / spec.sample_rate
                    time.sleep(max(0.0, due - time.perf_counter()))
                preds = engine.push(part)
                busy += preds.latency_ms / 1e3
                if not len(preds):
                    continue
                latencies.add(preds.latency_ms, len(preds))
                lab_idx = preds.probs.argmax(1)
                lines = []
                for s, p, k in zip(preds.starts, preds.probs, lab_idx):
                    end = int(s) + spec.window
                    label = spec.labels[k]
                    conf = float(p[k])
                    t_end = end / spec.sample_rate
                    if out_file:
                        lines.append(json.dumps({"start": int(s), "end": end, "t": t_end,
                                                 "label": label, "confidence": round(conf, 6),
                                                 "probs": [round(float(v), 6) for v in p]}))
                    elif segments and segments[-1][0] == label:
                        seg = segments[-1]
                        seg[2], seg[3], seg[4] = t_end, seg[3] + 1, seg[4] + conf
                    else:
                        segments.append([label, s / spec.sample_rate, t_end, 1, conf])
                    sm = smoother(int(k)) if smoother else int(k)
                    if has_labels:
                        truth = track.window_label(int(s), spec.window, n_cls)
                        if truth >= 0:
                            cm[truth, k] += 1
                            cm_smooth[truth, sm] += 1
                if out_file and lines:
                    out_file.write("\n".join(lines) + "\n")
                n_windows += len(preds)
                if has_labels:
                    track.trim(engine.windower._next)
                if opts.realtime and not opts.quiet:
                    k = int(lab_idx[-1])
                    print(f"\r t={engine.samples_seen / spec.sample_rate:7.2f}s "
                          f"{spec.labels[k]:<20} {float(preds.probs[-1, k]):.2f}  "
                          f"latency {preds.latency_ms:6.2f} ms", end="", file=stderr, flush=True)
        if n_windows == 0:
            raise EdgeharError(opts.log, f"too short for one window ({engine.samples_seen} samples "
                                         f"at {spec.sample_rate} Hz, need {spec.window})")
    if opts.realtime and not opts.quiet:
        print(file=stderr)
    stream_s = engine.samples_seen / spec.sample_rate
    summary = {
        "windows": n_windows,
        "samples": engine.samples_seen,
        "stream_seconds": round(stream_s, 3),
        "latency_ms": {"p50": latencies.percentile(50), "p99": latencies.percentile(99)},
        "windows_per_s": n_windows / busy if busy > 0 else float("inf"),
        "realtime_factor": stream_s / busy if busy > 0 else float("inf"),
        "backend": model.backend.value,
        "model_file": str(model.path),
        "chunk_samples": opts.chunk,
        "threads": opts.threads,
    }
    if cm.sum():
        rep = report_from_confusion(cm, spec.labels)
        summary.update(accuracy=rep["accuracy"], macro_f1=rep["macro_f1"],
                       scored_windows=rep["n"])
        if smoother:
            srep = report_from_confusion(cm_smooth, spec.labels)
            summary["smoothed"] = {"k": opts.smooth, "accuracy": srep["accuracy"],
                                   "macro_f1": srep["macro_f1"]}
    if opts.summary:
        write_json(opts.summary, summary)
    if not opts.out and not opts.quiet:
        _timeline(segments, stdout)
    if not opts.quiet:
        line = (f"{n_windows} windows, {summary['windows_per_s']:.0f} windows/s, "
                f"{summary['realtime_factor']:.0f}x realtime, latency p50 "
                f"{summary['latency_ms']['p50']:.2f} ms "
                f"({model.backend.value}: {os.path.basename(model.path)})")
        if "accuracy" in summary:
            line += (f"; accuracy {100 * summary['accuracy']:.2f}% macro-F1 "
                     f"{100 * summary['macro_f1']:.2f}% on {summary['scored_windows']} windows")
        print(line, file=stderr if not opts.out else stdout)
    return summary


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (the CLI contract), not argparse's usage block."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see --help)\n")


def build_parser(prog: str = "python -m edgehar.runtime") -> argparse.ArgumentParser:
    p = _OneLineParser(prog=prog,
                                description="edgehar runtime: replay sensor logs on a device.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("replay", help="replay a recorded accelerometer+gyroscope log")
    r.add_argument("log", nargs="?", type=Path, help="HAPT acc_expXX_userYY.txt or a CSV log")
    r.add_argument("--sample", action="store_true", help="replay the sample log shipped inside")
    r.add_argument("--model", type=Path, default=PRETRAINED,
                   help="bundle dir, .tflite or .onnx (default: the shipped pretrained bundle)")
    r.add_argument("--labels", type=Path, help="HAPT labels.txt, to score the replay")
    r.add_argument("--out", type=Path, help="write predictions as JSON Lines")
    r.add_argument("--summary", type=Path, help="write the replay summary as JSON")
    r.add_argument("--backend", choices=[b.value for b in Backend])
    r.add_argument("--realtime", action="store_true", help="pace input at the sample rate")
    r.add_argument("--acc-units", default="g", choices=sorted(ACC_UNITS))
    r.add_argument("--smooth", type=int, default=0, help="majority vote over the last K windows")
    r.add_argument("--chunk", type=int, default=64, help="samples per push (default: one hop)")
    r.add_argument("--threads", type=int, default=1)
    return p


def options_from_args(a: argparse.Namespace) -> ReplayOptions:
    if a.sample == (a.log is not None):
        raise EdgeharError(None, "give a LOG file or --sample (not both)")
    return ReplayOptions(log=SAMPLE_LOG if a.sample else a.log, model=a.model, labels=a.labels,
                         out=a.out, summary=a.summary, backend=a.backend, realtime=a.realtime,
                         acc_units=a.acc_units, smooth=a.smooth, chunk=max(1, a.chunk),
                         threads=a.threads)


def main(argv: list[str] | None = None, prog: str = "python -m edgehar.runtime") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        run_replay(options_from_args(args))
    except EdgeharError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0
