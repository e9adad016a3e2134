"""``edgehar data export-csv``: the built-in recordings as a labelled CSV directory.

One CSV per recording (``expNN_userMM.csv``: t in seconds at 50 Hz, ax..az in g, gx..gz in
rad/s, label names, empty where unlabelled) plus ``subjects.csv``: exactly the layout
``--source DIR`` reads, so training from it is the worked example of bringing your own data.
The values are the recordings' float32 samples written with 9 significant digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runtime.errors import EdgeharError
from ..runtime.files import atomic_path
from ..runtime.spec import HAPT_LABELS
from .dataset import TASKS
from .windows import Source


def export_csv(source: str, task: str, out: Path) -> int:
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EdgeharError(out, "exists and is not an empty directory")
    recs = Source(source).recordings()
    keep = set(TASKS[task])
    names = np.array([""] + [n if n in keep else "" for n in HAPT_LABELS] + [""])
    out.mkdir(parents=True, exist_ok=True)
    rows = ["file,subject"]
    for r in recs:
        name = f"exp{r.experiment:02d}_user{r.user:02d}.csv"
        ids = np.where((r.labels >= 1) & (r.labels <= len(HAPT_LABELS)), r.labels, 0)
        t = np.arange(len(r.raw)) / 50
        lines = [f"{ti:.2f},{a:.9g},{b:.9g},{c:.9g},{d:.9g},{e:.9g},{f:.9g},{lab}"
                 for ti, (a, b, c, d, e, f), lab in zip(t, r.raw, names[ids])]
        with atomic_path(out / name) as tmp:
            tmp.write_text("t,ax,ay,az,gx,gy,gz,label\n" + "\n".join(lines) + "\n")
        rows.append(f"{name},{r.user}")
    with atomic_path(out / "subjects.csv") as tmp:
        tmp.write_text("\n".join(rows) + "\n")
    return len(recs)
