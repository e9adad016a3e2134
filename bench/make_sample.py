"""Write edgehar/assets/sample_user02.csv: 200 s of test subject 2 (HAPT experiment 4) with all
six activities, as the CSV log format replay reads. Run once; the output is committed."""

from pathlib import Path

import numpy as np

from edgehar.data.sources import load_package
from edgehar.runtime.spec import LABELS

FIRST, LAST = 3000, 13000   # covers standing, laying, sitting, walking, down- and upstairs

rec = next(r for r in load_package() if r.experiment == 4)
assert rec.user == 2
raw, lab = rec.raw[FIRST:LAST], rec.labels[FIRST:LAST]
names = np.array([LABELS[v - 1] if 1 <= v <= 6 else "" for v in lab])
out = Path(__file__).resolve().parent.parent / "edgehar" / "assets" / "sample_user02.csv"
with open(out, "w") as f:
    f.write("t,ax,ay,az,gx,gy,gz,label\n")
    for i in range(len(raw)):
        f.write(f"{i / 50:.2f}," + ",".join(f"{v:.6f}" for v in raw[i]) + f",{names[i]}\n")
print(out, out.stat().st_size)
