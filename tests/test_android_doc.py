"""docs/android.md: its tables state the signature, names, shapes and dtypes of the shipped .tflite
files; its Kotlin is exactly docs/android/*.kt, which compiles with kotlinc, resamples as the
Python runtime does and drives the stream file's ``step`` as DESIGN.md "Streaming model" says."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from stream_interpreters import INPUTS, OUTPUTS, SIGNATURE

from edgehar.runtime.assets import PRETRAINED
from edgehar.runtime.manifest import read_manifest

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "android.md"
KOTLIN = ("Resampler.kt", "HarStream.kt")          # docs/android/, in the page's order
KOTLIN_MAX_LINES = 60                              # issue 30: the loop, resampler included
G = 9.80665                                        # m/s2 per g, as the page divides
TYPE_ACCELEROMETER, TYPE_GYROSCOPE = 1, 4          # android.hardware.Sensor's constants


def _doc_rows():
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0].endswith(".tflite"):
            rows[cells[0]] = cells
    return rows


def _kotlin_blocks() -> list[str]:
    return re.findall(r"```kotlin\n(.*?)```", DOC.read_text(), re.S)


def _code_lines(text: str) -> int:
    """Lines of code: not blank, not a comment, not an import."""
    return sum(1 for line in text.splitlines()
               if line.strip() and not re.match(r"\s*(//|/\*|\*|import )", line))


def test_android_doc_matches_shipped_tflite():
    from ai_edge_litert.interpreter import Interpreter

    rows = {n: r for n, r in _doc_rows().items() if n != "model_stream.tflite"}
    assert set(rows) == {"model_int8.tflite", "model_fp32.tflite"}
    for name, (_, sig, in_name, in_shape, in_dtype, out_name, out_shape, out_dtype) in rows.items():
        it = Interpreter(model_path=str(PRETRAINED / name))
        sigs = it.get_signature_list()
        assert list(sigs) == [sig]
        assert sigs[sig]["inputs"] == [in_name] and sigs[sig]["outputs"] == [out_name]
        runner = it.get_signature_runner(sig)
        i = runner.get_input_details()[in_name]
        o = runner.get_output_details()[out_name]
        assert str(i["shape"].tolist()) == in_shape and i["dtype"].__name__ == in_dtype
        assert str(o["shape"].tolist()) == out_shape and o["dtype"].__name__ == out_dtype


def _stream_row(state_size: str) -> dict[str, tuple[str, str]]:
    """The page's model_stream.tflite row: name -> (shape, dtype), "S" read as ``state_size``;
    the input "state" and the output "state" are keyed "in:state" and "out:state"."""
    _, sig, *cells = _doc_rows()["model_stream.tflite"]
    assert sig == SIGNATURE
    split = [[c.strip() for c in cell.split(";")] for cell in cells]
    ins = zip(*split[:3])
    outs = zip(*split[3:])
    return {f"{side}:{n}": (shape.replace("S", state_size), dtype)
            for side, rows in (("in", ins), ("out", outs)) for n, shape, dtype in rows}


def test_android_doc_stream_row_follows_the_contract():
    """Names, order and the sizes the manifest fixes (hop, labels), before the file exists."""
    m = read_manifest(PRETRAINED)
    row = _stream_row("S")
    assert list(row) == [f"in:{n}" for n in INPUTS] + [f"out:{n}" for n in OUTPUTS]
    assert row["in:samples"] == (f"[1, {m.spec.hop}, 6]", "float32")
    assert row["out:probs"] == (f"[1, {len(m.labels)}]", "float32")
    assert row["in:state"] == row["out:state"] == ("[1, S]", "float32")
    assert row["out:ready"] == ("[1]", "float32")


def test_android_doc_stream_row_matches_the_shipped_stream_file():
    m = read_manifest(PRETRAINED)
    entry = m.files.get("model_stream.tflite")
    if entry is None or not (PRETRAINED / "model_stream.tflite").exists():
        pytest.skip("the shipped bundle has no model_stream.tflite yet (issue 30 item 1)")
    from ai_edge_litert.interpreter import Interpreter

    info = entry.stream
    row = _stream_row(str(info.state_size))
    it = Interpreter(model_path=str(PRETRAINED / "model_stream.tflite"))
    assert list(it.get_signature_list()) == [info.signature] == [SIGNATURE]
    runner = it.get_signature_runner(SIGNATURE)
    for side, details in (("in", runner.get_input_details()), ("out", runner.get_output_details())):
        assert [k.split(":")[1] for k in row if k.startswith(side)] == list(details)
        for name, d in details.items():
            assert row[f"{side}:{name}"] == (str(d["shape"].tolist()), d["dtype"].__name__)
    assert (list(info.inputs), list(info.outputs)) == (list(INPUTS), list(OUTPUTS))


def test_android_doc_kotlin_is_the_compiled_files():
    assert _kotlin_blocks()[:2] == [(REPO / "docs" / "android" / f).read_text() for f in KOTLIN]


def test_android_doc_kotlin_loop_is_short_and_has_no_dsp():
    code = "".join((REPO / "docs" / "android" / f).read_text() for f in KOTLIN)
    assert _code_lines(code) <= KOTLIN_MAX_LINES
    assert f"at most {KOTLIN_MAX_LINES} lines" in DOC.read_text()
    statements = re.sub(r"//.*|/\*.*?\*/", "", code, flags=re.S)   # no DSP, comments aside
    assert not re.search(r"butter|filter|gravity|normaliz|rotat|mean|std", statements, re.I)


def test_android_doc_appendix_calls_run_signature_with_the_int8_names():
    appendix = DOC.read_text().split("## Appendix")[1]
    _, sig, in_name, _, _, out_name, _, _ = _doc_rows()["model_int8.tflite"]
    assert (f'interpreter.runSignature(mapOf("{in_name}" to input), mapOf("{out_name}" to output),'
            f'\n            "{sig}")') in appendix


def test_android_doc_kotlin_calls_run_signature_with_the_stream_names():
    code = (REPO / "docs" / "android" / "HarStream.kt").read_text()
    assert not any("getSignatureRunner" in b for b in _kotlin_blocks())   # not in Java's API
    inputs = re.search(r"val inputs = mapOf\((.*)\)", code).group(1)
    outputs = re.search(r"val outputs = mapOf\((.*)\)", code).group(1)
    assert re.findall(r'"(\w+)" to', inputs) == list(INPUTS)
    assert re.findall(r'"(\w+)" to', outputs) == list(OUTPUTS)
    assert "interpreter.runSignature(inputs, outputs, info.getString(\"signature\"))" in code
    entry = read_manifest(PRETRAINED).files.get("model_stream.tflite")
    if entry is not None and entry.stream is not None:
        assert (list(entry.stream.inputs), list(entry.stream.outputs)) == (list(INPUTS), list(OUTPUTS))
        assert entry.stream.signature == SIGNATURE


# --- the Kotlin, compiled once per session -------------------------------------------------------

@pytest.fixture(scope="session")
def kotlin_harness(tmp_path_factory):
    """docs/android/*.kt with tests/kotlin (stand-ins for the Android, org.json and LiteRT
    classes it calls, and a driver) compiled into one jar: a java command line to run it."""
    kotlinc, java = shutil.which("kotlinc"), shutil.which("java")
    if kotlinc is None or java is None:
        pytest.skip("kotlinc (and java) not installed (Debian: apt-get install kotlin)")
    jar = tmp_path_factory.mktemp("kotlin") / "harness.jar"
    sources = ([REPO / "docs" / "android" / f for f in KOTLIN]
               + sorted((REPO / "tests" / "kotlin" / "stubs").glob("*.kt"))
               + [REPO / "tests" / "kotlin" / "Harness.kt"])
    r = subprocess.run([kotlinc, *map(str, sources), "-include-runtime", "-d", str(jar)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and jar.exists(), r.stderr[-4000:]
    assert "warning" not in re.sub(r".*VM warning.*\n", "", r.stderr), r.stderr[-4000:]
    return [java, "-cp", str(jar), "HarnessKt"]


def _run(cmd, text: str) -> list[str]:
    r = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-4000:]
    return r.stdout.splitlines()


def _numbers(lines: list[str]) -> np.ndarray:
    return np.array([[float(x) for x in line.split()] for line in lines])


def _sensor_rows(rng, seconds: float, rate: float, offset: float):
    """A phone sensor: +-2 ms jitter around ``rate``, a repeated timestamp, values a smooth
    signal plus noise."""
    n = int(seconds * rate)
    t = 1712345678.123 + offset + np.arange(n) / rate + rng.uniform(-2e-3, 2e-3, n)
    t[50] = t[49]                       # a HAL batch with one timestamp: merged
    v = np.sin(np.outer(t - t[0], [1.0, 2.1, 0.7])) + rng.normal(0, 0.05, (n, 3))
    return t, v


def _python_grid(acc, gyro, max_gap: float = 1.0):
    from edgehar.runtime.logs.chunk import DataQuality
    from edgehar.runtime.logs.resample import GridAligner, TimedStream

    q = DataQuality()
    streams = []
    for name, (t, v) in (("acc", acc), ("gyro", gyro)):
        s = TimedStream(name, q, max_gap)
        s.push(t, v, first_line=1)
        streams.append(s)
    chunks = list(GridAligner(streams, q).emit())
    starts = np.concatenate([[c.new_segment] + [False] * (len(c.samples) - 1) for c in chunks])
    return starts, np.concatenate([c.samples for c in chunks])


def _interleaved(acc, gyro, fmt):
    """Both sensors' rows in arrival order, as a listener receives them."""
    rows = [(t, 0, v) for t, v in zip(acc[0].tolist(), acc[1])]
    rows += [(t, 1, v) for t, v in zip(gyro[0].tolist(), gyro[1])]
    rows.sort(key=lambda r: r[0])
    return "".join(fmt(*r) for r in rows)


def _two_sensors(rng, seconds=30.0, gap_at=None):
    acc = _sensor_rows(rng, seconds, 100.0, 0.0)
    gyro = _sensor_rows(rng, seconds, 200.0, 0.0137)   # starts later: t0 is its first row
    if gap_at is not None:                              # both sensors pause for 2.5 s
        for t, _ in (acc, gyro):
            t[t > t[0] + gap_at] += 2.5
    return acc, gyro


@pytest.mark.parametrize("gap_at", [None, 7.3])
def test_kotlin_resampler_matches_the_python_grid(kotlin_harness, rng, gap_at):
    acc, gyro = _two_sensors(rng, gap_at=gap_at)
    starts, values = _python_grid(acc, gyro)
    assert starts.sum() == (1 if gap_at is None else 2)
    out = _numbers(_run(kotlin_harness, "resample\n" + _interleaved(
        acc, gyro, lambda t, s, v: f"{s} {t!r} {' '.join(map(repr, v.tolist()))}\n")))
    assert out.shape == (len(values), 7)
    np.testing.assert_array_equal(out[:, 0].astype(bool), starts)
    np.testing.assert_allclose(out[:, 1:], values, rtol=0, atol=1e-9)


def test_kotlin_loop_steps_the_stream_as_the_contract_says(kotlin_harness, rng):
    """HarStream through a stand-in Interpreter (tests/kotlin/stubs): registration at 50 Hz, m/s2
    -> g, channel order, one step per hop, the state carried, ready gating, and after a gap a
    new window with the state zeroed but the orientation slice."""
    hop = 64
    manifest = {"labels": list("ABCDEF"), "files": {"model_stream.tflite": {"stream": {
        "signature": SIGNATURE, "hop": hop, "state_size": 4, "orientation_slice": [2, 4]}}}}
    acc, gyro = _two_sensors(rng, seconds=20.0, gap_at=7.3)
    acc = (np.round(acc[0] * 1e9) * 1e-9, (acc[1] * G).astype(np.float32))
    gyro = (np.round(gyro[0] * 1e9) * 1e-9, gyro[1].astype(np.float32))
    text = _interleaved(acc, gyro, lambda t, s, v: "{} {} {}\n".format(
        (TYPE_ACCELEROMETER, TYPE_GYROSCOPE)[s], int(round(t * 1e9)), " ".join(map(repr, v.tolist()))))
    out = _run(kotlin_harness, "loop\n" + json.dumps(manifest) + "\n" + text)
    assert out[0] == f"registered {TYPE_ACCELEROMETER}:20000 {TYPE_GYROSCOPE}:20000"   # 50 Hz
    # expected: the Python grid of the same events, cut into segments and hops
    t_acc = np.array([int(round(t * 1e9)) for t in acc[0]]) * 1e-9
    t_gyro = np.array([int(round(t * 1e9)) for t in gyro[0]]) * 1e-9
    starts, x = _python_grid((t_acc, acc[1].astype(np.float64) / G),
                             (t_gyro, gyro[1].astype(np.float64)))
    x = x.astype(np.float32)
    state, expected = np.zeros(4, np.float32), []
    for seg in np.split(x, np.flatnonzero(starts)[1:]):
        state[:2] = 0
        for j in range(len(seg) // hop):
            w = seg[j * hop:(j + 1) * hop]
            if state[0] >= 1:
                expected.append([state[0], state[2], w[0, 0], w[-1, 2], w[-1, 3], w[0, 5]])
            state = np.array([state[0] + 1, w[0, 0], state[2] + 1, 0], np.float32)
    assert len(out) - 1 == len(expected) > 0
    np.testing.assert_allclose(_numbers(out[1:]), np.array(expected, np.float32), rtol=0, atol=1e-6)
