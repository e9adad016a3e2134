"""``edgehar plot``: a replay's predictions over time as a picture.

Coloured bands for the predicted activity, the true activity beneath when labels are given,
the confidence as a line, mismatches marked, and (from the replay summary) the data gaps and,
with ``--orientation running``, the time before its estimate settled shaded. The prediction file
is streamed into at most ``BINS`` time bins (per-bin label counts, summed confidence), so a 24-hour file plots
in bounded memory and reads as well as a 2-minute one: each bin shows its majority label.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgeharError

BINS = 2400           # time bins across the figure (about one per pixel column at 150 dpi)
OUTSIDE_MODEL = "#c8c8c8"
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295"]


@dataclass
class Binned:
    """Per-bin counts of predicted (and true) classes, and mean confidence."""

    edges: np.ndarray          # (bins + 1,) seconds
    pred: np.ndarray           # (bins, classes) window counts
    truth: np.ndarray | None   # (bins, classes + 1) counts, last column = no one label
    conf: np.ndarray           # (bins,) summed confidence
    labels: list[str]
    windows: int
    model_labels: list[str]
    mismatches: int = 0
    scored: int = 0


def _last_line(path: Path) -> str:
    """The last non-empty line, read from the end of the file (the file may be huge)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        block = b""
        pos = size
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step) + block
            lines = [ln for ln in block.splitlines() if ln.strip()]
            if len(lines) > 1 or pos == 0:
                return lines[-1].decode("utf-8", "replace") if lines else ""
    return ""


def _window(path: Path, line_no: int, line: str) -> dict:
    """One prediction, its fields converted and checked (finite times, start < end)."""
    try:
        raw = json.loads(line)
        w = {"t": float(raw["t"]), "start": int(raw["start"]), "end": int(raw["end"]),
             "label": str(raw["label"]), "confidence": float(raw["confidence"])}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise EdgeharError(path, f"line {line_no} is not a prediction "
                                 f"({type(e).__name__}: {str(e)[:80]})") from None
    if not (np.isfinite(w["t"]) and np.isfinite(w["confidence"]) and 0 <= w["start"] < w["end"]):
        raise EdgeharError(path, f"line {line_no} is not a prediction (times out of range)")
    return w


def read_binned(path: Path, truth: np.ndarray | None = None,
                truth_names: list[str] | None = None, model_labels: list[str] | None = None,
                rate: int = 50, bins: int = BINS,
                t_range: tuple[float, float] | None = None) -> Binned:
    """Stream a prediction file into time bins. ``truth``: per-sample class names' indices
    into the file's labels (-1 none), indexed by the 50 Hz sample of the stream. ``t_range``:
    the bins' first and last edge (seconds), to bin two files alike; default: the file's."""
    path = Path(path)
    t0, t1 = t_range if t_range is not None else file_range(path, rate)
    hop = 64   # bins at least two hops wide: an empty bin is then a gap in the data
    bins = max(1, min(bins, int((t1 - t0) * rate / (2 * hop))))
    edges = np.linspace(t0, t1, bins + 1)
    index: dict[str, int] = {}
    pred = np.zeros((bins, 0), np.int64)
    conf = np.zeros(bins)
    true = None
    mismatches = scored = n = 0
    prev = -1
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            if not line.strip():
                continue
            w = _window(path, i, line)
            if w["start"] <= prev:
                raise EdgeharError(path, f"line {i}: windows out of order (start {w['start']} "
                                         f"after {prev}); one replay per file")
            prev = w["start"]
            k = index.get(w["label"])
            if k is None:
                k = index[w["label"]] = len(index)
                pred = np.concatenate([pred, np.zeros((bins, 1), np.int64)], 1)
            mid = (w["start"] + w["end"]) / 2 / rate
            b = min(max(int((mid - t0) / (t1 - t0) * bins), 0), bins - 1)
            pred[b, k] += 1
            conf[b] += w["confidence"]
            n += 1
            if truth is not None:
                if true is None:
                    true = {}
                seg = truth[w["start"]:w["end"]]
                one = len(seg) == w["end"] - w["start"] and seg.size and (seg == seg[0]).all() \
                    and seg[0] >= 0
                name = truth_names[int(seg[0])] if one else None
                true[(b, name)] = true.get((b, name), 0) + 1
                if name is not None and (model_labels is None or name in model_labels):
                    scored += 1   # a truth the model has no class for is drawn, not scored
                    mismatches += name != w["label"]
    labels = list(index)
    for name in model_labels or []:     # the model's classes first, in its order
        if name not in index:
            index[name] = len(index)
            pred = np.concatenate([pred, np.zeros((bins, 1), np.int64)], 1)
    if model_labels:
        order = [index[n] for n in model_labels] + [index[n] for n in index
                                                    if n not in model_labels]
        pred = pred[:, order]
        labels = list(model_labels) + [n for n in index if n not in model_labels]
    else:   # no model at hand: a stable order (the built-in classes first), so colours agree
        from ..runtime.spec import HAPT_LABELS

        names = sorted(index, key=lambda n: (HAPT_LABELS.index(n) if n in HAPT_LABELS
                                             else len(HAPT_LABELS), n))
        pred = pred[:, [index[n] for n in names]]
        labels = names
    # the classes the model can output: its labels, else (no manifest at hand) those it output
    model = list(model_labels) if model_labels else list(labels)
    truth_counts = None
    if true is not None:
        names = sorted({name for _, name in true if name is not None} - set(labels))
        labels += names
        pred = np.concatenate([pred, np.zeros((bins, len(names)), np.int64)], 1)
        truth_counts = np.zeros((bins, len(labels) + 1), np.int64)
        for (b, name), c in true.items():
            truth_counts[b, labels.index(name) if name is not None else len(labels)] += c
    return Binned(edges, pred, truth_counts, conf, labels, n, model, mismatches, scored)


def truth_from(labels_path: Path, pred_path: Path, experiment: int | None
               ) -> tuple[np.ndarray, list[str]]:
    """Per-sample class indices (-1: none) and their names, from a labelled CSV log or a HAPT
    labels.txt (the experiment from --experiment or the prediction file's name)."""
    from ..runtime.logs import LabelVocabulary, open_log, read_hapt_labels
    from ..runtime.spec import HAPT_LABELS

    labels_path = Path(labels_path)
    if labels_path.name == "labels.txt":
        if experiment is None:
            m = re.search(r"exp(\d+)", pred_path.name)
            if not m:
                raise EdgeharError(pred_path, "pass --experiment N to pick the experiment in "
                                              "labels.txt (no expNN in the file name)")
            experiment = int(m.group(1))
        ids = read_hapt_labels(labels_path, experiment)
        return np.where(ids >= 1, ids - 1, -1), list(HAPT_LABELS)
    vocab = LabelVocabulary((), grow=True)
    parts, n = [], 0
    for chunk in open_log(labels_path, acc_units="auto", gyro_units="auto", vocab=vocab):
        if chunk.labels is None:
            raise EdgeharError(labels_path, "no 'label' column to take the truth from")
        if chunk.start > n:   # a gap: no truth there
            parts.append(np.zeros(chunk.start - n, np.int16))
        parts.append(chunk.labels)
        n = chunk.start + len(chunk.labels)
    ids = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    return np.where(ids >= 1, ids - 1, -1), list(vocab.names)


def _majority(counts: np.ndarray) -> np.ndarray:
    """Majority class per bin, -1 where the bin is empty."""
    return np.where(counts.sum(1) > 0, counts.argmax(1), -1)


def _spans(values: np.ndarray, edges: np.ndarray):
    """Runs of equal values -> (value, start s, end s)."""
    change = np.flatnonzero(np.diff(values)) + 1
    starts = np.r_[0, change]
    ends = np.r_[change, len(values)]
    return [(int(values[s]), edges[s], edges[e]) for s, e in zip(starts, ends)]


def plot_timeline(pred_path: Path, out: Path, labels_path: Path | None = None,
                  summary_path: Path | None = None, experiment: int | None = None,
                  title: str | None = None) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ..runtime.files import check_output_file

    pred_path = Path(pred_path)
    check_output_file(out, "--out")
    truth, names = truth_from(labels_path, pred_path, experiment) if labels_path else (None, None)
    summary = _summary(pred_path, summary_path)
    b = read_binned(pred_path, truth, names, _model_labels(summary))
    span = b.edges[-1] - b.edges[0]
    unit, scale = _time_unit(span)
    x = b.edges / scale
    # the model's classes in colour; a truth the model has no class for (a postural transition)
    # in one grey, so the legend lists only what the model can output
    colours = {lab: PALETTE[i % len(PALETTE)] if lab in b.model_labels else OUTSIDE_MODEL
               for i, lab in enumerate(b.labels)}
    rows = 2 if b.truth is not None else 1
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.9 * rows + 1.4))
    band = 0.8
    y_pred = rows - 1
    maj = _majority(b.pred)
    centres = (b.edges[:-1] + b.edges[1:]) / 2 / scale
    for k, t0, t1 in _spans(maj, b.edges):
        if k >= 0:
            ax.axvspan(t0 / scale, t1 / scale, ymin=(y_pred + 0.1) / (rows + 1.3),
                       ymax=(y_pred + 0.1 + band) / (rows + 1.3), color=colours[b.labels[k]],
                       lw=0)
    if b.truth is not None:
        tmaj = _majority(b.truth)
        for k, t0, t1 in _spans(tmaj, b.edges):
            if 0 <= k < len(b.labels):
                ax.axvspan(t0 / scale, t1 / scale, ymin=0.1 / (rows + 1.3),
                           ymax=(0.1 + band) / (rows + 1.3), color=colours[b.labels[k]], lw=0)
        # mismatch marks: bins whose majority prediction is not the majority truth
        in_model = np.array([lab in b.model_labels for lab in b.labels] + [False])
        wrong = (maj >= 0) & (tmaj >= 0) & in_model[np.maximum(tmaj, 0)] & (maj != tmaj)
        ax.scatter(centres[wrong], np.full(wrong.sum(), 1.0), marker="|", color="black", s=60,
                   zorder=3, label="prediction differs from the truth")
    # confidence as a line above the bands
    filled = b.pred.sum(1) > 0
    mean_conf = np.where(filled, b.conf / np.maximum(b.pred.sum(1), 1), np.nan)
    top = rows + 0.1
    ax.plot(centres, top + mean_conf, color="#333333", lw=0.8, label="confidence (0-1)")
    _shade(ax, summary, scale, b.edges, ~filled & _inside(filled))
    ax.set_ylim(0, rows + 1.2)
    ticks = [0.5, 1.5] if rows == 2 else [0.5]
    ax.set_yticks(ticks + [top + 0.5], (["truth", "predicted"] if rows == 2 else ["predicted"])
                  + ["confidence"])
    ax.set_xlim(x[0], x[-1])
    ax.set_xlabel(f"time ({unit})")
    handles = [Patch(color=colours[lab], label=lab) for lab in b.model_labels]
    outside = b.truth is not None and any(
        b.truth[:, k].any() for k, lab in enumerate(b.labels) if lab not in b.model_labels)
    if outside:
        handles.append(Patch(color=OUTSIDE_MODEL, label="truth without a model class"))
    ax.legend(handles=handles + ax.get_legend_handles_labels()[0][-2:], loc="upper center",
              bbox_to_anchor=(0.5, -0.35), ncol=min(len(handles) + 2, 5), fontsize=8,
              frameon=False)
    acc = f", {100 * (1 - b.mismatches / b.scored):.1f} % of {b.scored} labelled windows right" \
        if b.scored else ""
    ax.set_title(title or f"{pred_path.name}: {b.windows} windows over {span / scale:.1f} {unit}"
                          f"{acc}", fontsize=10)
    _save(fig, ax, out)
    return {"windows": b.windows, "seconds": span, "bins": len(b.edges) - 1,
            "labels": b.labels, "legend": [h.get_label() for h in handles],
            "scored": b.scored, "mismatches": b.mismatches}


def _time_unit(seconds: float) -> tuple[str, int]:
    """The x axis' unit for a span: hours past 3 h, minutes past 10 min, else seconds."""
    return ("h", 3600) if seconds > 3 * 3600 else ("min", 60) if seconds > 600 else ("s", 1)


def _save(fig, ax, out: Path | str) -> None:
    """Despine, lay out and write the PNG whole (atomically), then free the figure."""
    import matplotlib.pyplot as plt

    from ..runtime.files import atomic_path

    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    with atomic_path(Path(out)) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format="png")
    plt.close(fig)


def _inside(filled: np.ndarray) -> np.ndarray:
    """Bins between the first and the last bin with data (empty bins there are gaps)."""
    idx = np.flatnonzero(filled)
    out = np.zeros_like(filled)
    if len(idx):
        out[idx[0]:idx[-1] + 1] = True
    return out


def _model_labels(summary: dict | None) -> list[str] | None:
    """The replayed model's labels, from the manifest beside the summary's model file."""
    if not summary or not isinstance(summary.get("model_file"), str):
        return None
    from ..runtime.manifest import MANIFEST, read_manifest

    bundle = Path(summary["model_file"]).parent
    try:
        return list(read_manifest(bundle).labels) if (bundle / MANIFEST).is_file() else None
    except EdgeharError:
        return None


def _summary(pred_path: Path, summary_path: Path | None) -> dict | None:
    """The replay summary: given, or the pipeline's replay_X.json beside pred_X.jsonl."""
    if summary_path is None:
        guess = pred_path.with_name(pred_path.name.replace("pred_", "replay_", 1)
                                    ).with_suffix(".json")
        summary_path = guess if guess != pred_path and guess.is_file() else None
    if summary_path is None:
        return None
    try:
        summary = json.loads(Path(summary_path).read_text())
    except (OSError, ValueError):
        raise EdgeharError(summary_path, "not a replay summary (JSON)") from None
    if not isinstance(summary, dict):
        raise EdgeharError(summary_path, "not a replay summary (a JSON object)")
    return summary


def _shade(ax, summary: dict | None, scale: float, edges: np.ndarray, empty: np.ndarray
           ) -> None:
    """No data (a gap in the log: no window there) hatched; orientation settling greyed."""
    first = True
    for k, t0, t1 in _spans(empty.astype(int), edges):
        if k:
            ax.axvspan(t0 / scale, t1 / scale, facecolor="white", edgecolor="#bbbbbb", hatch="///",
                       lw=0, label="no data (gap)" if first else None)
            first = False
    if not summary:
        return
    orientation = summary.get("orientation")
    settled = None
    # only the running estimate leaves windows in the phone's frame (a summary from before
    # whole-log auto said "auto" for it, and has no "estimated" key)
    if isinstance(orientation, dict) and (orientation.get("mode") == "running" or (
            orientation.get("mode") == "auto" and "estimated" not in orientation)):
        settled = orientation.get("settled_at_s")
    if isinstance(settled, (int, float)) and settled > 0:
        ax.axvspan(edges[0] / scale, settled / scale, color="#999999", alpha=0.25, lw=0,
                   zorder=0, label="orientation not settled yet")


def file_range(path: Path, rate: int = 50) -> tuple[float, float]:
    """A prediction file's time span (seconds), from its first and last lines only: its first
    window's start to its last window's end."""
    path = Path(path)
    if not path.is_file():
        raise EdgeharError(path, "prediction file not found" if not path.exists()
                           else "not a file")
    try:
        last_line = _last_line(path)
        if not last_line.strip():
            raise EdgeharError(path, "empty prediction file")
        with open(path, encoding="utf-8") as f:
            first = _window(path, 1, f.readline())
        last = _window(path, -1, last_line)
    except UnicodeDecodeError:
        raise EdgeharError(path, "not a prediction file (not UTF-8 text)") from None
    t0 = first["start"] / rate
    return t0, max(last["t"], t0 + 1e-3)


def plot_compare(pred_path: Path, other_path: Path, out: Path, labels_path: Path | None = None,
                 experiment: int | None = None) -> dict:
    """Two replays of one log (two bundles, or two options) as two timelines, one above the
    other on one time axis, the bins where their majority classes differ marked between them,
    and the truth beneath when labels are given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ..runtime.files import check_output_file
    from ..runtime.spec import HAPT_LABELS

    pred_path, other_path = Path(pred_path), Path(other_path)
    check_output_file(out, "--out")
    truth, names = truth_from(labels_path, pred_path, experiment) if labels_path else (None, None)
    (a0, a1), (b0, b1) = file_range(pred_path), file_range(other_path)
    span = (min(a0, b0), max(a1, b1))
    files = [pred_path, other_path]
    binned = [read_binned(f, truth, names, t_range=span) for f in files]
    # one colour per class across both: the built-in classes first, then any other, by name
    every = sorted({lab for b in binned for lab in b.labels},
                   key=lambda n: (HAPT_LABELS.index(n) if n in HAPT_LABELS else len(HAPT_LABELS),
                                  n))
    colours = {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(every)}
    edges = binned[0].edges
    seconds = edges[-1] - edges[0]
    unit, scale = _time_unit(seconds)
    majority = [np.array([b.labels[k] if k >= 0 else "" for k in _majority(b.pred)], object)
                for b in binned]
    # a fleet's two files share a name (DIR/x.jsonl, DIR/baseline/x.jsonl): then their folders
    shown = [f.name if files[0].name != files[1].name else f"{f.parent.name}/{f.name}"
             for f in files]
    rows = [(shown[0], majority[0]), (shown[1], majority[1])]
    if binned[0].truth is not None:
        tk = _majority(binned[0].truth)
        lab0 = binned[0].labels
        rows.append(("truth", np.array([lab0[k] if 0 <= k < len(lab0) else "" for k in tk],
                                       object)))
    fig, ax = plt.subplots(figsize=(12, 1.6 + 0.8 * len(rows)))
    n = len(rows)
    for r, (_, maj) in enumerate(rows):
        y = n - 1 - r
        codes = np.array([every.index(m) if m else -1 for m in maj])
        for k, t0, t1 in _spans(codes, edges):
            if k >= 0:
                ax.axvspan(t0 / scale, t1 / scale, ymin=(y + 0.1) / n, ymax=(y + 0.9) / n,
                           color=colours[every[k]], lw=0)
    centres = (edges[:-1] + edges[1:]) / 2 / scale
    differ = (majority[0] != "") & (majority[1] != "") & (majority[0] != majority[1])
    ax.scatter(centres[differ], np.full(differ.sum(), n - 1.0), marker="|", color="black", s=80,
               zorder=3, label="the two differ")
    ax.set_ylim(0, n)
    ax.set_yticks([n - 1 - r + 0.5 for r in range(n)], [name for name, _ in rows], fontsize=8)
    ax.set_xlim(edges[0] / scale, edges[-1] / scale)
    ax.set_xlabel(f"time ({unit})")
    handles = [Patch(color=colours[lab], label=lab) for lab in every]
    ax.legend(handles=handles + ax.get_legend_handles_labels()[0][-1:], loc="upper center",
              bbox_to_anchor=(0.5, -0.3), ncol=min(len(handles) + 1, 5), fontsize=8, frameon=False)
    agree = _top1_agreement(pred_path, other_path)
    ax.set_title(f"{shown[0]} vs {shown[1]}: top-1 agreement "
                 f"{100 * agree['agreement']:.1f} % of {agree['windows']} windows", fontsize=10)
    _save(fig, ax, out)
    return {"windows": [b.windows for b in binned], "seconds": seconds, "bins": len(edges) - 1,
            "differing_bins": int(differ.sum()), "common_windows": agree["windows"],
            "agreement": agree["agreement"]}


def _top1_agreement(a: Path, b: Path) -> dict:
    """Windows with the same start in both files, and the share of them with the same label."""
    def labels(path: Path) -> dict[int, str]:
        with open(path, encoding="utf-8") as f:
            return {w["start"]: w["label"] for i, line in enumerate(f, start=1)
                    if line.strip() for w in [_window(path, i, line)]}

    la, lb = labels(a), labels(b)
    common = la.keys() & lb.keys()
    same = sum(la[k] == lb[k] for k in common)
    return {"windows": len(common), "agreement": same / len(common) if common else 0.0}
