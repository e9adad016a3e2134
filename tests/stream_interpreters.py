"""Step a stream file (DESIGN.md "Streaming model") through each interpreter that runs it.

A stream file has one signature, ``step(samples [1, hop, 6], state [1, S]) -> (probs [1, C],
ready [1], state [1, S])``; a fresh stream starts from an all-zero ``state`` and each step's
output ``state`` is the next step's input. Every function here takes the file and the samples
of a whole stream, ``(steps, hop, 6)`` float32, and returns one ``Step`` per step:

- ``steps_litert``: ai-edge-litert's Interpreter and its signature runner (inputs and outputs
  by name), on its default kernels (XNNPACK) or its reference kernels (``BUILTIN_REF``);
- ``steps_tflm``: TensorFlow Lite for Microcontrollers' Python interpreter, which addresses
  tensors by their position in the subgraph's input/output lists: the names are mapped to those
  positions through the flatbuffer's SignatureDef; it runs in the smallest arena it allocates
  in (``quantize/mcu.arena_bytes``), which it returns;
- ``steps_browser``: LiteRT.js (``@litertjs/core``, WASM) in headless Chromium, the page served
  by a local http.server; the page steps the whole sequence and writes the outputs into the DOM.

Each skips (``pytest.skip``) with its reason where its interpreter is missing.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

SIGNATURE = "step"
INPUTS = ("samples", "state")
OUTPUTS = ("probs", "ready", "state")

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "edgehar" / "web"
BROWSER_TIMEOUT_S = 300
TFLM_MAX_ARENA = 64 << 20     # the ceiling quantize/mcu.arena_bytes searches up to


class Step(NamedTuple):
    probs: np.ndarray    # (C,) float32
    ready: float         # 1.0 once the first window is full


def _sequence(samples_seq) -> np.ndarray:
    x = np.asarray(samples_seq, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] != 6:
        raise ValueError(f"samples_seq must be (steps, hop, 6), got {x.shape}")
    return x


def _zero_state(shape) -> np.ndarray:
    return np.zeros(tuple(int(s) for s in shape), np.float32)


# --- LiteRT -------------------------------------------------------------------------------------

def steps_litert(path, samples_seq, resolver: str = "default") -> list[Step]:
    """The stream through ai-edge-litert: ``resolver`` "default" (XNNPACK, what phones run),
    "builtin" (optimized kernels, no delegate) or "reference" (TFLite's reference kernels)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        pytest.skip("ai-edge-litert is not installed")
    kind = {"default": OpResolverType.AUTO,
            "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            "reference": OpResolverType.BUILTIN_REF}[resolver]
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=kind)
    runner = it.get_signature_runner(SIGNATURE)
    state = _zero_state(runner.get_input_details()["state"]["shape"])
    out = []
    for x in _sequence(samples_seq):
        y = runner(samples=x[None], state=state)
        state = y["state"]
        out.append(Step(y["probs"][0].copy(), float(y["ready"][0])))
    return out


# --- TFLM ---------------------------------------------------------------------------------------

def signature_positions(data: bytes) -> tuple[dict[str, int], dict[str, int]]:
    """The ``step`` signature's names -> positions in subgraph 0 (the package's own)."""
    from edgehar.quantize.tflite_file import signature_positions as positions

    return positions(data, SIGNATURE)


def steps_tflm(path, samples_seq) -> tuple[list[Step], int]:
    """The stream through TFLM's interpreter in the smallest arena it allocates the file in;
    returns the steps and that arena in bytes."""
    pytest.importorskip("tflite_micro", reason="tflite-micro is not installed (x86-64 wheel)")
    from tflite_micro.python.tflite_micro import runtime

    from edgehar.quantize.mcu import arena_bytes

    data = Path(path).read_bytes()
    ins, outs = signature_positions(data)
    if set(ins) != set(INPUTS) or set(outs) != set(OUTPUTS):
        raise ValueError(f"signature {SIGNATURE!r} has inputs {sorted(ins)}, outputs {sorted(outs)}")
    try:   # TFLM prints why on stderr (an op it lacks reads "Didn't find op for builtin opcode")
        runtime.Interpreter.from_bytes(data, arena_size=TFLM_MAX_ARENA)
    except RuntimeError as e:
        raise AssertionError(f"TFLM cannot load {Path(path).name} ({e}; its reason is on "
                             "stderr)") from None
    arena = arena_bytes(data)
    it = runtime.Interpreter.from_bytes(data, arena_size=arena)
    state = _zero_state(it.get_input_details(ins["state"])["shape"])
    out = []
    for x in _sequence(samples_seq):
        it.set_input(x[None], ins["samples"])
        it.set_input(state, ins["state"])
        it.invoke()
        state = np.array(it.get_output(outs["state"]), np.float32)
        out.append(Step(np.array(it.get_output(outs["probs"])[0], np.float32),
                        float(it.get_output(outs["ready"])[0])))
    return out, arena


# --- the browser --------------------------------------------------------------------------------

def find_browser() -> str:
    """The browser `edgehar web`'s own driver finds (edgehar/web/headless.py), else a skip."""
    from edgehar.web.headless import find_browser as browser_on_path

    browser = browser_on_path()
    if browser is None:
        pytest.skip("no headless Chromium installed (Debian: apt-get install chromium)")
    return browser


def require_litertjs() -> Path:
    """The LiteRT.js `edgehar web` serves (edgehar/web/litertjs.py: EDGEHAR_LITERTJS, the
    cache, or the checkout's node_modules where .ci/run installs it), else a skip."""
    from edgehar.runtime.errors import EdgeharError
    from edgehar.web import litertjs

    try:
        return litertjs.find()
    except EdgeharError as e:
        pytest.skip(f"LiteRT.js: {e}")


class _QuietHandler(SimpleHTTPRequestHandler):
    # module scripts need a JavaScript MIME type, WebAssembly.instantiateStreaming application/wasm
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript",
                      ".wasm": "application/wasm", ".tflite": "application/octet-stream"}

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """``root`` on http://127.0.0.1:<a free port>/ for the duration (symbolic links followed)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def run_page(root: Path, page: str = "index.html", result_id: str = "out") -> object:
    """Opens ``page`` (served from ``root``) in headless Chromium and returns the JSON the page
    wrote into ``<pre id=result_id>`` once it set ``document.title`` to "done"; a page that
    sets it to "failed: ..." (or never finishes) fails with that line."""
    browser = find_browser()
    # virtual time runs the page until it is idle for the budget (fetches and wasm compilation
    # pause it); the page's work is promise chains, not timers, so the budget is only a ceiling
    with serve(root) as url, tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", f"--user-data-dir={profile}",
                            "--virtual-time-budget=600000", "--dump-dom", url + page],
                           capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)
    dom = r.stdout
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    title = html.unescape(title.group(1)) if title else None
    if title != "done":
        tail = r.stderr.strip().splitlines()[-3:]
        raise AssertionError(f"page {page} did not finish: title {title!r}; chromium: {tail}")
    m = re.search(rf'<pre id="{result_id}">(.*?)</pre>', dom, re.S)
    assert m, f"page {page} wrote no <pre id={result_id}>"
    return json.loads(html.unescape(m.group(1)))


STEP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>running</title>
<script type="importmap">
{"imports": {"@litertjs/core": "./litertjs/core/dist/index.js",
             "@litertjs/wasm-utils": "./litertjs/wasm-utils/dist/index.js"}}
</script></head>
<body><pre id="out"></pre>
<script type="module">
import {loadLiteRt, loadAndCompile, Tensor} from '@litertjs/core';
try {
  const seq = await (await fetch('./stream.json')).json();
  const samples = new Float32Array(await (await fetch('./samples.bin')).arrayBuffer());
  // a directory: LiteRT.js picks the wasm the browser supports; a .js file: that one
  await loadLiteRt(seq.wasm === 'auto' ? './litertjs/core/wasm/'
                                       : `./litertjs/core/wasm/litert_wasm_${seq.wasm}_internal.js`);
  const model = await loadAndCompile('./model.tflite', {accelerator: 'wasm'});
  const runner = model.signatures['step'];
  const stateShape = Array.from(runner.getInputDetails().find(d => d.name === 'state').shape);
  const per = seq.hop * 6;
  let state = new Float32Array(stateShape.reduce((a, b) => a * b, 1));   // a fresh stream
  const probs = [], ready = [];
  for (let j = 0; j < seq.steps; j++) {
    const inputs = {samples: new Tensor(samples.slice(j * per, (j + 1) * per), [1, seq.hop, 6]),
                    state: new Tensor(state, stateShape)};
    const y = await model.run('step', inputs);
    probs.push(Array.from(y.probs.toTypedArray()));
    ready.push(y.ready.toTypedArray()[0]);
    state = y.state.toTypedArray().slice();
    for (const t of [...Object.values(inputs), ...Object.values(y)]) t.delete();
  }
  document.getElementById('out').textContent = JSON.stringify({probs, ready});
  document.title = 'done';
} catch (e) {
  const why = e instanceof Event ? `${e.type} ${e.target && e.target.src || ''}` : (e && e.message || e);
  document.title = 'failed: ' + String(why).split('\\n')[0];
}
</script></body></html>
"""


@contextmanager
def page_dir() -> Iterator[Path]:
    """A temporary web root with LiteRT.js and ``edgehar/web`` linked in."""
    lib = require_litertjs()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "litertjs").mkdir()
        for name in ("core", "wasm-utils"):
            (root / "litertjs" / name).symlink_to(lib / name, target_is_directory=True)
        (root / "web").symlink_to(WEB, target_is_directory=True)
        yield root


def steps_browser(path, samples_seq, wasm: str = "auto") -> list[Step]:
    """The stream through LiteRT.js (WASM, XNNPACK) in headless Chromium: ``wasm`` "auto" lets
    LiteRT.js choose (``litert_wasm_internal``, relaxed SIMD, in a current Chromium) or
    "compat" forces ``litert_wasm_compat_internal``, what browsers without relaxed SIMD get."""
    if wasm not in ("auto", "compat"):
        raise ValueError(f"wasm must be 'auto' or 'compat', not {wasm!r}")
    find_browser()
    x = _sequence(samples_seq)
    with page_dir() as root:
        (root / "model.tflite").symlink_to(Path(path).resolve())
        (root / "samples.bin").write_bytes(x.astype("<f4").tobytes())
        (root / "stream.json").write_text(json.dumps({"steps": len(x), "hop": x.shape[1], "wasm": wasm}))
        (root / "index.html").write_text(STEP_PAGE)
        res = run_page(root)
    # float32 values printed by JavaScript (shortest round-trip of the double) read back exactly
    return [Step(np.asarray(p, np.float32), float(r)) for p, r in zip(res["probs"], res["ready"])]


RESAMPLE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>running</title></head>
<body><pre id="out"></pre>
<script type="module">
import {Resampler} from './web/resample.js';
try {
  const rows = await (await fetch('./rows.json')).json();
  const r = new Resampler({maxGap: rows.maxGap});
  const got = [];
  rows.t.forEach((t, i) => got.push(...r.push(t, rows.values[i])));
  got.push(...r.finish());
  document.getElementById('out').textContent = JSON.stringify({
    k: got.map(s => s.k), newSegment: got.map(s => s.newSegment),
    values: got.map(s => Array.from(s.values))});
  document.title = 'done';
} catch (e) {
  const why = e instanceof Event ? `${e.type} ${e.target && e.target.src || ''}` : (e && e.message || e);
  document.title = 'failed: ' + String(why).split('\\n')[0];
}
</script></body></html>
"""


def resample_in_browser(t: np.ndarray, values: np.ndarray, max_gap: float = 1.0) -> dict:
    """``edgehar/web/resample.js`` run over the rows in headless Chromium: {"k": grid indices,
    "newSegment": flags, "values": (n, channels)}. Numbers cross as JSON, exactly (doubles)."""
    find_browser()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "web").symlink_to(WEB, target_is_directory=True)
        (root / "rows.json").write_text(json.dumps(
            {"t": [float(x) for x in t], "values": np.asarray(values, float).tolist(),
             "maxGap": max_gap}))
        (root / "index.html").write_text(RESAMPLE_PAGE)
        res = run_page(root)
    return {"k": np.asarray(res["k"], int), "newSegment": np.asarray(res["newSegment"], bool),
            "values": np.asarray(res["values"], float).reshape(len(res["k"]), -1)}
