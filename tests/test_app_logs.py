"""Phone-app exports as the apps write them (tests/fixtures/apps, from their documented formats):
replayed with no flag, units from the header or the data, folders as one recording, --columns."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgehar.runtime.errors import EdgeharError
from edgehar.runtime.logs import find_columns, logs_under, open_log, parse_mapping

APPS = Path(__file__).parent / "fixtures" / "apps"
SAMPLE = Path(__file__).parents[1] / "edgehar" / "assets" / "sample_user02.csv"
FIXTURES = ["phyphox", "sensor_logger", "physics_toolbox.csv", "physics_toolbox_two",
            "edgehar_ms2_degs.csv"]
EXPECTED = json.loads((APPS / "expected.json").read_text())


def _samples(path: Path, **kw) -> tuple[np.ndarray, dict]:
    src = open_log(path, **kw)
    x = np.concatenate([c.samples for c in src])
    return x, src.quality.to_dict()


def _original(name: str, n: int) -> np.ndarray:
    """The sample recording's rows the fixture was written from, on its 50 Hz grid."""
    rows = np.loadtxt(SAMPLE, delimiter=",", skiprows=1, usecols=range(1, 7))
    first, _ = EXPECTED["sample_rows"]
    fixture = EXPECTED["fixtures"][name]
    t0 = fixture["log_t0_s"] * 50
    if name == "physics_toolbox.csv":   # its leading all-zero row is skipped: time starts later
        second = (APPS / name).read_text().splitlines()[2]
        t0 = (float(second.split(",")[0]) - fixture["extra"]["clock_offset_s"]) * 50
    k = first + t0 + np.arange(n)
    return np.stack([np.interp(k, np.arange(len(rows)), rows[:, j]) for j in range(6)], 1)


@pytest.mark.parametrize("name", FIXTURES)
def test_each_app_export_reads_as_the_recording_it_was_written_from(name):
    x, quality = _samples(APPS / name)
    assert len(x) >= 750
    ref = _original(name, len(x))
    # the apps' own jittered rates, resampled twice: close, not equal (Physics Toolbox's one
    # file holds each sensor's last value between its rows: ~10 ms stale)
    loose = 3 if name == "physics_toolbox.csv" else 1
    assert np.median(np.abs(x[:, :3] - ref[:, :3])) < 0.02 * loose      # g
    assert np.median(np.abs(x[:, 3:] - ref[:, 3:])) < 0.05 * loose      # rad/s
    units = quality["units_check"]
    assert (units["acc_units"], units["gyro_units"]) == {
        "phyphox": ("m/s2", "rad/s"), "sensor_logger": ("m/s2", "rad/s"),
        "physics_toolbox.csv": ("g", "rad/s"), "physics_toolbox_two": ("g", "rad/s"),
        "edgehar_ms2_degs.csv": ("m/s2", "deg/s")}[name]
    if name in ("phyphox", "physics_toolbox.csv"):
        assert units["acc_units_from"] == "header"       # "(m/s^2)", "gF"
    if name == "edgehar_ms2_degs.csv":
        assert units["acc_units_from"] == units["gyro_units_from"] == "auto"


def test_the_cli_replays_every_export_with_no_flag_and_the_same_activities(tmp_path):
    labels = {}
    for name in FIXTURES:
        out = tmp_path / f"{name}.jsonl"
        r = subprocess.run([sys.executable, "-m", "edgehar.runtime", "replay", str(APPS / name),
                            "--out", str(out), "--orientation", "fixed"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        labels[name] = [json.loads(ln)["label"] for ln in out.read_text().splitlines()]
    first = labels.pop("edgehar_ms2_degs.csv")
    for name, got in labels.items():
        agree = np.mean([a == b for a, b in zip(first, got)])
        assert len(got) == len(first) and agree >= 0.8, (name, got, first)


def test_one_file_of_a_pair_brings_its_partner():
    a, _ = _samples(APPS / "phyphox" / "Accelerometer.csv")
    b, _ = _samples(APPS / "phyphox")
    np.testing.assert_array_equal(a, b)
    a, _ = _samples(APPS / "sensor_logger" / "TotalAcceleration.csv")
    b, _ = _samples(APPS / "sensor_logger")
    np.testing.assert_array_equal(a, b)


def test_sensor_loggers_gravity_free_accelerometer_is_refused_naming_the_right_file(tmp_path):
    with pytest.raises(EdgeharError, match="TotalAcceleration.csv"):
        open_log(APPS / "sensor_logger" / "Accelerometer.csv")
    export = tmp_path / "export"
    shutil.copytree(APPS / "sensor_logger", export)
    (export / "TotalAcceleration.csv").unlink()
    # iOS writes no total acceleration: Accelerometer.csv + Gravity.csv are summed
    total, _ = _samples(APPS / "sensor_logger")
    summed, _ = _samples(export)
    assert np.median(np.abs(summed - total)) < 1e-3
    summed_too, _ = _samples(export / "Accelerometer.csv")
    np.testing.assert_array_equal(summed, summed_too)
    (export / "Gravity.csv").unlink()
    with pytest.raises(EdgeharError, match="without TotalAcceleration.csv"):
        open_log(export)
    # given as a pair by hand, the units check names the file too
    with pytest.raises(EdgeharError, match="gravity removed: use TotalAcceleration.csv"):
        list(open_log(export / "Accelerometer.csv", gyro_path=export / "Gyroscope.csv"))


def test_an_unknown_header_lists_the_accepted_names_and_columns_maps_it(tmp_path):
    text = SAMPLE.read_text().splitlines()
    odd = tmp_path / "odd.csv"
    odd.write_text("\n".join(["Zeit,AccX,AccY,AccZ,GyrX,GyrY,GyrZ,label"] + text[1:3001]) + "\n")
    with pytest.raises(EdgeharError) as e:
        open_log(odd)
    msg = str(e.value)
    for name in ("seconds_elapsed", "gFx", "Acceleration x (m/s^2)", "wx", "--columns"):
        assert name in msg
    mapped, _ = _samples(odd, columns="t=Zeit,ax=AccX,ay=AccY,az=AccZ,gx=GyrX,gy=GyrY,gz=GyrZ")
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(text[:3001]) + "\n")
    ref, _ = _samples(plain)
    np.testing.assert_array_equal(mapped, ref)
    with pytest.raises(EdgeharError, match="lacks"):
        open_log(odd, columns="t=Time,ax=AccX,ay=AccY,az=AccZ,gx=GyrX,gy=GyrY,gz=GyrZ")
    with pytest.raises(EdgeharError, match="KEY=NAME"):
        parse_mapping("t=Zeit,q=AccX")


def test_per_sensor_files_take_their_sensors_names_and_time_is_seconds_or_epoch_ns(tmp_path):
    rows = np.loadtxt(SAMPLE, delimiter=",", skiprows=1, usecols=range(0, 7))[:3000]
    t = rows[:, 0]

    def write(path, header, tcol, vals):
        np.savetxt(path, np.column_stack([tcol, vals]), delimiter=",", header=header, comments="",
                   fmt=["%.0f" if tcol.max() > 1e15 else "%.4f"] + ["%.6f"] * 3)

    write(tmp_path / "acc.csv", "t,ax,ay,az", t, rows[:, 1:4])
    write(tmp_path / "gyro.csv", "t,gx,gy,gz", t, rows[:, 4:7])
    a, _ = _samples(tmp_path / "acc.csv", gyro_path=tmp_path / "gyro.csv")
    ns = np.round(1.7e18 + t * 1e9)
    write(tmp_path / "acc_ns.csv", "time,x,y,z", ns, rows[:, 1:4])
    write(tmp_path / "gyro_ns.csv", "time,x,y,z", ns, rows[:, 4:7])
    b, _ = _samples(tmp_path / "acc_ns.csv", gyro_path=tmp_path / "gyro_ns.csv")
    assert len(a) == len(b) == 3000
    np.testing.assert_allclose(a, b, atol=1e-5)   # epoch ns in float64: 256 ns steps


def test_columns_are_found_by_family_with_units():
    c = find_columns(['"Time (s)"'.strip('"'), "Acceleration x (m/s^2)", "Acceleration y (m/s^2)",
                      "Acceleration z (m/s^2)"], "acc")
    assert (c.time, c.acc_units, c.app, c.time_scale) == ("Time (s)", "m/s2", "phyphox", 1.0)
    c = find_columns(["time", "gFx", "gFy", "gFz", "ax", "ay", "az", "wx", "wy", "wz"], "both")
    assert c.sensors == ("gFx", "gFy", "gFz", "wx", "wy", "wz")   # not the linear ax,ay,az
    assert c.acc_units == "g" and c.time_scale is None           # time: by magnitude
    c = find_columns(["time", "seconds_elapsed", "z", "y", "x"], "gyro")
    assert c.sensors == ("x", "y", "z") and c.time == "seconds_elapsed"
    with pytest.raises(EdgeharError, match="linear acceleration"):
        find_columns(["Time (s)", "Linear Acceleration x (m/s^2)", "Linear Acceleration y (m/s^2)",
                      "Linear Acceleration z (m/s^2)"], "acc")
    with pytest.raises(EdgeharError, match="unknown units"):
        find_columns(["t", "Acceleration x (furlong)", "Acceleration y (furlong)",
                      "Acceleration z (furlong)"], "acc")


def test_an_export_folder_is_one_log_in_a_fleet_and_a_directory_of_them_is_a_fleet(tmp_path):
    fleet = tmp_path / "fleet"
    for name in FIXTURES:
        src = APPS / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, fleet / "phone" / name)
    assert logs_under(fleet / "phone" / "sensor_logger") == [fleet / "phone" / "sensor_logger"]
    found = [p.name for p in logs_under(fleet)]
    assert found == sorted(FIXTURES)            # meta/, Gravity.csv, Metadata.csv: not logs
    pytest.importorskip("click", reason="fleet replay is the full install's `edgehar replay`")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", "from edgehar.cli import main; main()", "replay",
                        str(fleet), "--out-dir",
                        str(out), "--workers", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "fleet.json").read_text())
    assert (report["totals"]["logs"], report["totals"]["failed"]) == (len(FIXTURES), 0)
    assert (out / "phyphox.jsonl").is_file() and (out / "physics_toolbox_two.jsonl").is_file()


def test_a_labelled_directory_takes_an_export_folder_as_one_recording(tmp_path):
    from edgehar.data.labelled import find_logs, load_labelled_dir

    root = tmp_path / "mine"
    export = root / "user7_walk"
    shutil.copytree(APPS / "phyphox", export)
    acc = export / "Accelerometer.csv"
    lines = acc.read_text().splitlines()
    acc.write_text("\n".join([lines[0] + ',"label"'] + [ln + ",WALKING_UPSTAIRS"
                                                        for ln in lines[1:]]) + "\n")
    plain = root / "user8.csv"
    plain.write_text(SAMPLE.read_text())
    assert find_logs(root) == [export, plain]
    recs, classes, _ = load_labelled_dir(root)
    assert sorted({r.user for r in recs}) == [7, 8]
    mine = [r for r in recs if r.user == 7]
    assert len(mine) == 1 and len(mine[0].raw) > 750
    assert (mine[0].labels == 1 + classes.index("WALKING_UPSTAIRS")).mean() > 0.95
