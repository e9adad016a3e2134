"""How `--orientation auto` was chosen: settle length, what to do before settling, and the
default mode, measured on the VALIDATION subjects (the test subjects choose nothing).

Windows go through the runtime's preprocessing once; a random rotation of the phone is applied
to the windows (exact: rotation commutes with the linear filters), then each policy rotates
them back window by window, in stream order, as the engine does.

    python bench/orientation_choice.py --model BUNDLE --json docs/results/orientation_choice.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from field_logs import random_rotation  # noqa: E402

from edgehar.data.sources import load_package  # noqa: E402
from edgehar.data.windows import TEST_SUBJECTS, VAL_SUBJECTS, window_labels  # noqa: E402
from edgehar.runtime import load_model  # noqa: E402
from edgehar.runtime.orientation import (  # noqa: E402
    UCI_VERTICAL,
    RunningOrientation,
    rotate_windows,
    rotation_between,
)
from edgehar.runtime.preprocess import windows_of  # noqa: E402


class Provisional(RunningOrientation):
    """Before settling, rotate by the mean gravity of every window so far (upright assumed)."""

    def __call__(self, windows, starts):
        out = super().__call__(windows, starts)
        if self.settled_at_s is not None and self._settled_start < int(starts[0]):
            return out
        g = getattr(self, "_all", np.zeros(3))
        fixed = []
        for i, w in enumerate(windows):
            g = g + w[:, 6:9].mean(0)
            settled = self._settled_start is not None and int(starts[i]) >= self._settled_start
            fixed.append(out[i] if settled else
                         rotate_windows(w[None], rotation_between(g, self.vertical))[0])
        self._all = g
        return np.stack(fixed)


def evaluate(model, data, make) -> dict:
    hit = n = hit_s = n_s = 0
    settle = []
    for w, starts, y, rot in data:
        est = make()
        out = est(rotate_windows(w, rot), starts)
        pred = model.probs(out).argmax(1)
        m = y >= 0
        hit += int(((pred == y) & m).sum())
        n += int(m.sum())
        if est.settled_at_s is not None:
            after = m & (starts > est.settled_window_start())
            hit_s += int(((pred == y) & after).sum())
            n_s += int(after.sum())
            settle.append(est.settled_at_s)
    return {"accuracy": hit / n, "accuracy_after_settling": hit_s / max(n_s, 1),
            "settled_at_s_median": float(np.median(settle)) if settle else None,
            "never_settled": len(data) - len(settle)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--subjects", choices=["val", "test"], default="val")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    model = load_model(a.model)
    known = model.manifest.orientation
    vertical = tuple(known.vertical) if known is not None else UCI_VERTICAL
    subjects = VAL_SUBJECTS if a.subjects == "val" else TEST_SUBJECTS
    rng = np.random.default_rng(a.seed)
    recs = [r for r in load_package() if r.user in subjects]
    prepared = []
    for r in recs:
        b = windows_of(r.raw)
        prepared.append((b.windows, b.starts, window_labels(r.labels, b.starts, 128),
                         random_rotation(rng)))
    results = {}
    for pose in ("upright", "rotated"):
        data = [(w, s, y, rot if pose == "rotated" else np.eye(3)) for w, s, y, rot in prepared]
        fixed = evaluate(model, data, lambda: _Fixed())
        results[f"{pose}/fixed"] = fixed
        print(f"{pose:<8} fixed                    all {100 * fixed['accuracy']:.2f} %", flush=True)
        for k in (3, 5, 8, 12):
            for name, cls in (("as recorded", RunningOrientation), ("provisional", Provisional)):
                r = evaluate(model, data, lambda cls=cls, k=k: cls(vertical, settle=k))
                results[f"{pose}/auto/settle{k}/{name}"] = r
                print(f"{pose:<8} auto settle {k:>2} {name:<12} all {100 * r['accuracy']:.2f} %, "
                      f"after settling {100 * r['accuracy_after_settling']:.2f} % "
                      f"(median {r['settled_at_s_median']} s)", flush=True)
    if a.json:
        a.json.write_text(json.dumps({"model": str(a.model), "subjects": a.subjects,
                                      "seed": a.seed, "results": results}, indent=1) + "\n")


class _Fixed:
    settled_at_s = None

    def __call__(self, windows, starts):
        return windows


if __name__ == "__main__":
    main()
