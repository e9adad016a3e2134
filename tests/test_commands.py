"""The commands as users type them, in an empty directory: bare `edgehar train`, `edgehar export
--int8` (newest run, else the shipped weights) and `edgehar replay --model runs/.../bundle`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("litert_torch")
from click.testing import CliRunner  # noqa: E402

from edgehar.cli import main  # noqa: E402
from edgehar.runtime.assets import PRETRAINED, SAMPLE_LOG  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.export]

MAX_DROP_PP = 5.0


def test_train_export_replay_with_no_other_argument(tmp_path, monkeypatch, recordings):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(main, ["train", "--epochs", "1"])
    assert r.exit_code == 0, r.output
    assert "runs/resnext1d_small" in r.output
    assert (tmp_path / "runs" / "resnext1d_small" / "weights.pt").is_file()
    # the chain's INT8 bound in test_export (5 pp): export's own check enforces it
    r = runner.invoke(main, ["export", "--int8", "--max-drop", str(MAX_DROP_PP)])
    assert r.exit_code == 0, r.output
    assert "exporting the newest run: runs/resnext1d_small" in r.output
    bundle = tmp_path / "runs" / "resnext1d_small" / "bundle"
    assert (bundle / "model_int8.tflite").is_file() and (bundle / "report.html").is_file()
    report = json.loads((bundle / "report.json").read_text())
    assert all(abs(row["drop_vs_torch_pp"]) <= MAX_DROP_PP for row in report["chain"])
    out, summary = tmp_path / "p.jsonl", tmp_path / "s.json"
    r = runner.invoke(main, ["replay", "--model", "runs/resnext1d_small/bundle", str(SAMPLE_LOG),
                             "--out", str(out), "--summary", str(summary)])
    assert r.exit_code == 0, r.output
    _replay_is_the_bundles(runner, out, json.loads(summary.read_text()), bundle.resolve(), tmp_path)


def _replay_is_the_bundles(runner, out, summary: dict, bundle, tmp_path) -> None:
    """The replay ran this bundle's INT8 .tflite over every window of the sample: the summary
    names it, one line per window from sample 0 every hop; and the same replay with the
    orientation export used (fixed) gives the sample replay export recorded in golden.npz
    (through the model object, not replay's model lookup) within runtime.parity's tolerance
    for LiteRT's default kernels against the reference kernels that recorded it."""
    import numpy as np

    from edgehar.runtime.manifest import read_manifest
    from edgehar.runtime.parity import TOLERANCE_STEPS, flips_outside_ties

    assert Path(summary["model_file"]).resolve() == bundle / "model_int8.tflite", summary
    m = read_manifest(bundle)
    g = np.load(bundle / "golden.npz")
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [p["start"] for p in lines] == g["sample_starts_tflite_int8"].tolist()
    assert len(lines) == summary["windows"] and lines[1]["start"] == m.spec.hop
    fixed = tmp_path / "fixed.jsonl"
    r = runner.invoke(main, ["replay", "--model", str(bundle), str(SAMPLE_LOG), "--out", str(fixed),
                             "--orientation", "fixed"])
    assert r.exit_code == 0, r.output
    probs = np.array([json.loads(x)["probs"] for x in fixed.read_text().splitlines()])
    ref = g["sample_probs_tflite_int8"]
    tol = TOLERANCE_STEPS["default"] * m.files["model_int8.tflite"].io.output.scale
    assert probs.shape == ref.shape and np.abs(probs - ref).max() <= tol + 1e-6
    assert flips_outside_ties(probs, ref, 2 * tol) == 0


def test_export_with_no_run_anywhere_exports_the_shipped_weights(tmp_path, monkeypatch,
                                                                  recordings):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["export", "--int8", "--max-drop", "0.5"])
    assert r.exit_code == 0, r.output
    assert "shipped pretrained weights" in r.output
    made = json.loads((tmp_path / "runs" / "pretrained" / "bundle" / "report.json").read_text())
    shipped = json.loads((PRETRAINED / "report.json").read_text())
    n = shipped["test_windows"]
    assert made["test_windows"] == n
    # the shipped bundle was exported with --mcu, which adds the TFLM row; export --int8 does not
    shipped_rows = [b for b in shipped["chain"] if b["step"] != "tflm_int8"]
    assert [a["step"] for a in made["chain"]] == [b["step"] for b in shipped_rows]
    for a, b in zip(made["chain"], shipped_rows, strict=True):
        assert a["step"] == b["step"]
        # float steps exactly; INT8 steps within one window (another CPU may round one
        # requantization differently)
        tol = 0 if b["max_abs_logit_diff"] is not None else 1 / n + 1e-12
        assert abs(a["accuracy"] - b["accuracy"]) <= tol, a["step"]
