"""The commands as users type them, in an empty directory: bare `edgehar train`, `edgehar export
--int8` (newest run, else the shipped weights) and `edgehar replay --model runs/.../bundle`."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("litert_torch")
from click.testing import CliRunner  # noqa: E402

from edgehar.cli import main  # noqa: E402
from edgehar.runtime.assets import PRETRAINED, SAMPLE_LOG  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.export]


def test_train_export_replay_with_no_other_argument(tmp_path, monkeypatch, recordings):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(main, ["train", "--epochs", "1"])
    assert r.exit_code == 0, r.output
    assert "runs/resnext1d_small" in r.output
    assert (tmp_path / "runs" / "resnext1d_small" / "weights.pt").is_file()
    r = runner.invoke(main, ["export", "--int8", "--max-drop", "100"])
    assert r.exit_code == 0, r.output
    assert "exporting the newest run: runs/resnext1d_small" in r.output
    bundle = tmp_path / "runs" / "resnext1d_small" / "bundle"
    assert (bundle / "model_int8.tflite").is_file() and (bundle / "report.html").is_file()
    out = tmp_path / "p.jsonl"
    r = runner.invoke(main, ["replay", "--model", "runs/resnext1d_small/bundle", str(SAMPLE_LOG),
                             "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert len(out.read_text().splitlines()) > 100


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
    for a, b in zip(made["chain"], shipped["chain"]):
        assert a["step"] == b["step"]
        # float steps exactly; INT8 steps within one window (another CPU may round one
        # requantization differently)
        tol = 0 if b["max_abs_logit_diff"] is not None else 1 / n + 1e-12
        assert abs(a["accuracy"] - b["accuracy"]) <= tol, a["step"]
