"""Runtime replay against the shipped bundle: formats, equivalence with evaluate, bad input,
the shipped sample log."""

import json
import subprocess
import sys

import numpy as np
import pytest

from edgehar.data.sources import write_hapt_dir
from edgehar.runtime.errors import EXIT_BAD_INPUT
from edgehar.runtime.replay import SAMPLE_LOG, ReplayOptions, run_replay


@pytest.fixture(scope="module")
def hapt_log(recordings, tmp_path_factory):
    rec = next(r for r in recordings if r.user == 2)  # a test subject
    raw = write_hapt_dir([rec], tmp_path_factory.mktemp("hapt"))
    return raw / f"acc_exp{rec.experiment:02d}_user02.txt", raw / "labels.txt", rec


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "edgehar.runtime", "replay", *map(str, args)],
                          capture_output=True, text=True, **kw)


def test_replay_equals_batch_windows_through_the_same_model(hapt_log, shipped_bundle, tmp_path):
    from edgehar.data.windows import windows_from_recordings
    from edgehar.runtime.model import load_model

    acc, labels, rec = hapt_log
    out = tmp_path / "p.jsonl"
    # fixed: the batch path below rotates nothing (orientation has its own tests)
    s = run_replay(ReplayOptions(log=acc, model=shipped_bundle, labels=labels, out=out,
                                 quiet=True, chunk=37, orientation="fixed"))
    preds = [json.loads(line) for line in out.read_text().splitlines()]
    assert preds[0]["start"] == 0 and all(p["end"] - p["start"] == 128 for p in preds)
    assert all(b["start"] - a["start"] == 64 for a, b in zip(preds, preds[1:]))
    assert set(preds[0]) == {"start", "end", "t", "label", "confidence", "probs"}
    ws = windows_from_recordings([rec])
    model = load_model(shipped_bundle)
    batch_pred = model.logits(ws.x).argmax(1)
    by_start = {p["start"]: model.labels.index(p["label"]) for p in preds}
    replay_pred = np.array([by_start[int(st)] for st in ws.start])
    assert (replay_pred == batch_pred).mean() == 1.0
    assert s["scored_windows"] == len(ws.y)
    assert abs(s["accuracy"] - (batch_pred == ws.y).mean()) < 1e-9


def test_csv_at_100hz_jittered_in_ms2_matches_hapt(hapt_log, shipped_bundle, tmp_path, rng):
    acc, labels, rec = hapt_log
    base = run_replay(ReplayOptions(log=acc, model=shipped_bundle, labels=labels, quiet=True))
    n = len(rec.raw)
    t50 = np.arange(n) / 50
    t = np.arange(0, t50[-1], 0.01) + rng.uniform(-0.002, 0.002, size=len(np.arange(0, t50[-1], 0.01)))
    t[0] = 0.0
    t = np.sort(t)
    cols = [np.interp(t, t50, rec.raw[:, j]) for j in range(6)]
    lab = rec.labels[np.clip(np.round(t * 50).astype(int), 0, n - 1)]
    from edgehar.runtime.spec import LABELS, STANDARD_GRAVITY

    names = np.array([LABELS[v - 1] if 1 <= v <= 6 else "" for v in lab])
    csv = tmp_path / "log.csv"
    with open(csv, "w") as f:
        f.write("t,ax,ay,az,gx,gy,gz,label\n")
        for i in range(len(t)):
            a = [cols[j][i] * STANDARD_GRAVITY for j in range(3)]
            g = [cols[j][i] for j in range(3, 6)]
            f.write(f"{t[i]:.6f}," + ",".join(f"{v:.6f}" for v in a + g) + f",{names[i]}\n")
    s = run_replay(ReplayOptions(log=csv, model=shipped_bundle, acc_units="m/s2", quiet=True))
    assert abs(s["accuracy"] - base["accuracy"]) <= 0.01
    assert abs(s["windows"] - base["windows"]) <= 1


def _backend(name: str) -> str:
    if name == "onnx":
        pytest.importorskip("onnxruntime")
    return name


def _sample_labels() -> np.ndarray:
    return np.genfromtxt(SAMPLE_LOG, delimiter=",", skip_header=1, usecols=[7], dtype=str)


@pytest.mark.parametrize("backend", ["tflite", "onnx"])
def test_sample_replay_cli_and_summary(tmp_path, backend):
    out, summary = tmp_path / "p.jsonl", tmp_path / "s.json"
    r = _run("--sample", "--out", out, "--summary", summary, "--backend", _backend(backend))
    assert r.returncode == 0, r.stderr
    s = json.loads(summary.read_text())
    assert {"windows", "latency_ms", "windows_per_s", "realtime_factor", "backend", "model_file",
            "accuracy", "macro_f1", "scored_windows"} <= set(s)
    assert s["backend"] == backend and s["model_file"].endswith(f"model_int8.{backend}")
    preds = [json.loads(line) for line in out.read_text().splitlines()]
    labels = _sample_labels()
    assert s["samples"] == len(labels) and s["windows"] == len(preds) == (len(labels) - 128) // 64 + 1
    # Scored again from the CSV's own label column: a window counts when its 128 samples carry
    # one activity.
    scored = [p for p in preds if len(set(labels[p["start"]:p["end"]])) == 1 and labels[p["start"]]]
    right = sum(p["label"] == labels[p["start"]] for p in scored)
    assert s["scored_windows"] == len(scored)
    assert s["accuracy"] == pytest.approx(right / len(scored), abs=1e-12)
    assert s["accuracy"] >= 0.9   # 97.7 % with either shipped INT8 file


def test_timeline_without_out_and_smoothing():
    r = _run("--sample", "--smooth", "5")
    assert r.returncode == 0, r.stderr
    assert "WALKING" in r.stdout and "mean conf" in r.stdout


HEADER = "t,ax,ay,az,gx,gy,gz\n"


def _rows(n: int) -> str:
    """n still samples at 50 Hz (1 g on z)."""
    return "".join(f"{i / 50},0,0,1,0,0,0\n" for i in range(n))


OK_ROWS = _rows(300)


def _log(text: str, *extra: str):
    """A case whose input is one CSV log holding ``text``, plus extra CLI arguments."""
    def make(tmp, bundle):
        (tmp / "log.csv").write_text(text)
        return [tmp / "log.csv", *extra]
    return make


def _hapt_without_gyro(tmp, bundle):
    (tmp / "acc_exp99_user99.txt").write_text("1 0 0\n" * 200)
    return [tmp / "acc_exp99_user99.txt"]


def _missing_file(tmp, bundle):
    return [tmp / "nope.csv"]


def _not_a_tflite(tmp, bundle):
    (tmp / "bad.tflite").write_bytes(b"this is not a flatbuffer" * 10)
    return [*_log(HEADER + OK_ROWS)(tmp, bundle), "--model", tmp / "bad.tflite"]


def _tampered_bundle(tmp, bundle):
    tampered = tmp / "tampered"
    tampered.mkdir()
    for f in bundle.iterdir():
        if f.is_file():
            (tampered / f.name).write_bytes(f.read_bytes())
    blob = bytearray((tampered / "model_int8.tflite").read_bytes())
    blob[-1] ^= 0xFF
    (tampered / "model_int8.tflite").write_bytes(bytes(blob))
    return [*_log(HEADER + OK_ROWS)(tmp, bundle), "--model", tampered]


@pytest.mark.parametrize("make_args,message", [
    pytest.param(_hapt_without_gyro, "gyroscope file missing", id="missing-gyro"),
    pytest.param(_log(HEADER + OK_ROWS + "6.1,0,0,1,0,0\n"), "column", id="wrong-column-count"),
    pytest.param(_log("time,x,y,z\n1,2,3,4\n"), "header lacks acceleration and rotation rate",
                 id="header-lacks-columns"),
    pytest.param(_log(HEADER + OK_ROWS + "6.1,nan,0,1,0,0,0\n"), "NaN", id="nan"),
    pytest.param(_log(HEADER + OK_ROWS + "6.1,inf,0,1,0,0,0\n"), "infinite", id="inf"),
    pytest.param(_log(HEADER + OK_ROWS + "1.0,0,0,1,0,0,0\n"),
                 "time runs backwards at line 302", id="backwards"),
    pytest.param(_log(HEADER + OK_ROWS.replace("0,0,1,", "0,0,9.81,"), "--acc-units", "g"),
                 "pass --acc-units m/s2",
                 id="m/s2 read as g"),
    pytest.param(_log(HEADER + _rows(100)), "too short for one window",
                 id="too-short"),
    pytest.param(_log(HEADER + OK_ROWS, "--acc-units", "furlongs"), "invalid choice",
                 id="unknown-units"),
    pytest.param(_log(HEADER + OK_ROWS + "6.1,0.1,"), "malformed", id="truncated"),
    pytest.param(_missing_file, "not found", id="missing-file"),
    pytest.param(_not_a_tflite, "not a valid TFLite model", id="not-a-tflite"),
    pytest.param(_tampered_bundle, "sha256 does not match", id="sha-mismatch"),
])
def test_bad_input_is_one_line_and_leaves_no_file(tmp_path, shipped_bundle, make_args, message):
    args = make_args(tmp_path, shipped_bundle)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "pred.jsonl"
    r = _run(*args, "--out", out)
    assert r.returncode == EXIT_BAD_INPUT, (r.returncode, r.stderr)   # 2: bad input or usage
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists()
    assert not list(out_dir.glob(f".{out.name}.*"))   # the atomic writer's temp file
    assert list(out_dir.iterdir()) == []


def test_sample_log_is_a_test_subject_with_all_activities():
    head = SAMPLE_LOG.read_text().splitlines()
    assert head[0] == "t,ax,ay,az,gx,gy,gz,label"
    labels = {line.rsplit(",", 1)[1] for line in head[1:]}
    assert {"WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING",
            "LAYING"} <= labels


def test_sample_log_is_a_slice_of_test_subject_2(recordings):
    """The shipped sample is experiment 4 (test subject 2) from sample 3000 on, labels included."""
    from edgehar.runtime.spec import LABELS

    t, values = np.hsplit(np.genfromtxt(SAMPLE_LOG, delimiter=",", skip_header=1,
                                        usecols=range(7)), [1])
    np.testing.assert_allclose(t[:, 0], np.arange(len(t)) / 50, atol=1e-9)
    tol = 5e-7 + 1e-12   # the CSV holds 6 decimals
    matches = []
    for rec in (r for r in recordings if r.user == 2):
        for at in np.flatnonzero(np.abs(rec.raw - values[0]).max(1) <= tol):
            part = rec.raw[at:at + len(values)]
            if part.shape == values.shape and np.abs(part - values).max() <= tol:
                matches.append((rec.experiment, int(at)))
    assert matches == [(4, 3000)]
    rec = next(r for r in recordings if r.experiment == 4)
    names = [LABELS[v - 1] if 1 <= v <= 6 else "" for v in rec.labels[3000:3000 + len(values)]]
    assert names == _sample_labels().tolist()


def test_realtime_pacer_waits_until_each_sample_is_due():
    from edgehar.runtime.replay import realtime_pacer

    now, slept = [100.0], []

    def sleep(s):
        slept.append(round(s, 6))
        now[0] += s

    wait = realtime_pacer(50, clock=lambda: now[0], sleep=sleep)
    now[0] += 30.0        # a whole-log first pass before the first push: not stream time
    wait(64)              # 64 samples are due 1.28 s after the start
    now[0] += 0.5         # inference took 0.5 s: the next hop is due 0.78 s later
    wait(128)
    wait(100)             # already due: no sleep
    assert slept == [1.28, 0.78, 0.0]


@pytest.mark.slow
def test_realtime_replay_paces_and_shows_a_live_line(tmp_path):
    rows = "".join(f"{i / 50:.2f},0.1,0.9,0.2,0.01,0.0,0.02\n" for i in range(130))
    log = tmp_path / "short.csv"
    log.write_text("t,ax,ay,az,gx,gy,gz\n" + rows)
    import time

    t = time.perf_counter()
    r = _run(log, "--realtime", "--summary", tmp_path / "s.json")
    wall = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    assert wall >= 2.5   # 130 samples at 50 Hz = 2.6 s of stream
    live = [ln for ln in r.stderr.splitlines() if ln.strip().startswith("t=")]
    assert len(live) == 1 and "latency" in live[0]
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["windows"] == 1 and s["paced"] is True
    assert s["realtime_factor"] < 1.05 < s["compute_headroom"]   # the pace, and the spare compute
