"""Consumers of a replay's prediction stream. Each takes ``ReplayBatch``es one at a time and keeps
constant-size state (a 24-hour log replays in bounded memory); none knows about the others."""

from __future__ import annotations

import json
import os
from collections import Counter, deque
from collections.abc import Callable
from typing import IO

import numpy as np

from .engine import ReplayBatch
from .metrics import LatencyHistogram, report_from_confusion
from .spec import WindowSpec


class Throughput:
    """Windows, latency percentiles and busy time (every push counts, also those that only
    filled the window buffer)."""

    def __init__(self):
        self.latency = LatencyHistogram()
        self.windows = 0
        self.busy_s = 0.0

    def __call__(self, batch: ReplayBatch) -> None:
        self.busy_s += batch.latency_ms / 1e3
        if len(batch):
            self.latency.add(batch.latency_ms, len(batch))
            self.windows += len(batch)


class JsonlSink:
    """One JSON object per window (DESIGN.md 'Prediction output')."""

    def __init__(self, f: IO[str], spec: WindowSpec):
        self.f, self.spec = f, spec
        self.windows = 0   # windows whose lines were written whole
        self._chars = 0    # their characters: bytes too, the lines are ASCII

    def __call__(self, batch: ReplayBatch) -> None:
        if not len(batch):
            return
        text = jsonl_lines(batch.starts, batch.probs, self.spec)
        self.f.write(text)
        self.windows += len(batch)
        self._chars += len(text)

    def keep_whole_lines(self) -> int:
        """After an interruption (Ctrl-C): end the file after the last batch whose write
        returned, so no cut line (nor a batch not counted) stays behind; returns its windows."""
        self.f.truncate(self._chars)   # flushes first
        return self.windows


def jsonl_lines(starts: np.ndarray, probs: np.ndarray, spec: WindowSpec) -> str:
    """The JSON Lines of a batch of windows, byte for byte what ``json.dumps`` writes for each
    object (same key order, separators and float repr), at a fraction of its cost: the
    fleet replay writes millions of them."""
    window, rate, labels = spec.window, spec.sample_rate, spec.labels
    quoted = [json.dumps(label) for label in labels]
    idx = probs.argmax(1).tolist()
    # == round(float(v), 6) per value for float32 probabilities: v * 1e6 is exact in float64,
    # so numpy's round-half-even of it is Python's correctly rounded decimal rounding
    rows = np.round(np.asarray(probs, np.float32).astype(np.float64), 6).tolist()
    out = []
    for s, r, k in zip(starts.tolist(), rows, idx):
        end = s + window
        out.append(f'{{"start": {s}, "end": {end}, "t": {end / rate!r}, "label": {quoted[k]}, '
                   f'"confidence": {r[k]!r}, "probs": [{", ".join(map(repr, r))}]}}\n')
    return "".join(out)


class Timeline:
    """Runs of the same predicted activity: label, start s, end s, windows, summed confidence.

    With ``settled`` (``--orientation running``: the start of the window at which the running
    estimate settled, None while it has not) the windows classified before that, in the
    phone's frame, form runs of their own, marked ``*``."""

    def __init__(self, spec: WindowSpec, settled: Callable[[], int | None] | None = None):
        self.spec = spec
        self.settled = settled
        self.segments: list[list] = []   # label, t0, t1, windows, summed confidence, unsettled

    def __call__(self, batch: ReplayBatch) -> None:
        rate, labels = self.spec.sample_rate, self.spec.labels
        first = self.settled() if self.settled is not None and len(batch) else None
        for s, p in zip(batch.starts, batch.probs):
            k = int(p.argmax())
            t_end = (int(s) + self.spec.window) / rate
            # before settling: as the Scorer's accuracy_after_settled counts them
            early = self.settled is not None and (first is None or s <= first)
            seg = self.segments[-1] if self.segments else None
            if seg and seg[0] == labels[k] and seg[5] == early:
                seg[2], seg[3], seg[4] = t_end, seg[3] + 1, seg[4] + float(p[k])
            else:
                self.segments.append([labels[k], int(s) / rate, t_end, 1, float(p[k]), early])

    def render(self, out: IO[str]) -> None:
        print(f"{'start':>9} {'end':>9}  {'activity':<20} {'windows':>7} {'mean conf':>9}", file=out)
        for label, t0, t1, n, conf, early in self.segments:
            mark = "  *" if early else ""
            print(f"{t0:8.2f}s {t1:8.2f}s  {label:<20} {n:7d} {conf / n:9.3f}{mark}", file=out)
        if any(seg[5] for seg in self.segments):
            print("* classified before the orientation estimate settled (--orientation running: "
                  "in the phone's frame)", file=out)


class MajorityVote:
    """Optional smoothing: the most common label of the last ``k`` windows (ties -> newest)."""

    def __init__(self, k: int):
        self.recent: deque[int] = deque(maxlen=k)

    def __call__(self, label: int) -> int:
        self.recent.append(label)
        counts = Counter(self.recent)
        best = max(counts.values())
        return next(lab for lab in reversed(self.recent) if counts[lab] == best)


class Scorer:
    """Confusion matrices against the log's labels: raw, and majority-voted over ``smooth``
    windows when asked. Windows without one pure label (truth -1) are not scored."""

    def __init__(self, labels: tuple[str, ...], smooth: int = 0,
                 since: Callable[[], int | None] | None = None):
        self.labels = labels
        # ``since``: score only windows starting after the returned stream index (None: none yet)
        self.since = since
        n = len(labels)
        self.cm = np.zeros((n, n), np.int64)
        self.smooth = smooth
        self.cm_smooth = np.zeros_like(self.cm)
        self._vote = MajorityVote(smooth) if smooth > 0 else None

    def __call__(self, batch: ReplayBatch) -> None:
        if batch.truth is None or not len(batch):
            return
        first = None
        if self.since is not None:
            first = self.since()
            if first is None:
                return
        pred = batch.probs.argmax(1)
        if self._vote is None:   # offline replay scores millions of windows: no Python loop
            keep = batch.truth >= 0   # (cm_smooth is only read when votes smooth)
            if first is not None:
                keep &= batch.starts > first
            np.add.at(self.cm, (batch.truth[keep], pred[keep]), 1)
            return
        for start, truth, k in zip(batch.starts, batch.truth, pred):
            voted = self._vote(int(k)) if self._vote else int(k)
            if truth >= 0 and (first is None or start > first):
                self.cm[truth, k] += 1
                self.cm_smooth[truth, voted] += 1

    def summary(self) -> dict:
        """accuracy, macro_f1, scored_windows (+ smoothed), or {} when nothing was scored."""
        if not self.cm.sum():
            return {}
        rep = report_from_confusion(self.cm, self.labels)
        out = {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "scored_windows": rep["n"],
               "confusion": rep["confusion"]}
        if self._vote:
            srep = report_from_confusion(self.cm_smooth, self.labels)
            out["smoothed"] = {"k": self.smooth, "accuracy": srep["accuracy"],
                               "macro_f1": srep["macro_f1"]}
        return out


class LiveLine:
    """A single status line rewritten in place (\\r) after every push that completed a window."""

    def __init__(self, out: IO[str], spec: WindowSpec):
        self.out, self.spec, self.shown = out, spec, False

    def __call__(self, batch: ReplayBatch) -> None:
        if not len(batch):
            return
        k = int(batch.probs[-1].argmax())
        print(f"\r t={batch.samples_seen / self.spec.sample_rate:7.2f}s "
              f"{self.spec.labels[k]:<20} {float(batch.probs[-1, k]):.2f}  "
              f"latency {batch.latency_ms:6.2f} ms", end="", file=self.out, flush=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            print(file=self.out)


def describe(summary: dict) -> str:
    """The one-line human summary of a replay. ``realtime_factor`` is the pace the replay ran
    at (stream seconds per wall second): about 1x when paced (``--realtime``), so there the
    compute headroom (stream seconds per second of inference) is what says how fast it is."""
    factor = summary["realtime_factor"]
    speed = (f"paced at {factor:.2f}x realtime" if summary.get("paced") else
             f"{summary['windows_per_s']:.0f} windows/s, {factor:.0f}x realtime")
    line = (f"{summary['windows']} windows, {speed} (compute headroom "
            f"{summary['compute_headroom']:.0f}x), latency p50 {summary['latency_ms']['p50']:.2f} ms "
            f"({summary['backend']}: {os.path.basename(summary['model_file'])})")
    if summary.get("interrupted"):
        line = f"interrupted after {summary['stream_seconds']:.1f} s of log: " + line
    if "accuracy" in summary:
        line += (f"; accuracy {100 * summary['accuracy']:.2f}% macro-F1 "
                 f"{100 * summary['macro_f1']:.2f}% on {summary['scored_windows']} windows")
    units = units_said(summary.get("data_quality", {}).get("units_check", {}))
    return line + (f"; {units}" if units else "")


def units_said(check: dict) -> str:
    """"units m/s2 (header), deg/s (auto)": the units a log was read in and where each came
    from (forced by an option, stated by the header, decided from the data)."""
    if "acc_units" not in check:
        return ""
    acc, gyro = check["acc_units"], check["gyro_units"]
    a_from, g_from = check.get("acc_units_from", "option"), check.get("gyro_units_from", "option")
    if a_from == g_from:
        return f"units {acc}, {gyro} ({a_from})"
    return f"units {acc} ({a_from}), {gyro} ({g_from})"
