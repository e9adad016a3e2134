"""Replay stopped by Ctrl-C keeps what it did; the summary's speeds say a paced run's pace."""

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from edgehar.runtime.sinks import describe

KEYS = {"start", "end", "t", "label", "confidence", "probs"}


def _default_sigint():
    # a child started from a shell without job control inherits SIGINT ignored: Python would
    # then not turn it into KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _read_until(proc: subprocess.Popen, needle: bytes, count: int, timeout: float) -> bytes:
    """stderr until ``needle`` was seen ``count`` times (the process still running)."""
    seen, deadline = b"", time.monotonic() + timeout
    fd = proc.stderr.fileno()
    while seen.count(needle) < count:
        left = deadline - time.monotonic()
        assert left > 0 and proc.poll() is None, seen.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            seen += os.read(fd, 4096)
    return seen


@pytest.mark.slow   # waits in real time for two windows (~4 s)
def test_ctrl_c_keeps_whole_lines_and_an_interrupted_summary(tmp_path):
    out, summary = tmp_path / "p.jsonl", tmp_path / "s.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgehar.runtime", "replay", "--sample", "--realtime",
         "--out", str(out), "--summary", str(summary)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint)
    try:
        # the live line shows each window once it is in the file: two shown, so mid-run
        before = _read_until(proc, b" t=", 2, timeout=120)
        proc.send_signal(signal.SIGINT)
        stdout, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = (before + rest).decode()
    assert proc.returncode == 130, stderr
    assert stderr.rstrip().splitlines()[-1] == "interrupted" and "Traceback" not in stderr
    text = out.read_text()
    assert text.endswith("\n")
    preds = [json.loads(line) for line in text.splitlines()]
    assert len(preds) >= 2
    assert all(set(p) == KEYS and p["end"] - p["start"] == 128 for p in preds)
    assert [p["start"] for p in preds] == [64 * i for i in range(len(preds))]
    s = json.loads(summary.read_text())
    assert s["interrupted"] is True and s["windows"] == len(preds)
    assert s["stream_seconds"] >= preds[-1]["t"]
    assert s["paced"] is True
    # paced: the replay cannot run ahead of the stream; the compute had time to spare
    assert s["realtime_factor"] < 1.05 < s["compute_headroom"]
    assert stdout.decode().startswith("interrupted after")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl", "s.json"]   # no temp file


def _summary(**kw) -> dict:
    return {"windows": 156, "windows_per_s": 0.78, "realtime_factor": 1.0, "paced": True,
            "compute_headroom": 845.2, "stream_seconds": 200.0, "latency_ms": {"p50": 1.23},
            "backend": "tflite", "model_file": "/b/model_int8.tflite", **kw}


def test_describe_says_the_pace_of_a_paced_run_and_its_compute_headroom():
    line = describe(_summary())
    assert "paced at 1.00x realtime (compute headroom 845x)" in line
    assert "845x realtime" not in line and "windows/s" not in line
    fast = describe(_summary(paced=False, windows_per_s=2163.0, realtime_factor=2791.4,
                             compute_headroom=3800.0))
    assert "2163 windows/s, 2791x realtime (compute headroom 3800x)" in fast
    assert describe(_summary(interrupted=True)).startswith("interrupted after 200.0 s of log: ")
