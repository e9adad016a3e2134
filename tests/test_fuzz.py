"""Any bytes in, one line out: property-based fuzzing of every log reader and option.

The runtime CLI runs in-process (the same ``main`` as ``python -m edgehar.runtime``), so a few
thousand cases fit in CI time; an exception escaping ``main`` would be the traceback a user
sees, and fails the test. A case either replays (exit 0, a complete JSON Lines file) or is
refused with exactly one stderr line, exit 2, and no output file left behind."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edgehar.runtime.assets import PRETRAINED  # noqa: E402
from edgehar.runtime.cli import main  # noqa: E402

FUZZ = settings(max_examples=500, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _valid_csv(rows: int = 300, header: str = "t,ax,ay,az,gx,gy,gz,label") -> bytes:
    lines = [header] + [f"{i / 50:.3f},0.1,0.9,0.2,0.01,0.0,0.02,WALKING" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _valid_axis_csv(rows: int, rate: float) -> bytes:
    lines = ["timestamp_ns,x,y,z"] + [f"{1_700_000_000_000_000_000 + int(i * 1e9 / rate)},"
                                      "0.1,9.7,0.5" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def replay(files: dict[str, bytes], args: list[str]) -> tuple[int, str, Path]:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for name, content in files.items():
            (d / name).write_bytes(content)
        out = d / "pred.jsonl"
        argv = ["replay", *[a.replace("{d}", str(d)) for a in args], "--model", str(PRETRAINED),
                "--out", str(out)]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        check(code, err.getvalue(), out, d)
        return code, err.getvalue(), out


def check(code: int, err: str, out: Path, d: Path) -> None:
    lines = err.strip().splitlines()
    if code == 0:
        preds = [json.loads(line) for line in out.read_text().splitlines()]
        assert preds and all(p["end"] - p["start"] == 128 for p in preds)
    else:
        assert code == 2, err
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert "internal error" not in err and "Traceback" not in err, err
        assert not out.exists()
        assert not list(d.glob(".pred.jsonl.*")), "temp output left behind"


def mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    """Byte flips, deletions, duplications and truncation at drawn positions."""
    b = bytearray(data)
    for kind, pos, val in ops:
        if not b:
            break
        i = pos % len(b)
        if kind == 0:
            b[i] = val
        elif kind == 1:
            del b[i:i + 1 + val % 40]
        elif kind == 2:
            b[i:i] = b[i:i + 1 + val % 80]
        else:
            del b[i:]
    return bytes(b)


ops = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.integers(0, 255)),
               min_size=1, max_size=6)
units = st.tuples(st.sampled_from(["g", "m/s2"]), st.sampled_from(["rad/s", "deg/s"]),
                  st.sampled_from(["fixed", "auto", "running"]))


@FUZZ
@given(data=st.binary(max_size=4096), name=st.sampled_from(["log.csv", "acc_exp01_user01.txt"]))
def test_random_bytes_any_reader(data, name):
    files = {name: data}
    if name.startswith("acc_"):
        files["gyro_exp01_user01.txt"] = data[::-1]
    replay(files, ["{d}/" + name])


@FUZZ
@given(m=ops, u=units, chunk=st.integers(-3, 300), max_gap=st.sampled_from(["1", "0.05", "0",
                                                                           "-1", "nan", "inf"]))
def test_mutated_csv_and_options(m, u, chunk, max_gap):
    acc_units, gyro_units, orientation = u
    replay({"log.csv": mutate(_valid_csv(), m)},
           ["{d}/log.csv", "--acc-units", acc_units, "--gyro-units", gyro_units,
            "--orientation", orientation, "--chunk", str(chunk), "--max-gap", max_gap])


@FUZZ
@given(ma=ops, mg=ops, which=st.integers(0, 2))
def test_mutated_separate_sensor_files(ma, mg, which):
    acc, gyro = _valid_axis_csv(400, 100), _valid_axis_csv(600, 150)
    if which in (0, 2):
        acc = mutate(acc, ma)
    if which in (1, 2):
        gyro = mutate(gyro, mg)
    replay({"acc.csv": acc, "gyro.csv": gyro},
           ["--acc", "{d}/acc.csv", "--gyro", "{d}/gyro.csv", "--acc-units", "m/s2"])


@FUZZ
@given(m=ops, target=st.sampled_from(["acc", "gyro", "labels"]))
def test_mutated_hapt_pair_and_labels(m, target):
    rows = "".join("1.0 0.01 0.02\n" for _ in range(300)).encode()
    grows = "".join("0.01 0.0 0.02\n" for _ in range(300)).encode()
    labels = b"1 1 1 0 150\n1 1 4 151 299\n"
    files = {"acc_exp01_user01.txt": rows, "gyro_exp01_user01.txt": grows, "labels.txt": labels}
    key = {"acc": "acc_exp01_user01.txt", "gyro": "gyro_exp01_user01.txt",
           "labels": "labels.txt"}[target]
    files[key] = mutate(files[key], m)
    replay(files, ["{d}/acc_exp01_user01.txt", "--labels", "{d}/labels.txt"])


def test_the_unmutated_inputs_replay():
    """The seeds of the mutations are valid logs, so the properties above test both paths."""
    assert replay({"log.csv": _valid_csv()}, ["{d}/log.csv"])[0] == 0
    assert replay({"a.csv": _valid_axis_csv(400, 100), "g.csv": _valid_axis_csv(600, 150)},
                  ["--acc", "{d}/a.csv", "--gyro", "{d}/g.csv", "--acc-units", "m/s2"])[0] == 0


def _read_all(path: Path, arrow: bool):
    """Every chunk a CSV log yields (or its one error), through pyarrow's parser or the
    careful one."""
    import numpy as np

    from edgehar.runtime.errors import EdgeharError
    from edgehar.runtime.logs import open_log

    try:
        src = open_log(path, "auto", gyro_units="auto", reader="arrow" if arrow else "text")
        chunks = list(src)   # chunk boundaries may differ; the stream may not
        samples = np.concatenate([c.samples for c in chunks]) if chunks else np.zeros(0)
        labels = [c.labels for c in chunks if c.labels is not None]
        return ("ok", [c.start for c in chunks if c.new_segment], np.round(samples, 12).tobytes(),
                np.concatenate(labels).tobytes() if labels else None, src.quality.to_dict())
    except EdgeharError as e:
        return ("error", str(e))


@FUZZ
@given(m=ops, header=st.sampled_from(["t,ax,ay,az,gx,gy,gz,label", "t,ax,ay,az,gx,gy,gz",
                                      "label,t,gx,gy,gz,ax,ay,az", "t,ax,ay,az,gx,gy,gz,"]))
def test_pyarrow_and_careful_csv_parsers_agree(m, header):
    """The fleet's fast path (pyarrow) reads what the careful parser reads, and where a block
    is not plain numeric rows it hands over, so errors name the same line."""
    pytest.importorskip("pyarrow")
    with tempfile.TemporaryDirectory() as d:
        rows = [f"{i / 50:.3f},0.1,0.9,0.2,0.01,0.0,0.02,WALKING" for i in range(400)]
        if header.startswith("label"):
            rows = [f"WALKING,{i / 50:.3f},0.01,0.0,0.02,0.1,0.9,0.2" for i in range(400)]
        elif header.endswith(","):
            rows = [r.rsplit(",", 1)[0] + "," for r in rows]
        elif not header.endswith("label"):
            rows = [r.rsplit(",", 1)[0] for r in rows]
        path = Path(d) / "log.csv"
        path.write_bytes(mutate(("\n".join([header, *rows]) + "\n").encode(), m))
        fast, careful = _read_all(path, arrow=True), _read_all(path, arrow=False)
        if fast[0] == careful[0] == "error":   # the same line named (chunk boundaries may
            line = re.compile(r"line (\d+)")  # change the wording around it)
            assert line.findall(fast[1]) == line.findall(careful[1]), (fast, careful)
        else:
            assert fast == careful


FUZZ_APPS = settings(FUZZ, max_examples=200)
PHYPHOX = {"Accelerometer.csv": '"Time (s)","Acceleration x (m/s^2)","Acceleration y (m/s^2)",'
                                '"Acceleration z (m/s^2)"',
           "Gyroscope.csv": '"Time (s)","Gyroscope x (rad/s)","Gyroscope y (rad/s)",'
                            '"Gyroscope z (rad/s)"'}


def _app_export(app: str) -> dict[str, bytes]:
    """A short, valid export folder of ``app`` (the headers of tests/fixtures/apps)."""
    def rows(first, rate, values, n=700, fmt="{:.6f}"):
        return "".join(f"{fmt.format(first + i / rate)},{values}\n" for i in range(n))
    if app == "phyphox":
        return {"rec/Accelerometer.csv": (PHYPHOX["Accelerometer.csv"] + "\n"
                                          + rows(0.0, 60, "1.0E-1,9.7E0,5.0E-1")).encode(),
                "rec/Gyroscope.csv": (PHYPHOX["Gyroscope.csv"] + "\n"
                                      + rows(0.001, 55, "1.0E-2,0.0E0,2.0E-2")).encode(),
                "rec/meta/device.csv": b'"property","value"\n"deviceModel","X"\n'}
    if app == "sensor_logger":
        head = "time,seconds_elapsed,z,y,x\n"
        t = [f"{1_700_000_000_000_000_000 + i * 20_000_000},{i / 50:.6f}" for i in range(700)]
        return {"rec/TotalAcceleration.csv": (head + "".join(f"{x},0.5,9.7,0.1\n"
                                                             for x in t)).encode(),
                "rec/Gyroscope.csv": (head + "".join(f"{x},0.02,0.0,0.01\n" for x in t)).encode(),
                "rec/Metadata.csv": b"version,device name,recording time,platform\n1,X,0,android\n"}
    return {"rec/physics_toolbox.csv": ("time,gFx,gFy,gFz,wx,wy,wz\n"
                                        + rows(0.0, 100, "0.1,0.98,0.05,0.01,0.0,0.02")).encode()}


def _log_of(app: str) -> str:
    """What a user gives replay: the export folder, or Physics Toolbox's one file."""
    return "rec/physics_toolbox.csv" if app == "physics_toolbox" else "rec"


@FUZZ_APPS
@given(m=ops, app=st.sampled_from(["phyphox", "sensor_logger", "physics_toolbox"]),
       which=st.integers(0, 1))
def test_mutated_app_exports(m, app, which):
    files = _app_export(app)
    logs = sorted(k for k in files if "meta" not in k and "Metadata" not in k)
    key = logs[which % len(logs)]
    files[key] = mutate(files[key], m)
    with tempfile.TemporaryDirectory() as d:
        for name, content in files.items():
            (Path(d) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(d) / name).write_bytes(content)
        out = Path(d) / "pred.jsonl"
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["replay", f"{d}/{_log_of(app)}", "--model", str(PRETRAINED), "--out",
                         str(out)])
        check(code, err.getvalue(), out, Path(d))


NAMES = ["t", "time", "Time (s)", "seconds_elapsed", "t_ms", "timestamp_ns", "ax", "ay", "az",
         "gx", "gy", "gz", "gFx", "gFy", "gFz", "wx", "wy", "wz", "x", "y", "z", "label",
         "Acceleration x (m/s^2)", "Acceleration y (g)", "Acceleration z (furlong)",
         "Gyroscope x (rad/s)", "Gyroscope y (deg/s)", "Gyroscope z (°/s)",
         "Linear Acceleration x (m/s^2)", "", '"', "=", "é"]


@FUZZ_APPS
@given(header=st.lists(st.sampled_from(NAMES) | st.text(max_size=12), min_size=1, max_size=9),
       data=st.data())
def test_any_header_and_columns(header, data):
    """Any header names, with rows of as many numbers, and any --columns mapping onto them."""
    width = len(header)
    line = ",".join(header).replace("\n", " ").replace("\r", " ")
    rows = "".join(",".join(f"{(i / 50 if j == 0 else 0.3 + j / 10):.4f}" for j in range(width))
                   + "\n" for i in range(300))
    keys = data.draw(st.none() | st.lists(st.sampled_from(
        ["t", "t_ms", "ax", "ay", "az", "gx", "gy", "gz", "x", "label", "q", ""]), max_size=8))
    args = ["{d}/log.csv"]
    if keys is not None:
        names = [data.draw(st.sampled_from(header) | st.text(max_size=5)) for _ in keys]
        args += ["--columns", ",".join(f"{k}={n}" for k, n in zip(keys, names))]
    replay({"log.csv": (line + "\n" + rows).encode()}, args)


def test_the_unmutated_app_exports_and_a_mapped_header_replay():
    for app in ("phyphox", "sensor_logger", "physics_toolbox"):
        with tempfile.TemporaryDirectory() as d:
            for name, content in _app_export(app).items():
                (Path(d) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(d) / name).write_bytes(content)
            out = Path(d) / "pred.jsonl"
            with contextlib.redirect_stderr(io.StringIO()), \
                    contextlib.redirect_stdout(io.StringIO()):
                assert main(["replay", f"{d}/{_log_of(app)}", "--out", str(out)]) == 0, app
    mapped = _valid_csv(header="A,B,C,D,E,F,G,label")
    assert replay({"log.csv": mapped}, ["{d}/log.csv", "--columns",
                                        "t=A,ax=B,ay=C,az=D,gx=E,gy=F,gz=G"])[0] == 0


class _Stdin:
    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)


@FUZZ_APPS
@given(m=ops)
def test_mutated_live_pipe(m):
    """The live pipe: one line and exit 2 for what is not a log; only whole JSON lines out."""
    import sys

    data = mutate(_valid_csv(400), m)
    err, out = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = _Stdin(data)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(["stream", "-", "--model", str(PRETRAINED), "--quiet"])
    finally:
        sys.stdin = saved
    lines = err.getvalue().strip().splitlines()
    if code == 0:
        assert out.getvalue() and all(json.loads(x)["end"] - json.loads(x)["start"] == 128
                                      for x in out.getvalue().splitlines())
    else:
        assert code == 2 and len(lines) == 1 and "Traceback" not in err.getvalue(), err.getvalue()
        assert "internal error" not in err.getvalue()
