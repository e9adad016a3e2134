"""The live pipe: ``python -m edgehar.runtime stream -`` prints each window's JSON line as soon as
the window's last sample has arrived, and the same bytes as ``replay --out`` on the same log."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parents[1] / "edgehar" / "assets" / "sample_user02.csv"
STREAM = [sys.executable, "-m", "edgehar.runtime", "stream", "-"]


def _replay(tmp_path: Path, *flags: str) -> bytes:
    out = tmp_path / "replay.jsonl"
    subprocess.run([sys.executable, "-m", "edgehar.runtime", "replay", str(SAMPLE), "--out",
                    str(out), "--orientation", "running", "--quiet", *flags], check=True)
    return out.read_bytes()


def _readline(proc: subprocess.Popen, timeout: float = 60.0) -> bytes:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no window line within the timeout"
    return proc.stdout.readline()


@pytest.mark.slow   # paced: waits in real time for each window
@pytest.mark.parametrize("flags", [(), ("--acc-units", "g", "--gyro-units", "rad/s")],
                         ids=["units-auto", "units-given"])
def test_a_paced_pipe_gives_each_window_when_it_completes_and_replays_bytes(tmp_path, flags):
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    proc = subprocess.Popen(STREAM + list(flags), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    got = []
    # the header and 2.6 s of rows (130), in pieces with pauses: the first window is 128 samples
    head = 1 + (1500 if not flags else 130)   # units auto: decided on the first 30 s
    for i in range(0, head, 37):
        proc.stdin.write(b"".join(lines[i:min(i + 37, head)]))
        time.sleep(0.01)
    got.append(_readline(proc))      # out before any further input: the pipe is live
    assert json.loads(got[0])["start"] == 0
    rest = lines[head:]
    for i in range(0, len(rest), 500):
        proc.stdin.write(b"".join(rest[i:i + 500]))
        if i % 2000 == 0:
            time.sleep(0.05)
    proc.stdin.close()
    got.append(proc.stdout.read())
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert b"".join(got) == _replay(tmp_path, *flags)


def test_bad_input_on_the_pipe_is_one_line_and_exit_2():
    r = subprocess.run(STREAM, input=b"when,what\n1,2\n", capture_output=True)
    assert r.returncode == 2 and r.stdout == b""
    err = r.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "<stdin>" in err[0] and "--columns" in err[0]
    r = subprocess.run(STREAM, input=b"t,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n", capture_output=True)
    assert r.returncode == 2 and "before one window" in r.stderr.decode()
