"""``edgehar data export-csv``: the built-in recordings as a labelled CSV directory.

One CSV per recording (``expNN_userMM.csv``: t in seconds at 50 Hz, ax..az in g, gx..gz in
rad/s, label names, empty where unlabelled) plus ``subjects.csv``: exactly the layout
``--source DIR`` reads, so training from it is the worked example of bringing your own data.
The values are the recordings' float32 samples written with 9 significant digits.

``--format parquet`` (or ``both``) writes ``expNN_userMM.parquet`` with the same columns: the
float64 values the CSV's text parses to (not the float32 samples, not re-rounded text), so a
recording replays to the same bytes from either file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runtime.errors import EdgeharError
from ..runtime.files import atomic_path
from ..runtime.spec import HAPT_LABELS
from .dataset import TASKS
from .windows import Source

FORMATS = ("csv", "parquet", "both")
COLUMNS = ("t", "ax", "ay", "az", "gx", "gy", "gz")


def export_csv(source: str, task: str, out: Path, fmt: str = "csv") -> int:
    if fmt not in FORMATS:
        raise EdgeharError(None, f"--format must be one of {', '.join(FORMATS)}")
    if fmt != "csv":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise EdgeharError(None, "--format parquet needs pyarrow: pip install "
                                     "'edgehar[fleet]'") from None
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EdgeharError(out, "exists and is not an empty directory")
    recs = Source(source).recordings()
    keep = set(TASKS[task])
    names = np.array([""] + [n if n in keep else "" for n in HAPT_LABELS] + [""])
    out.mkdir(parents=True, exist_ok=True)
    rows = ["file,subject"]
    for r in recs:
        stem = f"exp{r.experiment:02d}_user{r.user:02d}"
        ids = np.where((r.labels >= 1) & (r.labels <= len(HAPT_LABELS)), r.labels, 0)
        t = np.arange(len(r.raw)) / 50
        labels = names[ids]
        lines = [f"{ti:.2f},{a:.9g},{b:.9g},{c:.9g},{d:.9g},{e:.9g},{f:.9g}"
                 for ti, (a, b, c, d, e, f) in zip(t, r.raw)]
        if fmt in ("csv", "both"):
            with atomic_path(out / f"{stem}.csv") as tmp:
                tmp.write_text(",".join(COLUMNS) + ",label\n"
                               + "\n".join(f"{ln},{lab}" for ln, lab in zip(lines, labels))
                               + "\n")
        if fmt in ("parquet", "both"):
            _write_parquet(out / f"{stem}.parquet", lines, labels)
        rows.append(f"{stem}.{'parquet' if fmt == 'parquet' else 'csv'},{r.user}")
    with atomic_path(out / "subjects.csv") as tmp:
        tmp.write_text("\n".join(rows) + "\n")
    return len(recs)


def _write_parquet(path: Path, lines: list[str], labels: np.ndarray) -> None:
    """The CSV's rows as Parquet columns: each number is the float64 its text parses to."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = np.array([ln.split(",") for ln in lines]).astype(np.float64)
    table = pa.table({name: values[:, j] for j, name in enumerate(COLUMNS)}
                     | {"label": pa.array(labels.tolist(), pa.string()).dictionary_encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
