"""Bring your own model: a user's module, named package.module:factory, through train ->
export -> replay with the real converters and runtimes, and the peers' registration."""

import json
import textwrap

import pytest

pytest.importorskip("torch")
pytest.importorskip("litert_torch")

from click.testing import CliRunner  # noqa: E402

from edgehar.cli import main  # noqa: E402
from edgehar.runtime.errors import EXIT_BAD_INPUT  # noqa: E402
from edgehar.runtime.run_config import RunConfig  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.export]

USER_MODULE = textwrap.dedent('''
    import torch
    from torch import nn


    class Little(nn.Module):
        def __init__(self, num_classes, in_channels, width):
            super().__init__()
            self.conv = nn.Conv1d(in_channels, width, 5, padding=2)
            self.head = nn.Linear(width, num_classes)

        def forward(self, x):                      # (batch, 128, channels)
            return self.head(torch.relu(self.conv(x.transpose(1, 2))).mean(2))


    def little(num_classes, in_channels, width=12):
        return Little(num_classes, in_channels, width)


    class Spectral(nn.Module):
        # an FFT: ONNX has DFT; litert-torch lowers only a 1D FFT over the last axis
        def __init__(self, num_classes):
            super().__init__()
            self.fc = nn.Linear(9, num_classes)

        def forward(self, x):
            return self.fc(torch.fft.rfft(x, dim=1).abs().mean(1))


    def spectral(num_classes):
        return Spectral(num_classes)


    def wrong_shape(num_classes):
        return nn.Linear(9, num_classes)           # keeps the time axis: (b, 128, classes)
''')


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("user")
    (d / "usermodels.py").write_text(USER_MODULE)
    return d


@pytest.fixture(scope="module")
def user_bundle(user_dir, recordings):
    """`edgehar train --model usermodels:little` from the user's directory, then export."""
    import os

    from edgehar.export.bundle import ExportOptions, export_bundle

    cwd = os.getcwd()
    os.chdir(user_dir)
    try:
        r = CliRunner().invoke(main, ["train", "--model", "usermodels:little", "--epochs", "2",
                                     "--out", "run"])
    finally:
        os.chdir(cwd)
    assert r.exit_code == 0, r.output
    res = export_bundle(user_dir / "run", user_dir / "bundle",
                        ExportOptions(int8=True, max_drop_pp=100.0, calib_windows=128,
                                      max_test_windows=400), log=lambda *_: None)
    return user_dir, res


def test_user_model_trains_exports_and_replays(user_bundle, shipped_bundle, tmp_path):
    user_dir, res = user_bundle
    config = RunConfig.read(user_dir / "run")
    assert config.model_config["factory"] == "usermodels:little"
    metrics = json.loads((user_dir / "run" / "metrics.json").read_text())
    assert metrics["params"] == 9 * 12 * 5 + 12 + 12 * 6 + 6 and metrics["accuracy"] > 0.5
    rows = {r.step: r for r in res.chain.rows}
    assert set(rows) >= {"torch_fp32", "onnx_fp32", "tflite_fp32", "onnx_int8", "tflite_int8"}
    assert rows["tflite_fp32"].agreement_top1 == 1.0
    assert res.manifest.model.name == "usermodels:little"
    # the float model's input is not folded (no ResNeXt stem): one input scale, said so
    assert res.manifest.normalization.input_clip is None
    log = user_dir / "bundle_replay.jsonl"
    sample = shipped_bundle.parent.parent / "assets" / "sample_user02.csv"
    r = CliRunner().invoke(main, ["replay", "--model", str(user_dir / "bundle"), str(sample),
                                  "--out", str(log)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    labels = res.manifest.labels
    assert len(lines) > 100 and {x["label"] for x in lines} <= set(labels)


def test_user_model_errors_are_one_line(user_dir, monkeypatch):
    monkeypatch.chdir(user_dir)
    for name, message in [("usermodels:wrong_shape", "must map (batch, 128, 9) windows to "
                                                     "(batch, 6) logits"),
                          ("usermodels:absent", "has no callable 'absent'"),
                          ("no_such_module:f", "cannot import no_such_module"),
                          ("resnext9d", "unknown model 'resnext9d'")]:
        r = CliRunner().invoke(main, ["train", "--model", name, "--epochs", "1", "--out", "x"])
        assert r.exit_code == EXIT_BAD_INPUT, (name, r.exit_code, r.output)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (name, r.stderr)
        assert r.stdout == "" and "Traceback" not in r.output
    assert not (user_dir / "x").exists()


@pytest.mark.parametrize("name", ["deepconvlstm", "tinyhar"])
def test_peers_are_registered_and_sized(name):
    from edgehar.train.models import count_macs, count_params
    from edgehar.train.registry import create_model, list_models

    assert name in list_models()
    m = create_model(name)
    params, macs = count_params(m), count_macs(m)
    # DeepConvLSTM: ~0.56 M params, ~120 M MACs (the LSTMs and 64-filter convs over 9 axes);
    # TinyHAR: < 0.1 M params.
    assert (500_000 < params < 600_000 and macs > 100e6) if name == "deepconvlstm" \
        else (params < 100_000 and macs < 10e6)


def test_an_op_the_converter_cannot_lower_is_named_with_its_step(user_dir, monkeypatch,
                                                                  tmp_path):
    from edgehar.export.bundle import ExportFailed, ExportOptions, export_bundle
    from edgehar.export.formats import Format
    from edgehar.train.trainer import TrainConfig, train

    monkeypatch.chdir(user_dir)
    train(TrainConfig(model="usermodels:spectral", epochs=1, max_windows=200), tmp_path / "run",
          progress=False)
    with pytest.raises(ExportFailed) as e:
        export_bundle(tmp_path / "run", tmp_path / "bundle",
                      ExportOptions(formats=frozenset({Format.TFLITE}), max_test_windows=200),
                      log=lambda *_: None)
    assert "tflite_fp32: NotImplementedError: cannot convert op aten._fft_r2c.default" \
        in str(e.value), str(e.value)
