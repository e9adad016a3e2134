"""Runtime replay against the shipped bundle: formats, equivalence with evaluate, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from edgehar.data.sources import write_hapt_dir
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
    s = run_replay(ReplayOptions(log=acc, model=shipped_bundle, labels=labels, out=out,
                                 quiet=True, chunk=37))
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


def test_sample_replay_cli_and_summary(tmp_path):
    out, summary = tmp_path / "p.jsonl", tmp_path / "s.json"
    r = _run("--sample", "--out", out, "--summary", summary, "--backend", "onnx")
    assert r.returncode == 0, r.stderr
    s = json.loads(summary.read_text())
    assert {"windows", "latency_ms", "windows_per_s", "realtime_factor", "backend", "model_file",
            "accuracy", "macro_f1", "scored_windows"} <= set(s)
    assert s["backend"] == "onnx" and s["windows"] == len(out.read_text().splitlines())
    assert s["accuracy"] > 0.8


def test_timeline_without_out_and_smoothing():
    r = _run("--sample", "--smooth", "5")
    assert r.returncode == 0, r.stderr
    assert "WALKING" in r.stdout and "mean conf" in r.stdout


def _bad_inputs(tmp, shipped_bundle, hapt_log):
    acc, labels, _ = hapt_log
    lonely = tmp / "acc_exp99_user99.txt"
    lonely.write_text("1 0 0\n" * 200)
    cases = {}

    def csv(name, text):
        p = tmp / name
        p.write_text(text)
        return p

    ok_rows = "".join(f"{i / 50},0,0,1,0,0,0\n" for i in range(300))
    cases["missing gyro"] = ([lonely], "gyroscope file missing")
    cases["wrong column count"] = ([csv("cols.csv", "t,ax,ay,az,gx,gy,gz\n" + ok_rows +
                                        "6.1,0,0,1,0,0\n")], "column")
    cases["header lacks columns"] = ([csv("hdr.csv", "time,x,y,z\n1,2,3,4\n")],
                                     "header lacks column")
    cases["nan"] = ([csv("nan.csv", "t,ax,ay,az,gx,gy,gz\n" + ok_rows + "6.1,nan,0,1,0,0,0\n")],
                    "NaN")
    cases["inf"] = ([csv("inf.csv", "t,ax,ay,az,gx,gy,gz\n" + ok_rows + "6.1,inf,0,1,0,0,0\n")],
                    "infinite")
    cases["non-monotonic"] = ([csv("mono.csv", "t,ax,ay,az,gx,gy,gz\n" + ok_rows +
                                   "1.0,0,0,1,0,0,0\n")], "non-monotonic timestamp")
    cases["duplicate"] = ([csv("dup.csv", "t,ax,ay,az,gx,gy,gz\n" + ok_rows +
                               "5.98,0,0,1,0,0,0\n")], "duplicate timestamp")
    cases["too short"] = ([csv("short.csv", "t,ax,ay,az,gx,gy,gz\n" +
                               "".join(f"{i / 50},0,0,1,0,0,0\n" for i in range(100)))],
                          "too short for one window")
    cases["unknown units"] = ([csv("u.csv", "t,ax,ay,az,gx,gy,gz\n" + ok_rows),
                               "--acc-units", "furlongs"], "invalid choice")
    cases["truncated"] = ([csv("trunc.csv", "t,ax,ay,az,gx,gy,gz\n" + ok_rows + "6.1,0.1,")],
                          "malformed")
    cases["missing file"] = ([tmp / "nope.csv"], "not found")
    bad_model = tmp / "bad.tflite"
    bad_model.write_bytes(b"this is not a flatbuffer" * 10)
    cases["not a tflite"] = ([csv("fine.csv", "t,ax,ay,az,gx,gy,gz\n" + ok_rows), "--model",
                              bad_model], "not a valid TFLite model")
    tampered = tmp / "tampered"
    tampered.mkdir()
    for f in shipped_bundle.iterdir():
        (tampered / f.name).write_bytes(f.read_bytes())
    blob = bytearray((tampered / "model_int8.tflite").read_bytes())
    blob[-1] ^= 0xFF
    (tampered / "model_int8.tflite").write_bytes(bytes(blob))
    cases["sha mismatch"] = ([csv("fine2.csv", "t,ax,ay,az,gx,gy,gz\n" + ok_rows), "--model",
                              tampered], "sha256 does not match")
    return cases


def test_bad_input_matrix(tmp_path, shipped_bundle, hapt_log):
    for name, (args, message) in _bad_inputs(tmp_path, shipped_bundle, hapt_log).items():
        out = tmp_path / f"{name.replace(' ', '_')}.jsonl"
        r = _run(*args, "--out", out)
        assert r.returncode != 0, name
        assert message in r.stderr, (name, r.stderr)
        assert "Traceback" not in r.stderr, name
        assert len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
        assert not out.exists(), name
        assert not list(tmp_path.glob(f".{out.name}.*")), name


def test_sample_log_is_a_test_subject_with_all_activities():
    head = SAMPLE_LOG.read_text().splitlines()
    assert head[0] == "t,ax,ay,az,gx,gy,gz,label"
    labels = {line.rsplit(",", 1)[1] for line in head[1:]}
    assert {"WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING",
            "LAYING"} <= labels


def test_realtime_paces_input_and_shows_a_live_line(tmp_path):
    rows = "".join(f"{i / 50:.2f},0.1,0.9,0.2,0.01,0.0,0.02\n" for i in range(200))
    log = tmp_path / "short.csv"
    log.write_text("t,ax,ay,az,gx,gy,gz\n" + rows)
    import time

    t = time.perf_counter()
    r = _run(log, "--realtime", "--summary", tmp_path / "s.json")
    wall = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    assert wall >= 3.5   # 200 samples at 50 Hz = 4 s of stream
    live = [ln for ln in r.stderr.splitlines() if ln.strip().startswith("t=")]
    assert len(live) == 2 and all("latency" in ln for ln in live)
    assert json.loads((tmp_path / "s.json").read_text())["windows"] == 2
