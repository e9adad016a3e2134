"""``edgehar web``: the page in headless Chromium (DevTools protocol, edgehar/web/headless.py)
against the Python runtime.

- ``#selftest`` (the shipped sample through the page's own CSV reader, units, resampler and
  LiteRT.js) gives the labels of ``replay --orientation running`` except where that window's
  top-2 probabilities are a tie within ``parity.STREAM_TIE_GAP``;
- the page's CSV reading, units and 50 Hz grid equal ``open_log``'s on the single-file phone-app
  fixtures, and a file chosen on the page gives ``replay --backend stream``'s windows;
- a recorded log dispatched as ``devicemotion`` events (m/s2, deg/s) gives the same;
- bad files leave one line of error on the page; the page works offline once loaded.

Each test skips where Chromium or LiteRT.js is missing (a dev machine); CI installs both
(.ci/run fails without them)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgehar.runtime.assets import PRETRAINED, SAMPLE_LOG
from edgehar.runtime.engine import StreamEngine
from edgehar.runtime.errors import EdgeharError
from edgehar.runtime.logs import open_log
from edgehar.runtime.model import load_model
from edgehar.runtime.parity import STREAM_TIE_GAP
from edgehar.runtime.replay import predict_log
from edgehar.web import litertjs
from edgehar.web.headless import Chromium, find_browser
from edgehar.web.server import build_site, serve_in_thread

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "apps"
SINGLE_FILE = [FIXTURES / "edgehar_ms2_degs.csv", FIXTURES / "physics_toolbox.csv", SAMPLE_LOG]
READY = "window.edgehar && window.edgehar.ready === true"


@pytest.fixture(scope="module")
def site():
    try:
        litertjs.find()
    except EdgeharError as e:   # a dev machine without it; .ci/run installs it (or fails)
        pytest.skip(str(e))
    return build_site(PRETRAINED)


@pytest.fixture(scope="module")
def url(site):
    server, url = serve_in_thread(site)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if find_browser() is None:
        pytest.skip("no headless Chromium installed (Debian: apt-get install chromium)")
    with Chromium() as b:
        yield b


@pytest.fixture
def page(browser, url):
    p = browser.new_page()
    p.goto(url)
    p.wait_for(READY, timeout=120)
    yield p
    browser.call("Target.closeTarget", {"targetId": p.target})


def _replay(log, *flags) -> list[dict]:
    import tempfile

    from edgehar.runtime.cli import main

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "p.jsonl"
        assert main(["replay", str(log), "--out", str(out), "--quiet", *flags]) == 0
        return [json.loads(line) for line in out.read_text().splitlines()]


def _labels_agree(got: list[dict], ref_probs: np.ndarray) -> None:
    """Labels equal except where the reference's top-2 probabilities are within the tie gap."""
    probs = np.array([p["probs"] for p in got])
    assert probs.shape == ref_probs.shape
    top2 = np.sort(ref_probs, axis=1)[:, -2:]
    differ = probs.argmax(1) != ref_probs.argmax(1)
    real = differ & (top2[:, 1] - top2[:, 0] >= STREAM_TIE_GAP)
    assert not real.any(), np.flatnonzero(real)


def _same_windows(got: list[dict], stream: list[dict], atol: float = 1e-3) -> None:
    """The page against ``replay --backend stream``: the same file, the same windows."""
    assert [p["start"] for p in got] == [p["start"] for p in stream]
    assert [p["end"] for p in got] == [p["end"] for p in stream]
    assert [p["t"] for p in got] == [p["t"] for p in stream]
    diff = np.abs(np.array([p["probs"] for p in got]) - np.array([p["probs"] for p in stream]))
    assert diff.max() < atol, diff.max()


def _gap_log(d: Path) -> Path:
    """The sample with 90-93 s cut out: a phone whose screen was locked for 3 s."""
    lines = SAMPLE_LOG.read_text().splitlines()
    keep = [ln for ln in lines[1:] if not 90.0 < float(ln.split(",")[0]) < 93.0]
    path = d / "gap.csv"
    path.write_text("\n".join([lines[0], *keep]) + "\n")
    return path


def test_selftest_gives_the_python_runtimes_labels(browser, url):
    p = browser.new_page()
    p.goto(url + "#selftest")
    title = p.wait_for("document.title.startsWith('selftest: ') && document.title", timeout=300)
    assert title == "selftest: done"
    text = p.evaluate("document.getElementById('selftest').textContent")
    got = [json.loads(line) for line in text.splitlines()]
    engine = StreamEngine(load_model(PRETRAINED), "running")
    batches = list(predict_log(engine, open_log(SAMPLE_LOG)))
    ref = np.concatenate([b.probs for b in batches])
    starts = np.concatenate([b.starts for b in batches])
    assert [g["start"] for g in got] == starts.tolist()
    assert set(got[0]) == {"start", "end", "t", "label", "confidence", "probs"}
    _labels_agree(got, ref)
    _same_windows(got, _replay(SAMPLE_LOG, "--backend", "stream", "--orientation", "running"))
    # the timeline's score (truth from the label column) is replay's
    import tempfile

    from edgehar.runtime.cli import main

    with tempfile.TemporaryDirectory() as d:
        assert main(["replay", str(SAMPLE_LOG), "--orientation", "running", "--quiet",
                     "--summary", f"{d}/s.json"]) == 0
        summary = json.loads(Path(f"{d}/s.json").read_text())
    last = p.evaluate("window.edgehar.page.last")
    browser.call("Target.closeTarget", {"targetId": p.target})
    assert last["scored"] == summary["scored_windows"]
    assert 1 - last["mismatches"] / last["scored"] == pytest.approx(summary["accuracy"])


def _python_grid(path: Path) -> dict:
    chunks = list(open_log(path))
    k = np.concatenate([np.arange(c.start, c.start + len(c.samples)) for c in chunks])
    seg = [c.start for c in chunks if c.new_segment]
    return {"k": k, "x": np.concatenate([c.samples for c in chunks]), "segments": seg}


def _phyphox_one_file(d: Path) -> Path:
    """The sample as a phyphox experiment exporting both sensors in one set: quoted names with
    units, m/s^2 and rad/s, Java-style exponents, time from 0.0123 s."""
    out = ['"Time (s)","Acceleration x (m/s^2)","Acceleration y (m/s^2)","Acceleration z (m/s^2)",'
           '"Gyroscope x (rad/s)","Gyroscope y (rad/s)","Gyroscope z (rad/s)"']
    for line in SAMPLE_LOG.read_text().splitlines()[1:1501]:
        t, *v = (float(x) for x in line.split(",")[:7])
        row = [t + 0.0123] + [a * 9.80665 for a in v[:3]] + v[3:]
        out.append(",".join(f"{x:.9E}".replace("E+", "E").replace("E0", "E").replace("E-0", "E-")
                            for x in row))
    path = d / "phyphox_both.csv"
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.fixture(params=[*SINGLE_FILE, "phyphox"], ids=lambda p: getattr(p, "name", p))
def single_file_log(request, tmp_path):
    return request.param if request.param != "phyphox" else _phyphox_one_file(tmp_path)


def test_csv_reading_and_resampling_equal_pythons(page, single_file_log):
    log = single_file_log
    text = json.dumps(log.read_text())
    grid = page.evaluate(f"""(async () => {{
        const app = await import('./app.js');
        const facts = window.edgehar.page.facts;
        const g = app.gridOf({text}, facts);
        return {{k: g.k, x: Array.from(g.x), seg: g.k.filter((k, i) => g.newSegment[i]),
                 units: g.units, rows: g.rows}};
    }})()""")
    ref = _python_grid(log)
    np.testing.assert_array_equal(grid["k"], ref["k"])
    assert grid["seg"] == ref["segments"]
    x = np.asarray(grid["x"]).reshape(-1, 6)
    np.testing.assert_allclose(x, ref["x"], rtol=0, atol=1e-9)
    source = open_log(log)
    list(source)
    check = source.quality.units_check
    assert (grid["units"]["acc_units"], grid["units"]["gyro_units"]) == \
        (check["acc_units"], check["gyro_units"])


@pytest.mark.parametrize("log", SINGLE_FILE[:2], ids=lambda p: p.name)
def test_a_chosen_file_gives_the_stream_replays_windows(page, log):
    page.set_file("#file", log)
    last = page.wait_for(f"(window.edgehar.page.last || {{}}).name === {json.dumps(log.name)} "
                         "&& window.edgehar.page.last", timeout=120)
    assert "error" not in last, last.get("error")
    stream = _replay(log, "--backend", "stream", "--orientation", "running")
    _same_windows(last["preds"], stream)
    ref = np.array([p["probs"] for p in _replay(log, "--orientation", "running")])
    _labels_agree(last["preds"], ref)
    assert page.evaluate("!document.getElementById('result').hidden")


def test_a_log_with_a_gap_restarts_as_the_stream_replay_does(page, tmp_path):
    """A 3 s gap splits the stream: the page's grid resumes where Python's does, and its
    windows (the state zeroed but the orientation slice, fed from the next multiple of hop)
    are ``replay --backend stream``'s."""
    log = _gap_log(tmp_path)
    page.set_file("#file", log)
    last = page.wait_for("(window.edgehar.page.last || {}).name === 'gap.csv' && "
                         "window.edgehar.page.last", timeout=120)
    assert "error" not in last, last.get("error")
    stream = _replay(log, "--backend", "stream", "--orientation", "running")
    starts = [p["start"] for p in stream]
    assert any(b - a != 64 for a, b in zip(starts, starts[1:]))   # the gap is in the windows
    _same_windows(last["preds"], stream)


def test_a_file_dropped_on_the_page_is_read(page):
    """Drag and drop (a DataTransfer holding the file) takes the same path as the <input>."""
    log = FIXTURES / "edgehar_ms2_degs.csv"
    page.evaluate(f"""(() => {{
        const dt = new DataTransfer();
        dt.items.add(new File([{json.dumps(log.read_text())}], {json.dumps(log.name)}));
        const zone = document.getElementById('drop');
        zone.dispatchEvent(new DragEvent('dragover', {{dataTransfer: dt, cancelable: true}}));
        zone.dispatchEvent(new DragEvent('drop', {{dataTransfer: dt, cancelable: true}}));
    }})()""")
    last = page.wait_for(f"(window.edgehar.page.last || {{}}).name === {json.dumps(log.name)} "
                         "&& window.edgehar.page.last", timeout=60)
    assert "error" not in last, last.get("error")
    _same_windows(last["preds"], _replay(log, "--backend", "stream", "--orientation", "running"))


# --- live: devicemotion ---------------------------------------------------------------------

DISPATCH = """(async rows => {
  const live = window.edgehar.live;
  const offset = 123456.789;   // a page's clock does not start at the log's zero
  for (const [t, ax, ay, az, alpha, beta, gamma] of rows) {
    const ev = new DeviceMotionEvent('devicemotion', {
      accelerationIncludingGravity: {x: ax, y: ay, z: az},
      rotationRate: {alpha, beta, gamma}, interval: 20});
    // the event's time is the recorded row's (a dispatched event's own is "now")
    Object.defineProperty(ev, 'timeStamp', {value: t * 1000 + offset});
    window.dispatchEvent(ev);
  }
  await live.windows.drain();
  return live.events;
})"""


@pytest.mark.parametrize("which", ["sample", "jittered m/s2 deg/s", "3 s gap"])
def test_live_devicemotion_gives_the_stream_replays_windows(page, which, tmp_path):
    """A recorded log as devicemotion events: acceleration including gravity in m/s2, rotation
    rate in deg/s with alpha, beta, gamma the rates about the device's x, y, z (the spec since
    w3c/deviceorientation#43, what Chrome, Firefox and Safari implement); a pause in the events
    restarts the stream as a gap in a file does."""
    log = {"sample": SAMPLE_LOG, "jittered m/s2 deg/s": FIXTURES / "edgehar_ms2_degs.csv",
           "3 s gap": None}[which] or _gap_log(tmp_path)
    lines = log.read_text().splitlines()
    header = lines[0].split(",")
    rows = np.array([[float(v) for v in ln.split(",")[:7]] for ln in lines[1:]])
    assert header[:7] == ["t", "ax", "ay", "az", "gx", "gy", "gz"]
    source = open_log(log)
    list(source)
    units = source.quality.units_check
    acc_k = 9.80665 if units["acc_units"] == "g" else 1.0       # to m/s2
    gyro_k = 180 / math.pi if units["gyro_units"] == "rad/s" else 1.0   # to deg/s
    events = np.concatenate([rows[:, :1], rows[:, 1:4] * acc_k, rows[:, 4:7] * gyro_k], 1)
    page.evaluate("document.getElementById('start').click()")
    page.wait_for("window.edgehar.live && window.edgehar.live.running")
    assert page.evaluate(f"{DISPATCH}({json.dumps(events.tolist())})") == len(rows)
    stream = _replay(log, "--backend", "stream", "--orientation", "running")
    got = page.wait_for(f"window.edgehar.live.preds.length >= {len(stream)} && "
                        "window.edgehar.live.preds", timeout=60)
    _same_windows(got, stream)
    _labels_agree(got, np.array([p["probs"] for p in _replay(log, "--orientation", "running")]))
    shown = page.evaluate("document.getElementById('current').textContent")
    assert shown == got[-1]["label"].replace("_", " ").lower()


# --- bad files ------------------------------------------------------------------------------

def _bad_files(d: Path) -> dict[str, tuple[bytes, str]]:
    good = SAMPLE_LOG.read_text().splitlines()
    rows = good[1:400]
    body = lambda lines: ("\n".join(lines) + "\n").encode()   # noqa: E731
    backwards = rows[:200] + [rows[50]] + rows[201:]
    return {
        "picture.csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe" * 20, "not a text log"),
        "empty.csv": (b"", "empty file"),
        "header_only.csv": (body(good[:1]), "no data rows after the header"),
        "columns.csv": (body(["a,b,c", "1,2,3"]), "CSV header lacks a time column"),
        "ragged.csv": (body(good[:1] + rows[:10] + ["1.0,2.0"] + rows[10:]),
                       "line 12: expected 8 columns, found 2"),
        "nan.csv": (body(good[:1] + rows[:5] + [rows[5].replace("0.", "nan", 1)] + rows[6:]),
                    "line 7"),
        "backwards.csv": (body(good[:1] + backwards), "line 202: time runs backwards"),
        "short.csv": (body(good[:1] + rows[:100]), "too short for one window"),
        "linear.csv": (body(['"Time (s)","Linear Acceleration x (m/s^2)","Linear Acceleration y '
                             '(m/s^2)","Linear Acceleration z (m/s^2)"', "0.1,0.2,0.3,0.4"]),
                       "linear acceleration"),
        "gravity_removed.csv": (body(good[:1] + [
            ",".join([r.split(",")[0], "0.01", "0.02", "-0.01"] + r.split(",")[4:])
            for r in rows]), "gravity looks removed"),
        "Accelerometer.csv": ((FIXTURES / "phyphox" / "Accelerometer.csv").read_bytes(),
                              "lacks rotation rate"),
    }


def test_a_bad_file_leaves_one_line_of_error_on_the_page(page, tmp_path):
    for name, (data, expected) in _bad_files(tmp_path).items():
        path = tmp_path / name
        path.write_bytes(data)
        page.set_file("#file", path)
        last = page.wait_for(f"(window.edgehar.page.last || {{}}).name === {json.dumps(name)} "
                             "&& window.edgehar.page.last", timeout=60)
        assert "error" in last, name
        shown = page.evaluate("(e => !e.hidden && e.textContent)(document.getElementById('error'))")
        assert shown and "\n" not in shown and len(shown) <= 300 + len(name) + 2, (name, shown)
        assert shown.startswith(f"{name}: ") and expected in shown, (name, shown)
        # not a blank page: the drop zone and the model line are still there
        assert page.evaluate("document.getElementById('drop').offsetHeight > 0 && "
                             "document.getElementById('model').textContent.length > 0")
    # and the page still reads a good file afterwards
    page.set_file("#file", FIXTURES / "edgehar_ms2_degs.csv")
    last = page.wait_for("(window.edgehar.page.last || {}).name === 'edgehar_ms2_degs.csv' && "
                         "window.edgehar.page.last", timeout=60)
    assert "error" not in last and len(last["preds"]) > 0
    assert page.evaluate("document.getElementById('error').hidden")


# --- offline once loaded --------------------------------------------------------------------

def test_the_page_works_offline_once_loaded(browser, site):
    """Loaded once (its service worker caches the page, LiteRT.js, the model and the sample),
    the page runs its selftest with DevTools' offline emulation on and the server gone."""
    server, url = serve_in_thread(site)
    p = browser.new_page()
    try:
        p.goto(url)
        p.wait_for(READY, timeout=120)
        cached = p.wait_for("""(async () => {
            await navigator.serviceWorker.ready;
            const c = await caches.open('edgehar-web-v1');
            const n = (await c.keys()).length;
            return n >= 17 && navigator.serviceWorker.controller !== null && n;
        })()""", timeout=120)
        assert cached >= 17
    finally:
        server.shutdown()
        server.server_close()
    p.offline(True)
    p.goto(url + "?offline#selftest")
    title = p.wait_for("document.title.startsWith('selftest: ') && document.title", timeout=300)
    assert title == "selftest: done"
    lines = p.evaluate("document.getElementById('selftest').textContent").splitlines()
    assert len(lines) == 155
    browser.call("Target.closeTarget", {"targetId": p.target})


# --- the server -----------------------------------------------------------------------------

def _get(url: str, context=None) -> tuple[int, bytes, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, b"", ""


def test_the_server_serves_its_table_and_nothing_else(site, url):
    status, body, ctype = _get(url + "model/bundle.json")
    facts = json.loads(body)
    assert status == 200 and ctype == "application/json"
    assert facts["labels"][0] == "WALKING" and facts["stream"]["hop"] == 64
    assert _get(url + "litertjs/core/wasm/litert_wasm_internal.wasm")[2] == "application/wasm"
    assert _get(url + "app.js")[2].startswith("text/javascript")
    for path in ("server.py", "../edgehar/web/server.py", "litertjs/core/package.json",
                 "model/manifest.json", "model/weights.pt"):
        assert _get(url + path)[0] == 404, path


def test_tls_serves_https(site, tmp_path):
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a self-signed pair")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server, url = serve_in_thread(site, tls=(str(cert), str(key)))
    try:
        assert url.startswith("https://")
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        status, body, _ = _get(url + "model/bundle.json", ctx)
        assert status == 200 and json.loads(body)["sample_rate"] == 50
    finally:
        server.shutdown()
        server.server_close()


def test_edgehar_web_without_litertjs_says_how_to_install_it(tmp_path):
    pytest.importorskip("click", reason="the edgehar command is the full install's")
    from click.testing import CliRunner

    from edgehar.cli import main

    r = CliRunner().invoke(main, ["web", "--litertjs", str(tmp_path)])
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert "npm install --prefix" in r.output and "@litertjs/core@2.5.3" in r.output


def test_edgehar_web_refuses_a_bundle_without_a_stream_file(tmp_path):
    pytest.importorskip("click", reason="the edgehar command is the full install's")
    from click.testing import CliRunner

    from edgehar.cli import main

    (tmp_path / "manifest.json").write_text((PRETRAINED / "manifest.json").read_text())
    r = CliRunner().invoke(main, ["web", "--model", str(tmp_path)])
    assert r.exit_code == 2 and "no model_stream.tflite in this bundle" in r.output


def test_ci_installs_the_litertjs_version_the_server_wants():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert f"LITERTJS_VERSION={litertjs.VERSION}" in ci


def test_edgehar_web_serves_until_stopped(tmp_path):
    """The command itself: it prints its URL, serves the page, and Ctrl-C (SIGINT) ends it with
    status 0."""
    import os
    import signal
    import subprocess
    import sys

    pytest.importorskip("click", reason="the edgehar command is the full install's")
    try:
        litertjs.find()
    except EdgeharError as e:
        pytest.skip(str(e))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", "from edgehar.cli import main; main()", "web",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = line.split(" on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        status, body, ctype = _get(url)
        assert status == 200 and b"<title>edgehar</title>" in body and ctype.startswith("text/html")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
