"""How whole-log ``--orientation auto`` treats a log whose vertical is already close to the
training frame's: chosen on the validation subjects only (upright and randomly rotated).

For each recording: the preprocessed windows (batch path), the walking windows (the runtime's
rule), the rotation from their summed gravity onto the training vertical, then each candidate
"dead zone" (degrees within which the log is left as recorded; beyond it the log is rotated
either all the way, or only as far as the edge of the zone), and the accuracy over ALL windows:

    python bench/whole_log_choice.py --model edgehar/assets/pretrained \\
        --json docs/results/whole_log_choice_val.json
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
from edgehar.runtime.engine import training_vertical  # noqa: E402
from edgehar.runtime.orientation import (  # noqa: E402
    RunningOrientation,
    WalkingRule,
    active_windows,
    rotate_windows,
    rotation_between,
)
from edgehar.runtime.preprocess import windows_of  # noqa: E402

ZONES = (0, 5, 10, 15, 20, 25, 30)


def rotation_towards(a: np.ndarray, b: np.ndarray, zone_deg: float = 0.0) -> np.ndarray:
    """The smallest rotation that brings ``a`` within ``zone_deg`` degrees of ``b`` (about the
    axis a x b; the identity when it is already there; ``rotation_between`` for zone 0)."""
    a = np.asarray(a, float) / np.linalg.norm(a)
    b = np.asarray(b, float) / np.linalg.norm(b)
    if zone_deg <= 0:
        return rotation_between(a, b)
    phi = np.arccos(np.clip(a @ b, -1.0, 1.0)) - np.radians(zone_deg)
    if phi <= 0:
        return np.eye(3)
    axis = np.cross(a, b)
    if np.linalg.norm(axis) < 1e-9:   # opposite: any axis orthogonal to a
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
    x, y, z = axis / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(phi) * k + (1 - np.cos(phi)) * (k @ k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--subjects", choices=["val", "test"], default="val")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    model = load_model(a.model)
    vertical = np.asarray(training_vertical(model))
    subjects = VAL_SUBJECTS if a.subjects == "val" else TEST_SUBJECTS
    rng = np.random.default_rng(a.seed)
    recs = [r for r in load_package() if r.user in subjects]
    prepared = []
    for r in recs:
        b = windows_of(r.raw)
        walking = WalkingRule()(active_windows(b.windows))
        g = b.windows[walking][..., 6:9].mean(axis=1).astype(float).sum(axis=0)
        prepared.append((b.windows, window_labels(r.labels, b.starts, 128), g,
                         random_rotation(rng)))
    angles = [float(np.degrees(np.arccos(np.clip(g @ vertical / np.linalg.norm(g) /
                                                 np.linalg.norm(vertical), -1, 1))))
              for _, _, g, _ in prepared]
    results = {"upright_angle_deg": {"median": float(np.median(angles)), "max": max(angles),
                                     "per_log": angles}}
    for pose in ("upright", "rotated"):
        rows = {"fixed": lambda g: np.eye(3), "full rotation": lambda g: rotation_between(
            g, vertical)}
        for z in ZONES[1:]:
            rows[f"zone {z}, as recorded inside, all the way outside"] = (
                lambda g, z=z: np.eye(3) if np.degrees(np.arccos(np.clip(
                    g @ vertical / np.linalg.norm(g) / np.linalg.norm(vertical), -1, 1))) <= z
                else rotation_between(g, vertical))
            rows[f"zone {z}, to its edge"] = lambda g, z=z: rotation_towards(g, vertical, z)
        rows["running (the live estimate, for comparison)"] = None
        for name, make in rows.items():
            hit = n = 0
            for w, y, g, rot in prepared:
                if pose == "rotated":
                    w, g = rotate_windows(w, rot), rot @ g
                if make is None:   # each window by the estimate as it stood at that window
                    turned = RunningOrientation(tuple(vertical))(w, 64 * np.arange(len(w)))
                else:
                    turned = rotate_windows(w, make(g))
                pred = model.probs(turned).argmax(1)
                m = y >= 0
                hit += int(((pred == y) & m).sum())
                n += int(m.sum())
            results[f"{pose}/{name}"] = hit / n
            print(f"{pose:<8} {name:<48} all windows {100 * hit / n:.2f} %", flush=True)
    if a.json:
        a.json.write_text(json.dumps({"model": str(a.model), "subjects": a.subjects,
                                      "seed": a.seed, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
