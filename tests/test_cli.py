"""CLI: --help per subcommand, data info JSON, clean errors."""

import json
import re

import pytest

pytest.importorskip("click")

from click.testing import CliRunner  # noqa: E402

from edgehar.cli import main  # noqa: E402

COMMANDS = ["data", "train", "cv", "evaluate", "export", "quantize", "replay", "pipeline", "bench", "plot",
            "web"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help(cmd):
    r = CliRunner().invoke(main, [cmd, "--help"])
    assert r.exit_code == 0, r.output
    # click's "Usage: main data ..." or, for replay (the runtime's argparse), "usage: edgehar replay"
    assert re.match(rf"usage: (main|edgehar) {cmd} ", r.output.splitlines()[0], re.IGNORECASE)


@pytest.mark.usefixtures("data_package")
def test_data_info_json():
    r = CliRunner().invoke(main, ["data", "info", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    s = info["splits"]
    assert s["test"]["subjects"] == [2, 4, 9, 10, 12, 13, 18, 20, 24]
    assert len(set(s["train"]["subjects"]) | set(s["val"]["subjects"])
               | set(s["test"]["subjects"])) == 30
    assert s["train"]["windows"] + s["val"]["windows"] >= 7000 and s["test"]["windows"] >= 2800
    assert sum(s["test"]["per_class"].values()) == s["test"]["windows"]
    assert info["channels"][0] == "body_acc_x" and info["sample_rate"] == 50


@pytest.mark.parametrize("args,message", [
    (["data", "info", "--source", "/no/such/dir"], "data source not found"),
    (["evaluate", "/no/such/model.tflite"], "not found"),
    (["export", "/no/such/run", "--out", "/tmp/x"], "not a training run"),
    (["train", "--model", "nope", "--out", "/tmp/x"], "unknown model"),
    (["train", "--freeze", "stem", "--epochs", "1", "--out", "/tmp/edgehar_nofreeze"],
     "applies when fine-tuning"),
    (["data", "info", "--test-fraction", "nan"], "--test-fraction must be between 0 and 1"),
    (["plot", "/no/such.jsonl", "--out", "/tmp/x.png"], "prediction file not found"),
])
def test_bad_input_is_one_line(args, message):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_malformed_official_dir_is_one_line(tmp_path):
    (tmp_path / "RawData").mkdir()
    (tmp_path / "RawData" / "labels.txt").write_text("1 1 1 0 10\n")
    (tmp_path / "RawData" / "acc_exp01_user01.txt").write_text("1 2\n")
    (tmp_path / "RawData" / "gyro_exp01_user01.txt").write_text("1 2 3\n")
    r = CliRunner().invoke(main, ["data", "info", "--source", str(tmp_path)])
    assert r.exit_code == 2 and "expected 3 columns" in r.output
