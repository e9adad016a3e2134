"""Logs as phones write them: time columns, repeated and backward timestamps, gaps, separate
sensor files, units, and the orientation estimate. Real recordings through the real runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgehar.runtime.errors import EdgeharError
from edgehar.runtime.orientation import (
    RunningOrientation,
    active_windows,
    rotate_windows,
    rotation_between,
)
from edgehar.runtime.preprocess import windows_of
from edgehar.runtime.replay import ReplayOptions, run_replay
from edgehar.runtime.spec import LABELS, STANDARD_GRAVITY

EPOCH_NS = 1_732_000_000_123_456_789


@pytest.fixture(scope="module")
def rec(recordings):
    """Six minutes of test subject 2 with every activity."""
    from edgehar.data.sources import Recording

    r = next(r for r in recordings if r.user == 2)
    return Recording(r.experiment, r.user, r.raw[:18000], r.labels[:18000])


def _write(path, header, t_col, values, names=None):
    with open(path, "w") as f:
        f.write(header + "\n")
        for i in range(len(values)):
            row = f"{t_col[i]}," + ",".join(f"{v:.7g}" for v in values[i])
            f.write(row + (f",{names[i]}" if names is not None else "") + "\n")
    return path


def _names(labels):
    return np.array([LABELS[v - 1] if 1 <= v <= 6 else "" for v in labels])


def _replay(tmp_path, **kw):
    out = tmp_path / f"p{len(list(tmp_path.glob('p*.jsonl')))}.jsonl"
    s = run_replay(ReplayOptions(quiet=True, out=out, **kw))
    return s, [json.loads(line) for line in out.read_text().splitlines()]


@pytest.fixture(scope="module")
def base(rec, tmp_path_factory):
    """The recording as a plain 50 Hz CSV with t in seconds: the reference replay."""
    d = tmp_path_factory.mktemp("base")
    t = np.arange(len(rec.raw)) / 50
    log = _write(d / "base.csv", "t,ax,ay,az,gx,gy,gz,label", [f"{v:.2f}" for v in t], rec.raw,
                 _names(rec.labels))
    return _replay(d, log=log)


@pytest.mark.parametrize("column,scale,offset", [("t_ms", 1e3, 0), ("timestamp_ns", 1e9, EPOCH_NS),
                                                 ("seconds_elapsed", 1.0, 0)])
def test_time_columns_and_epoch_starts_give_the_same_replay(rec, base, tmp_path, column, scale,
                                                            offset):
    t = np.arange(len(rec.raw)) / 50
    t_col = ([f"{v:.2f}" for v in t] if scale == 1.0
             else [str(offset + int(round(v * scale))) for v in t])
    log = _write(tmp_path / "l.csv", f"{column},ax,ay,az,gx,gy,gz,label", t_col, rec.raw,
                 _names(rec.labels))
    s, preds = _replay(tmp_path, log=log)
    assert [p["start"] for p in preds] == [p["start"] for p in base[1]]
    assert max(abs(a - b) for p, q in zip(preds, base[1]) for a, b in zip(p["probs"], q["probs"])
               ) < 1e-3
    assert s["accuracy"] == base[0]["accuracy"]


def test_repeated_and_slightly_earlier_rows_are_merged_and_counted(rec, base, tmp_path):
    t = np.arange(len(rec.raw)) / 50
    rows, names, t_col = [], [], []
    for i in range(len(t)):
        rows.append(rec.raw[i])
        names.append(_names(rec.labels[i:i + 1])[0])
        t_col.append(f"{t[i]:.3f}")
        if i % 50 == 7:     # the HAL repeats a timestamp
            rows.append(rec.raw[i] + 0.01)
            names.append(names[-1])
            t_col.append(f"{t[i]:.3f}")
        if i % 100 == 31:   # a row 5 ms in the past (clock jitter)
            rows.append(rec.raw[i])
            names.append(names[-1])
            t_col.append(f"{t[i] - 0.005:.3f}")
    log = _write(tmp_path / "dup.csv", "t,ax,ay,az,gx,gy,gz,label", t_col, np.array(rows), names)
    s, preds = _replay(tmp_path, log=log)
    q = s["data_quality"]
    assert q["duplicates"] == len(t_col) - len(t) and q["gaps"] == 0
    assert [p["label"] for p in preds] == [p["label"] for p in base[1]]


def test_time_running_backwards_names_the_line(tmp_path):
    t = [f"{i / 50:.3f}" for i in range(400)]
    t[250] = "2.000"   # 3 s back
    log = _write(tmp_path / "back.csv", "t,ax,ay,az,gx,gy,gz", t, np.tile([0, 0, 1, 0, 0, 0], (400, 1)))
    with pytest.raises(EdgeharError, match="time runs backwards at line 252"):
        run_replay(ReplayOptions(log=log, quiet=True))


def test_the_first_bad_line_is_named_when_a_bad_row_follows_a_time_step_back(tmp_path):
    """Careful parser: the rows before a malformed one reach the stream first, so the earlier
    problem is named, whatever digits the log's path holds."""
    from edgehar.runtime.logs import open_log

    rows = [f"{i / 50:.3f},0.1,0.9,0.2,0.01,0.0,0.02" for i in range(10)]
    rows[3] = "0.000,0.1,0.9,0.2,0.01,0.0,0.02"   # line 5: time steps back
    rows[5] = "0"                                 # line 7: one column
    path = tmp_path / "line 3" / "log.csv"
    path.parent.mkdir()
    path.write_text("\n".join(["t,ax,ay,az,gx,gy,gz", *rows]) + "\n")
    with pytest.raises(EdgeharError, match="time runs backwards at line 5 "):
        list(open_log(path))


@pytest.mark.parametrize("cut1", [6144, 6150])   # data resumes on / off the 64-sample hop grid
def test_a_long_gap_splits_the_stream_and_restarts_the_filters(rec, tmp_path, cut1):
    n = len(rec.raw)
    cut0 = 6000                                   # ~2.9 s without data
    keep = np.r_[0:cut0, cut1:n]
    t = np.arange(n) / 50
    log = _write(tmp_path / "gap.csv", "t,ax,ay,az,gx,gy,gz,label", [f"{v:.2f}" for v in t[keep]],
                 rec.raw[keep], _names(rec.labels[keep]))
    # fixed orientation: an auto estimate rightly carries over the gap, the filters do not
    s, preds = _replay(tmp_path, log=log, max_gap=1.0, orientation="fixed")
    q = s["data_quality"]
    assert q["gaps"] == 1 and abs(q["gap_seconds"] - (cut1 - cut0 + 1) / 50) < 1e-6
    assert s["samples"] == len(keep)                # the gap is not counted as stream time
    assert not any(p["start"] < cut1 and p["end"] > cut0 - 1 for p in preds)   # none spans it
    assert all(p["start"] % 64 == 0 for p in preds)   # windows stay on the stream's hop grid
    after = [p for p in preds if p["start"] >= cut1]
    assert after[0]["start"] == -(-cut1 // 64) * 64
    if cut1 % 64 == 0:
        # the filters restarted: the windows after the gap equal a replay of that part alone
        alone = _write(tmp_path / "after.csv", "t,ax,ay,az,gx,gy,gz", [f"{v:.2f}" for v in t[cut1:]],
                       rec.raw[cut1:])
        _, ref = _replay(tmp_path, log=alone, orientation="fixed")
        assert len(ref) == len(after)
        assert max(abs(a - b) for p, r in zip(after, ref) for a, b in zip(p["probs"], r["probs"])
                   ) < 1e-5
    # a gap under --max-gap is bridged instead
    s2, preds2 = _replay(tmp_path, log=log, max_gap=5.0)
    assert s2["data_quality"]["gaps"] == 0 and s2["data_quality"]["interpolated_gaps"] == 1
    assert len(preds2) > len(preds)


def test_separate_sensor_files_in_deg_s_match_one_csv(rec, base, tmp_path):
    t = np.arange(len(rec.raw)) / 50
    ns = [str(EPOCH_NS + int(round(v * 1e9))) for v in t]
    acc = _write(tmp_path / "acc.csv", "timestamp_ns,x,y,z,label", ns,
                 rec.raw[:, :3] * STANDARD_GRAVITY, _names(rec.labels))
    # the gyroscope at its own rate and start, as a phone delivers it
    tg = np.arange(0.013, t[-1], 1 / 80)
    gyro = np.stack([np.interp(tg, t, rec.raw[:, 3 + j]) for j in range(3)], 1)
    gyr = _write(tmp_path / "gyro.csv", "timestamp_ns,z,y,x",
                 [str(EPOCH_NS + int(round(v * 1e9))) for v in tg], np.degrees(gyro[:, ::-1]))
    s, preds = _replay(tmp_path, log=acc, gyro=gyr, acc_units="m/s2", gyro_units="deg/s")
    assert s["data_quality"]["gyro_rate_hz"] == pytest.approx(80, rel=0.01)
    base_labels = {p["start"]: p["label"] for p in base[1]}
    # the grid starts where both sensors have data (13 ms later): same windows, shifted 13 ms
    agree = np.mean([base_labels.get(p["start"]) == p["label"] for p in preds])
    assert agree > 0.97
    assert abs(s["accuracy"] - base[0]["accuracy"]) < 0.02


@pytest.mark.parametrize("scale,units,message", [
    (STANDARD_GRAVITY, "g", "pass --acc-units m/s2"),
    (1.0, "m/s2", "pass --acc-units g"),
    ("linear", "g", "gravity looks removed"),
    ("deg", "g", "--gyro-units deg/s"),
])
def test_units_check_says_what_is_wrong(rec, tmp_path, scale, units, message):
    raw = rec.raw[:3000].copy()
    if scale == "linear":
        raw[:, :3] -= raw[:, :3].mean(0)
    elif scale == "deg":
        raw[:, 3:] = np.degrees(raw[:, 3:])
    else:
        raw[:, :3] *= scale
    log = _write(tmp_path / "u.csv", "t,ax,ay,az,gx,gy,gz", [f"{i / 50:.2f}" for i in range(3000)],
                 raw)
    with pytest.raises(EdgeharError, match=message):
        run_replay(ReplayOptions(log=log, acc_units=units, gyro_units="rad/s", quiet=True))


def _random_rotation(rng):
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_rotation_commutes_with_the_preprocessing(rec, rng):
    rot = _random_rotation(rng)
    raw = rec.raw[:4000]
    turned = np.concatenate([raw[:, :3] @ rot.T, raw[:, 3:] @ rot.T], 1)
    a = rotate_windows(windows_of(raw).windows, rot)
    b = windows_of(turned).windows
    assert np.abs(a - b).max() < 1e-4


def test_auto_orientation_finds_the_vertical_whatever_the_chunking(rec, rng):
    w = windows_of(rec.raw)
    act = active_windows(w.windows)
    walking = act & np.r_[False, act[:-1]] & np.r_[False, False, act[:-2]]
    g_walk = w.windows[walking][..., 6:9].mean(axis=(0, 1))   # the wearer's vertical, device frame
    g_walk /= np.linalg.norm(g_walk)
    reference = np.array([0.0, 0.0, 1.0])
    rot = _random_rotation(rng)
    turned = rotate_windows(w.windows, rot)
    est = RunningOrientation(tuple(reference))
    out = est(turned, w.starts)
    assert est.settled_at_s is not None and est.state()["walking_windows"] == walking.sum()
    final = np.array(est.state()["rotation"])
    np.testing.assert_allclose(final @ rot @ g_walk, reference, atol=1e-5)
    # before settling the stream is used as recorded
    first = int(np.flatnonzero(w.starts == est.settled_window_start())[0])
    np.testing.assert_array_equal(out[:first], turned[:first])
    # window by window gives the same rotations as one batch
    one = RunningOrientation(tuple(reference))
    step = np.concatenate([one(turned[i:i + 1], w.starts[i:i + 1]) for i in range(len(turned))])
    assert np.abs(step - out).max() < 1e-5 and one.settled_at_s == est.settled_at_s


def test_rotation_between_maps_a_onto_b(rng):
    for _ in range(20):
        a, b = rng.normal(size=3), rng.normal(size=3)
        r = rotation_between(a, b)
        np.testing.assert_allclose(r @ (a / np.linalg.norm(a)), b / np.linalg.norm(b), atol=1e-9)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(rotation_between(np.array([0, 0, 1.0]), np.array([0, 0, -1.0]))
                               @ [0, 0, 1.0], [0, 0, -1.0], atol=1e-9)


def _still(n, rate=50.0, t0=0.0):
    """n rows of a phone lying still (1 g on z), as (t strings, values)."""
    t = t0 + np.arange(n) / rate
    return [f"{v:.3f}" for v in t], np.tile([0.0, 0.0, 1.0, 0.0, 0.0, 0.0], (n, 1))


def test_a_night_without_data_costs_nothing(tmp_path):
    t1, v1 = _still(1500)
    t2, v2 = _still(1500, t0=30 + 10 * 3600)           # ten hours later
    log = _write(tmp_path / "night.csv", "t,ax,ay,az,gx,gy,gz", t1 + t2, np.concatenate([v1, v2]))
    s, preds = _replay(tmp_path, log=log, orientation="fixed")
    q = s["data_quality"]
    assert q["gaps"] == 1 and q["gap_seconds"] == pytest.approx(10 * 3600, abs=0.1)
    assert q["input_rate_hz"] == pytest.approx(50, rel=0.01)   # gap time left out of the rate
    assert s["samples"] == 3000 and s["stream_seconds"] == pytest.approx(60)
    assert preds[-1]["start"] > 10 * 3600 * 50           # indices keep the true time


def test_a_clock_jump_is_refused_naming_the_line(tmp_path):
    t, v = _still(400)
    t[300] = "1e12"
    log = _write(tmp_path / "jump.csv", "t,ax,ay,az,gx,gy,gz", t, v)
    with pytest.raises(EdgeharError, match="time jumps by .* at line 302"):
        run_replay(ReplayOptions(log=log, quiet=True))


@pytest.mark.parametrize("label", ["65537", "0", "2.5", "1e300", "RUNNING"])
def test_a_label_the_model_has_no_class_for_is_not_scored_and_is_reported(tmp_path, label):
    t, v = _still(300)
    names = ["STANDING"] * 300
    names[150] = label
    log = _write(tmp_path / "lab.csv", "t,ax,ay,az,gx,gy,gz,label", t, v, names)
    s = run_replay(ReplayOptions(log=log, quiet=True, orientation="fixed"))
    assert s["data_quality"]["unknown_labels"] == {label: 1}
    # windows 0 and 64 hold the odd row (150); window 128 does not and is scored
    assert s["windows"] == 3 and s["scored_windows"] == 1


def test_label_ids_are_hapt_ids_mapped_by_name_to_the_models_classes():
    from edgehar.runtime.logs import LabelVocabulary

    vocab = LabelVocabulary(("LAYING", "WALKING", "SIT_TO_STAND"))   # another order, a subset
    lut = vocab.hapt_lut()
    assert lut[6] == 1 and lut[1] == 2 and lut[8] == 3 and lut[2] == -1 and lut[0] == -1
    ids = vocab(["WALKING", "6", "1", "STANDING", ""], None, 2)
    assert ids.tolist() == [2, 1, 2, -1, -1] and vocab.unknown == {"STANDING": 1}


def test_pair_quality_counts_a_shared_pause_once_and_stops_at_the_shorter_file(tmp_path):
    ta = [f"{i / 100:.3f}" for i in range(6000) if not 2000 <= i < 2500]   # 5 s pause in both
    tg = [f"{i / 100 + 0.004:.3f}" for i in range(3000) if not 2000 <= i < 2500]
    acc = _write(tmp_path / "a.csv", "t,x,y,z", ta, np.tile([0.0, 0.0, 9.81], (len(ta), 1)))
    gyr = _write(tmp_path / "g.csv", "t,x,y,z", tg, np.zeros((len(tg), 3)))
    s, preds = _replay(tmp_path, log=acc, gyro=gyr, acc_units="m/s2", orientation="fixed")
    assert s["data_quality"]["gaps"] == 1
    assert preds[-1]["end"] <= 30 * 50      # the gyroscope file ends at 30 s
    far = _write(tmp_path / "far.csv", "t,x,y,z", [f"{1000 + i / 100:.3f}" for i in range(500)],
                 np.zeros((500, 3)))
    with pytest.raises(EdgeharError, match="do not overlap in time"):
        run_replay(ReplayOptions(log=acc, gyro=far, acc_units="m/s2", quiet=True))


def test_chunk_size_of_the_reader_changes_nothing(rec, tmp_path):
    from edgehar.runtime.logs import csv_rows, read_csv_log

    t = np.arange(3000) / 100 + np.random.default_rng(1).uniform(-0.002, 0.002, 3000)
    t = np.sort(t)
    t[::37] = t[np.maximum(np.arange(0, 3000, 37) - 1, 0)]        # repeats
    keep = ~((t > 12) & (t < 14.5))                                  # a 2.5 s gap
    vals = rec.raw[:3000][keep]
    log = tmp_path / "c.csv"
    with open(log, "w") as f:                                        # trailing commas too
        f.write("t,ax,ay,az,gx,gy,gz,\n")
        for ti, row in zip(t[keep], vals):
            f.write(f"{ti:.4f}," + ",".join(f"{x:.7g}" for x in row) + ",\n")
    a = list(read_csv_log(csv_rows(log)))
    b = list(read_csv_log(csv_rows(log, chunk_rows=7)))
    cat = lambda cs: (np.concatenate([c.samples for c in cs]), [(c.start, c.new_segment)  # noqa: E731
                                                                for c in cs if c.new_segment])
    (xa, sa), (xb, sb) = cat(a), cat(b)
    np.testing.assert_allclose(xa, xb, rtol=0, atol=1e-12)   # the same samples, to rounding
    assert sa == sb and len(sa) == 2


def test_a_bad_orientation_in_a_manifest_is_refused(shipped_bundle, tmp_path):
    import shutil

    b = tmp_path / "b"
    shutil.copytree(shipped_bundle, b)
    m = json.loads((b / "manifest.json").read_text())
    m["orientation"]["vertical"] = [0, 0, 0]
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(EdgeharError, match="malformed manifest"):
        run_replay(ReplayOptions(log=tmp_path / "x.csv", model=b, quiet=True))


def test_interpolation_slices_rows_on_the_grid_and_gathers_them_elsewhere():
    """TimedStream.sample takes rows by slicing where the points take consecutive rows (a log
    written at 50 Hz) and by gathering elsewhere: the same linear interpolation either way."""
    from edgehar.runtime.logs.chunk import DataQuality
    from edgehar.runtime.logs.resample import TimedStream

    rng = np.random.default_rng(5)
    for rate in (50.0, 50.0, 100.0, 37.3, 200.0):
        n = int(rng.integers(50, 400))
        t = np.round(np.arange(n) / rate + rng.normal(0, 2e-4, n) * (rate == 200.0), 3)
        t = np.unique(t)
        stream = TimedStream(Path("x.csv"), DataQuality(), 1.0)
        stream.push(t, rng.normal(size=(len(t), 7)), 2)
        grid = t[0] + np.arange(int((t[-1] - t[0]) * 50 + 1e-9) + 1) * 0.02
        for g in (grid, grid[3:], grid[:-2], grid[:1]):
            i = np.clip(np.searchsorted(stream.t, g + 1e-6, side="right"), 1, len(t) - 1)
            w = ((g - stream.t[i - 1]) / (stream.t[i] - stream.t[i - 1]))[:, None]
            want = stream.v[i - 1] + (stream.v[i] - stream.v[i - 1]) * w
            got, span = stream.sample(g)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
            np.testing.assert_allclose(span, stream.t[i] - stream.t[i - 1])
