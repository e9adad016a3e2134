"""A tiny trained model through the whole export with the real converters and runtimes."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("litert_torch")

from edgehar.export.bundle import ExportOptions, export_bundle
from edgehar.export.formats import Format
from edgehar.runtime.files import sha256
from edgehar.runtime.model import load_model

pytestmark = [pytest.mark.slow, pytest.mark.export]


@pytest.fixture(scope="module")
def tiny_run(recordings, tmp_path_factory):
    from edgehar.data.windows import split, windows_from_recordings
    from edgehar.train.trainer import TrainConfig, train

    out = tmp_path_factory.mktemp("run")
    splits = split(windows_from_recordings([r for r in recordings if r.user in (1, 3, 2)]))
    train(TrainConfig(model="resnext1d_tiny", epochs=3, seed=0, max_windows=600), out,
          splits=splits, progress=False)
    return out


@pytest.fixture(scope="module")
def bundle(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    res = export_bundle(tiny_run, out, ExportOptions(int8=True, max_drop_pp=100.0,
                                                     calib_windows=128, max_test_windows=600),
                        log=lambda *_: None)
    return out, res


def test_chain_numbers_within_bounds(bundle):
    out, res = bundle
    rows = {r.step: r for r in res.chain.rows}
    assert list(rows) == ["torch_fp32", "onnx_fp32", "onnx_int8", "tflite_fp32", "tflite_int8",
                          "tflite_stream"]
    for step in ("onnx_fp32", "tflite_fp32"):
        assert rows[step].agreement_top1 >= 0.999
        assert rows[step].max_abs_logit_diff < 1e-3
        assert abs(rows[step].drop_vs_torch_pp) < 0.2
    for step in ("onnx_int8", "tflite_int8"):
        assert rows[step].agreement_top1 >= 0.9
        assert abs(rows[step].drop_vs_torch_pp) <= 5.0
    report = json.loads((out / "report.json").read_text())
    assert [r["step"] for r in report["chain"]] == list(rows)
    assert "| tflite_int8 |" in (out / "report.md").read_text()


def test_stream_file_row(bundle):
    """model_stream.tflite: its StreamInfo read from the file, its chain row scored on a raw
    test recording against the INT8 file through the runtime (running), its parity row."""
    from edgehar.runtime.stream_file import StreamFile

    out, res = bundle
    entry = res.manifest.files["model_stream.tflite"]
    info = entry.stream
    assert info.network == "int8" and info.orientation == "auto" and info.hop == 64
    assert set(info.inputs) == {"samples", "state"} and entry.signatures == ["step"]
    assert info.orientation_slice[1] == info.state_size
    row = next(r for r in res.chain.rows if r.step == "tflite_stream")
    assert row.previous == "tflite_int8 (running)" and row.agreement_top1 >= 0.99
    parity = json.loads((out / "report.json").read_text())["stream_parity"]
    assert parity["flips_outside_ties"] == 0 and parity["recordings"] == 1
    stream = StreamFile.open(out)   # sha256 checked against the manifest
    _, ready = stream.step(np.zeros((64, 6)))
    assert not ready


def test_manifest_lineage_and_metadata(bundle):
    out, _ = bundle
    m = json.loads((out / "manifest.json").read_text())
    files = m["files"]
    assert set(files) == {"weights.pt", "model_fp32.onnx", "model_int8.onnx",
                          "model_fp32.tflite", "model_int8.tflite", "model_int8_b64.tflite",
                          "model_stream.tflite"}
    assert files["model_stream.tflite"]["parent"] == "weights.pt"
    for name, f in files.items():
        assert f["sha256"] == sha256(out / name)
        if f["parent"]:
            assert f["parent_sha256"] == files[f["parent"]]["sha256"]
    assert files["model_int8.onnx"]["parent"] == "model_fp32.onnx"
    assert files["model_int8.tflite"]["signatures"] == ["serving_default"]
    # integer-only (no --float-modules): int8 in and out, and the manifest's scale and zero
    # point are the file's own, as LiteRT's interpreter reads them from the flatbuffer
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(out / "model_int8.tflite"))
    io = files["model_int8.tflite"]["io"]
    for side, (detail,) in (("input", interp.get_input_details()),
                            ("output", interp.get_output_details())):
        assert io[side]["dtype"] == "int8" == detail["dtype"].__name__, side
        scale, zero_point = detail["quantization"]
        assert io[side]["scale"] == pytest.approx(scale, rel=1e-7), side
        assert io[side]["zero_point"] == zero_point, side
    assert m["calibration"]["windows"] == 128 and m["calibration"]["seed"] == 0
    assert m["labels"][0] == "WALKING" and m["window"] == 128 and m["hop"] == 64
    import onnx

    props = {p.key: p.value for p in onnx.load(str(out / "model_int8.onnx")).metadata_props}
    assert props["labels"].split(",") == m["labels"] and props["window"] == "128"


def test_batched_tflite_gives_the_batch1_outputs(bundle):
    """model_int8_b64.tflite: a fixed batch of 64, each window's int8 outputs the batch-1
    file's, bit for bit, whether a short last group is padded (50 of 64) or goes through the
    batch-1 parent (22 of 64)."""
    out, _ = bundle
    x = np.random.default_rng(3).normal(size=(178, 128, 9)).astype(np.float32)
    one = load_model(out / "model_int8.tflite")
    b64 = load_model(out, batched=True)
    assert b64.runner.input.shape[0] == 64 and b64.path.endswith("model_int8_b64.tflite")
    for n in (178, 150, 50, 22, 1):
        np.testing.assert_array_equal(b64.runner(x[:n]), one.runner(x[:n]), err_msg=str(n))


# The INT8 rows' bar in test_chain_numbers_within_bounds: top-1 agreement with torch FP32.
INT8_AGREEMENT = 0.9


def test_golden_outputs_reproduce(bundle):
    """golden.npz against torch: the bundle's weights.pt, run here on the golden inputs, within
    the chain's float tolerance (FLOAT_ATOL in logits) for the float files and the chain's INT8
    agreement for the INT8 files. Then each file reproduces its own golden outputs."""
    from edgehar.export.options import FLOAT_ATOL
    from edgehar.train.checkpoint import load_run, predict_logits

    out, _ = bundle
    g = np.load(out / "golden.npz")
    model, _, _ = load_run(out)
    torch_logits = predict_logits(model, g["inputs_normalized"])
    assert len(torch_logits) >= 64
    np.testing.assert_allclose(g["torch_fp32"], torch_logits, atol=1e-5)
    for name, key in (("model_fp32.onnx", "onnx_fp32"), ("model_int8.onnx", "onnx_int8"),
                      ("model_fp32.tflite", "tflite_fp32"), ("model_int8.tflite", "tflite_int8")):
        if "fp32" in key:
            np.testing.assert_allclose(g[key], torch_logits, atol=FLOAT_ATOL, err_msg=key)
        else:
            agreement = (g[key].argmax(1) == torch_logits.argmax(1)).mean()
            assert agreement >= INT8_AGREEMENT, f"{key}: top-1 agreement with torch {agreement:.3f}"
        # the INT8 .tflite's golden outputs are the reference kernels' (TFLite's semantics)
        m = load_model(out / name, kernels="reference" if key == "tflite_int8" else "default")
        np.testing.assert_allclose(m.runner(g["inputs_normalized"]), g[key], atol=1e-5, err_msg=key)


def test_single_onnx_file_reads_its_metadata(bundle, tmp_path):
    out, _ = bundle
    lone = tmp_path / "lone.onnx"
    lone.write_bytes((out / "model_int8.onnx").read_bytes())
    m = load_model(lone)
    assert m.labels[5] == "LAYING" and m.spec.window == 128
    np.testing.assert_allclose(m.mean, json.loads((out / "manifest.json").read_text())
                               ["normalization"]["mean"], rtol=1e-6)


def test_max_drop_zero_fails_naming_the_step(tiny_run, tmp_path):
    from click.testing import CliRunner

    from edgehar.cli import main

    out = tmp_path / "b"
    r = CliRunner().invoke(main, ["export", str(tiny_run), "--out", str(out), "--int8",
                                  "--max-drop", "0", "--formats", "onnx",
                                  "--calib-windows", "64"])
    assert r.exit_code == 1
    assert "exceeds --max-drop" in r.output and "onnx_int8" in r.output
    report = json.loads((out / "report.json").read_text())
    assert report["failed_steps"] == ["onnx_int8"]   # the float step loses nothing
    assert "model_int8.onnx" in r.output and "KB" in r.output    # the files written stay listed
    assert "next:" not in r.output                                # but nothing to run next
    # an INT8 step over the limit gets the per-layer SQNR analysis in the report
    assert report["int8_layer_sqnr"] and "sqnr_db" in report["int8_layer_sqnr"][0]
    assert "SQNR" in (out / "report.md").read_text()
    for name in report["files"]:
        f = json.loads((out / "manifest.json").read_text())["files"][name]
        assert f["sha256"] == sha256(out / name)


def test_a_float_step_past_its_tolerance_ends_in_one_line(tiny_run, tmp_path):
    """Forced: --float-atol 0 fails the first float step's validation (ONNX Runtime's kernels
    round differently from torch's)."""
    from click.testing import CliRunner

    from edgehar.cli import main
    from edgehar.runtime.manifest import read_manifest

    out = tmp_path / "b"
    r = CliRunner().invoke(main, ["export", str(tiny_run), "--out", str(out), "--formats", "onnx",
                                  "--float-atol", "0", "--progress"])
    assert r.exit_code == 1, r.output
    assert "[onnx_fp32] converting" in r.stderr      # asked for; a script gets none by default
    errors = [ln for ln in r.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and r.stderr.strip().splitlines()[-1] == errors[0]
    assert "Traceback" not in r.output
    assert "onnx_fp32" in errors[0] and "exceeds" in errors[0] and "incomplete" in errors[0]
    m = read_manifest(out)           # the bundle still reads, and says what happened
    assert m.complete is False and "onnx_fp32" in m.failure
    assert list(m.files) == ["weights.pt"]
    assert not (out / "model_fp32.onnx").exists()   # the failed file is not left behind
    assert m.files["weights.pt"].sha256 == sha256(out / "weights.pt")
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] is False and "incomplete" in (out / "report.md").read_text().lower()


def test_evaluate_accepts_every_exported_format(bundle, windows_test_split):
    """evaluate on the full test split (not the chain's slice) against torch on the same
    windows, scored by scikit-learn: the float file within the chain's float bound (0.2 pp),
    the INT8 file within its INT8 bound (5 pp)."""
    from sklearn.metrics import accuracy_score

    from edgehar.evaluate_any import evaluate_path
    from edgehar.train.checkpoint import load_run, predict_logits

    out, _ = bundle
    model, norm, _ = load_run(out)
    ws = windows_test_split
    torch_acc = accuracy_score(ws.y, predict_logits(model, norm.apply(ws.x)).argmax(1))
    for name, bound_pp in (("model_fp32.onnx", 0.2), ("model_int8.tflite", 5.0)):
        (r,) = evaluate_path(out / name, "test")
        assert r["n"] == len(ws.y)
        assert abs(100 * (r["accuracy"] - torch_acc)) <= bound_pp, (name, r["accuracy"], torch_acc)


def test_float_modules_make_a_hybrid_that_says_so(tiny_run, tmp_path):
    """--float-modules stem (diagnosis): float input, the manifest says not integer-only."""
    out = tmp_path / "b"
    res = export_bundle(tiny_run, out, ExportOptions(int8=True, max_drop_pp=100.0,
                                                     calib_windows=64, max_test_windows=300,
                                                     formats=frozenset({Format.TFLITE}),
                                                     float_modules=("stem",)),
                        log=lambda *_: None)
    m = load_model(out / "model_int8.tflite")
    assert m.runner.input.dtype == "float32"
    assert res.manifest.quantization.integer_only is False
    assert res.chain.rows[-1].agreement_top1 >= 0.85


def test_int8_tflite_is_integer_only_with_folded_input_clips(bundle, tiny_run):
    from edgehar.quantize.tflite_file import read_model, tensor_types
    from edgehar.train.checkpoint import load_run, predict_logits

    out, res = bundle
    data = (out / "model_int8.tflite").read_bytes()
    assert set(tensor_types(read_model(data))) <= {"INT8", "INT32"}
    m = load_model(out / "model_int8.tflite")
    assert m.runner.input.dtype == "int8" and m.runner.output.dtype == "int8"
    assert res.manifest.quantization.integer_only is True
    # the bundle's weights and normalization are the run's with the clips folded in: the same
    # function of the raw window, and every channel in [-1, 1] at the clip
    run_model, run_norm, _ = load_run(tiny_run)
    b_model, b_norm, _ = load_run(out)
    clips = np.asarray(b_norm.input_clip)
    assert clips.shape == (9,) and (clips > 0).all()
    np.testing.assert_allclose(np.asarray(b_norm.std), np.asarray(run_norm.std) * clips, rtol=1e-6)
    x = np.random.default_rng(0).normal(size=(16, 128, 9)).astype(np.float32)
    np.testing.assert_allclose(predict_logits(b_model, b_norm.apply(x)),
                               predict_logits(run_model, run_norm.apply(x)), atol=1e-4)
    parity = res.manifest.files["model_int8.tflite"].parity
    assert list(parity.kernels) == ["default", "builtin"]
    assert all(p.max_steps <= p.allowed_steps for p in parity.kernels.values())


def test_mcu_kit(tiny_run, tmp_path):
    """--mcu: the C array is the .tflite byte for byte, the resolver names every op, the arena
    is TFLM's own minimum, and TFLM scores the chain windows as a row of its own."""
    pytest.importorskip("tflite_micro")
    import re

    from edgehar.quantize.mcu import arena_bytes, needed_ops, resolver_method
    from edgehar.runtime.backends import TFLMRunner

    out = tmp_path / "b"
    res = export_bundle(tiny_run, out, ExportOptions(int8=True, max_drop_pp=100.0,
                                                     calib_windows=64, max_test_windows=200,
                                                     formats=frozenset({Format.TFLITE}), mcu=True),
                        log=lambda *_: None)
    data = (out / "model_int8.tflite").read_bytes()
    cc, h = (out / "mcu" / "model_int8.cc").read_text(), (out / "mcu" / "model_int8.h").read_text()
    ops_txt = (out / "mcu" / "ops.txt").read_text()
    body = cc[cc.index("{") + 1:cc.index("};")]
    assert bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", body)) == data
    assert f"g_edgehar_model_len = {len(data)};" in cc
    mcu = res.manifest.files["model_int8.tflite"].mcu
    assert mcu.arena_bytes == arena_bytes(data)
    assert f"kEdgeharArenaBytes = {mcu.arena_bytes};" in h
    assert f"MicroMutableOpResolver<{len(mcu.ops)}>" in h
    assert set(mcu.ops) == set(needed_ops(data)) and "CONV_2D" in mcu.ops
    assert all(f"resolver.{resolver_method(op)}()" in h for op in mcu.ops)
    assert all(line in ops_txt for line in mcu.resolver)
    assert resolver_method("CONV_2D") == "AddConv2D"
    assert resolver_method("FULLY_CONNECTED") == "AddFullyConnected"
    TFLMRunner(out / "model_int8.tflite", arena_bytes=mcu.arena_bytes)   # fits exactly
    with pytest.raises(Exception, match="TFLM cannot run it"):
        TFLMRunner(out / "model_int8.tflite", arena_bytes=mcu.arena_bytes - 256)
    _compiled_array_is_the_model(out / "mcu" / "model_int8.cc", data, tmp_path)
    rows = {r.step: r for r in res.chain.rows}
    assert list(rows)[-1] == "tflm_int8" and rows["tflm_int8"].previous == "tflite_int8"
    tflm = res.manifest.files["model_int8.tflite"].parity.kernels["tflm"]
    assert tflm.max_steps <= tflm.allowed_steps
    assert tflm.top1_agreement_vs_litert >= 0.99


def _compiled_array_is_the_model(cc, data: bytes, tmp_path) -> None:
    """Compile the kit's .cc with a C++ compiler and dump the array: the .tflite's bytes."""
    import shutil
    import subprocess

    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler (g++ or clang++) on PATH: the kit's .cc was checked byte "
                    "by byte but not compiled")
    main = tmp_path / "dump.cc"
    main.write_text('#include <cstdio>\nextern const unsigned char g_edgehar_model[];\n'
                    'extern const unsigned int g_edgehar_model_len;\n'
                    'int main() { fwrite(g_edgehar_model, 1, g_edgehar_model_len, stdout); '
                    'return reinterpret_cast<unsigned long>(g_edgehar_model) % 16; }\n')
    exe = tmp_path / "dump"
    subprocess.run([cxx, "-std=c++17", "-O0", str(cc), str(main), "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)], capture_output=True, check=True).stdout == data


def test_mcu_refuses_a_hybrid_before_writing(tiny_run, tmp_path):
    from edgehar.runtime.errors import EdgeharError

    with pytest.raises(EdgeharError, match="integer-only"):
        export_bundle(tiny_run, tmp_path / "b", ExportOptions(int8=True, mcu=True,
                                                              float_modules=("stem",)),
                      log=lambda *_: None)
    assert not (tmp_path / "b").exists()


def test_quantize_adds_the_same_int8_files_and_chain_as_export_int8(bundle, tiny_run, tmp_path):
    from dataclasses import replace

    from edgehar.export.bundle import quantize_bundle

    full, res = bundle
    opts = ExportOptions(int8=False, max_drop_pp=100.0, calib_windows=128, max_test_windows=600)
    fp32 = tmp_path / "b"
    first = export_bundle(tiny_run, fp32, opts, log=lambda *_: None)
    assert set(first.manifest.files) == {"weights.pt", "model_fp32.onnx", "model_fp32.tflite"}
    q = quantize_bundle(fp32, replace(opts, int8=True), log=lambda *_: None)
    assert set(q.manifest.files) == set(res.manifest.files)
    assert "model_stream.tflite" in q.manifest.files        # the stream file comes with the INT8
    for name in res.manifest.files:
        assert sha256(fp32 / name) == sha256(full / name), name
    assert q.chain.to_json() == res.chain.to_json()
    g1, g2 = np.load(full / "golden.npz"), np.load(fp32 / "golden.npz")
    assert sorted(g1.files) == sorted(g2.files)
    assert all(np.array_equal(g1[k], g2[k]) for k in g1.files)


def test_export_refuses_to_fold_over_its_own_training_run(tiny_run):
    from edgehar.runtime.errors import EdgeharError

    before = sha256(tiny_run / "weights.pt")
    with pytest.raises(EdgeharError, match="training run itself"):
        export_bundle(tiny_run, tiny_run, ExportOptions(int8=True), log=lambda *_: None)
    assert sha256(tiny_run / "weights.pt") == before


def test_fine_tuning_starts_from_the_unfolded_model(bundle, tiny_run):
    """A bundle's folded clips come off for training: same weights and standardization as
    the run it was exported from."""
    import torch

    from edgehar.train.checkpoint import load_run
    from edgehar.train.input_clips import unfold_input_clips

    out, _ = bundle
    run_model, run_norm, _ = load_run(tiny_run)
    model, norm = unfold_input_clips(*load_run(out)[:2])
    assert norm.input_clip is None
    np.testing.assert_allclose(norm.std, run_norm.std, rtol=1e-6)
    for (k, a), b in zip(model.state_dict().items(), run_model.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7), k


def test_a_parity_excess_fails_its_row_through_the_step_wrapper(bundle, monkeypatch):
    """int8_parity is a row like the conversions: beyond the allowed steps it raises
    StepFailed naming the row and the kernels (export then exits 1 with complete: false, as
    for any failed step), the files stay, and the measured steps are recorded."""
    from edgehar.export import steps
    from edgehar.export.chain import Chain
    from edgehar.runtime.backends import open_runner
    from edgehar.runtime.manifest import read_manifest

    out, _ = bundle
    x = np.random.default_rng(5).normal(size=(32, 128, 9)).astype(np.float32)
    logits = open_runner(out / "model_int8.tflite")(x)
    ex = steps.Export(out, ExportOptions(int8=True), read_manifest(out),
                      Chain(np.zeros(32, int), logits, 1.0, ("a",) * 6), None, x,
                      tflite_int8_logits=logits)
    (row,) = [s for s in steps.STEPS if s.name == "int8_parity"]
    assert row is steps.steps_for(ExportOptions(int8=True, formats=frozenset({Format.TFLITE})))[-1]
    monkeypatch.setitem(steps.TOLERANCE_STEPS, "builtin", -1)
    with pytest.raises(steps.StepFailed, match=r"int8_parity: ValidationError: .*builtin kernels"):
        steps.run_step(ex, row, log=lambda *_: None)
    assert ex.manifest.files["model_int8.tflite"].parity.kernels["builtin"].allowed_steps == -1
    assert (out / "model_int8.tflite").is_file()
