"""Data sources, the subject split and bad input."""

import gzip
import pickle

import numpy as np
import pytest

from edgehar.data.sources import load_hapt_dir, load_package, write_hapt_dir
from edgehar.data.windows import TEST_SUBJECTS, VAL_SUBJECTS, split, windows_from_recordings
from edgehar.runtime.errors import EdgeharError


def test_package_has_all_61_recordings(recordings):
    assert len(recordings) == 61
    assert sum(len(r.raw) for r in recordings) == 1_122_772
    assert [r.experiment for r in recordings] == list(range(1, 62))
    per_user = {u: sum(r.user == u for r in recordings) for u in range(1, 31)}
    assert per_user[10] == 3 and all(v == 2 for u, v in per_user.items() if u != 10)
    labels = np.unique(np.concatenate([r.labels for r in recordings]))
    assert set(labels) <= set(range(-1, 13)) and {1, 2, 3, 4, 5, 6} <= set(labels)


def test_split_is_subject_independent_and_large_enough(recordings):
    s = split(windows_from_recordings(recordings))
    subjects = {k: set(np.unique(v.subject)) for k, v in s.items()}
    assert subjects["test"] == set(TEST_SUBJECTS)
    assert subjects["val"] == set(VAL_SUBJECTS)
    assert not subjects["train"] & subjects["test"] and not subjects["val"] & subjects["test"]
    assert len(subjects["train"] | subjects["val"] | subjects["test"]) == 30
    assert len(s["train"].y) + len(s["val"].y) >= 7000
    assert len(s["test"].y) >= 2800
    assert set(np.unique(s["test"].y)) == set(range(6))


def test_official_hapt_dir_gives_identical_windows(small_recordings, tmp_path):
    write_hapt_dir(small_recordings, tmp_path / "HAPT Data Set")
    loaded = load_hapt_dir(tmp_path / "HAPT Data Set")
    a = windows_from_recordings(small_recordings)
    b = windows_from_recordings(loaded)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.start, b.start)
    np.testing.assert_array_equal(a.x, b.x)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/edgehar_pwned",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "HAPT.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump({1: [_Evil()]}, f, protocol=2)
    with pytest.raises(EdgeharError, match="refusing to load global (posix|os|nt).system"):
        load_package(path)


def test_corrupt_pickle_is_one_clear_error(tmp_path):
    path = tmp_path / "HAPT.pkl.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(EdgeharError, match="not a HAPT pickle"):
        load_package(path)


@pytest.mark.parametrize("breakage,message", [
    ("missing_gyro", "gyroscope file missing"),
    ("bad_columns", "expected 3 columns"),
    ("nan", "NaN"),
    ("bad_labels", "expected 5 columns"),
])
def test_malformed_hapt_dir(small_recordings, tmp_path, breakage, message):
    raw = write_hapt_dir(small_recordings[:1], tmp_path / "h")
    acc = next(raw.glob("acc_*.txt"))
    if breakage == "missing_gyro":
        next(raw.glob("gyro_*.txt")).unlink()
    elif breakage == "bad_columns":
        acc.write_text("1 2\n3 4\n")
    elif breakage == "nan":
        acc.write_text("1 2 nan\n")
    elif breakage == "bad_labels":
        (raw / "labels.txt").write_text("1 1 1 0\n")
    with pytest.raises(EdgeharError, match=message):
        load_hapt_dir(tmp_path / "h")


def _write_uci(root, ws, split_name):
    from edgehar.data.sources import UCI_SIGNALS

    sig = root / split_name / "Inertial Signals"
    sig.mkdir(parents=True)
    for c, name in enumerate(UCI_SIGNALS):
        np.savetxt(sig / f"{name}_{split_name}.txt", ws.x[:, :, c], fmt="%.8e")
    np.savetxt(root / split_name / f"y_{split_name}.txt", ws.y + 1, fmt="%d")
    np.savetxt(root / split_name / f"subject_{split_name}.txt", ws.subject, fmt="%d")


def test_official_uci_har_dir_loads_and_splits(small_recordings, tmp_path):
    pytest.importorskip("click")
    from click.testing import CliRunner

    from edgehar.cli import main
    from edgehar.data.sources import load_uci_dir
    from edgehar.data.windows import subset

    ws = windows_from_recordings(small_recordings)
    root = tmp_path / "UCI HAR Dataset"
    _write_uci(root, subset(ws, ws.subject != 2), "train")
    _write_uci(root, subset(ws, ws.subject == 2), "test")
    loaded = load_uci_dir(tmp_path)
    # the train split then the test split, each window with its own label and subject, each
    # channel in UCI_SIGNALS order, each sample in time order (%.8e keeps 9 digits)
    expected = [subset(ws, ws.subject != 2), subset(ws, ws.subject == 2)]
    np.testing.assert_allclose(loaded.x, np.concatenate([w.x for w in expected]), rtol=1e-6,
                               atol=1e-12)
    np.testing.assert_array_equal(loaded.y, np.concatenate([w.y for w in expected]))
    np.testing.assert_array_equal(loaded.subject, np.concatenate([w.subject for w in expected]))
    r = CliRunner().invoke(main, ["data", "info", "--source", str(root), "--json", "-"])
    assert r.exit_code == 0, r.output
    import json

    info = json.loads(r.output)
    assert info["splits"]["test"]["subjects"] == [2]
    assert info["splits"]["test"]["windows"] == int((ws.subject == 2).sum())
