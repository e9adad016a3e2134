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
    r = CliRunner().invoke(main, ["data", "info", "--json", "-"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    s = info["splits"]
    assert s["test"]["subjects"] == [2, 4, 9, 10, 12, 13, 18, 20, 24]
    assert len(set(s["train"]["subjects"]) | set(s["val"]["subjects"])
               | set(s["test"]["subjects"])) == 30
    assert s["train"]["windows"] + s["val"]["windows"] >= 7000 and s["test"]["windows"] >= 2800
    assert sum(s["test"]["per_class"].values()) == s["test"]["windows"]
    assert info["channels"][0] == "body_acc_x" and info["sample_rate"] == 50
    # the text: one row per class, its full name (no WALKING_DO), one column per split
    r = CliRunner().invoke(main, ["data", "info"])
    assert r.exit_code == 0, r.output
    rows = {ln.split()[0]: ln.split()[1:] for ln in r.output.splitlines() if ln.startswith("  ")}
    for lab in info["labels"]:
        assert rows[lab] == [str(info["splits"][n]["per_class"][lab]) for n in info["splits"]]


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


def _one_line_exit_2(r, *words):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    for w in words:
        assert w in r.output, r.output


@pytest.mark.parametrize("args,words", [
    (["replay", "--sample", "--summary", "{dir}"], ["--summary is a directory"]),
    (["replay", "--sample", "--out", "{dir}"], ["--out is a directory"]),
    (["bench", "--json", "{dir}"], ["--json is a directory"]),
    (["bench", "--json", "{file}/b.json"], ["is a file, not a directory"]),
    (["cv", "--json", "{dir}"], ["--json is a directory"]),
    (["data", "info", "--json", "{dir}"], ["--json is a directory"]),
    (["evaluate", "{dir}", "--json", "{dir}"], ["--json is a directory"]),
    (["plot", "{file}", "--out", "{dir}"], ["--out is a directory"]),
    (["export", "--out", "{file}"], ["--out is a file"]),
    (["train", "--out", "{file}"], ["--out is a file"]),
    (["pipeline", "--out", "{file}"], ["--out is a file"]),
    (["replay", "{dir}", "--out-dir", "{file}"], ["--out-dir is a file"]),
    (["export", "--max-drop", "-1"], ["--max-drop", "-1"]),
    (["pipeline", "--out", "{dir}/p", "--max-drop", "-0.5"], ["--max-drop"]),
    (["export", "--calib-windows", "0"], ["--calib-windows"]),
    (["export", "--float-atol", "-1"], ["--float-atol"]),
    (["quantize", "{dir}", "--max-drop", "-1"], ["--max-drop"]),
    (["bench", "--repeats", "0"], ["--repeats"]),
    (["cv", "--folds", "1"], ["--folds"]),
])
def test_outputs_and_option_values_are_checked_before_the_work(args, words, tmp_path,
                                                                monkeypatch):
    """An output that could not be written and an option value that makes no sense are refused
    before the work (a whole replay, benchmark or export used to run first and then fail): one
    line, exit 2, nothing written."""
    monkeypatch.chdir(tmp_path)   # the defaults (./runs) stay in the test's directory
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    a_file = tmp_path / "a_file"
    a_file.write_text("{}\n")
    r = CliRunner().invoke(main, [a.format(dir=out_dir, file=a_file) for a in args])
    _one_line_exit_2(r, *words)
    assert list(out_dir.iterdir()) == [] and a_file.read_text() == "{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "out"]


def test_train_help_states_the_recipe_defaults():
    """--help's defaults are the trainer's (the CLI writes them out to stay torch-free)."""
    pytest.importorskip("torch")
    from edgehar.cli import RECIPE_DEFAULTS
    from edgehar.train.registry import DEFAULT_MODEL
    from edgehar.train.trainer import TrainConfig, default_recipe

    recipe, fine_tune = default_recipe(), TrainConfig()
    assert RECIPE_DEFAULTS["model"] == DEFAULT_MODEL
    for name in ("epochs", "ema", "select"):
        assert RECIPE_DEFAULTS[name] == (getattr(recipe, name), getattr(fine_tune, name))
    assert RECIPE_DEFAULTS["lr"][0] == recipe.lr
    blocks = re.split(r"\n  (?=-)", CliRunner().invoke(main, ["train", "--help"]).output)
    for name in ("epochs", "ema", "select", "lr", "model", "seed"):
        (block,) = [b for b in blocks if b.startswith(f"--{name} ")]
        assert "[default: " in block, block


@pytest.mark.usefixtures("data_package")
def test_evaluate_json_file_and_numbered_confusion(shipped_bundle, tmp_path):
    out = tmp_path / "sub" / "eval.json"
    r = CliRunner().invoke(main, ["evaluate", str(shipped_bundle / "model_int8.tflite"),
                                  "--json", str(out)])
    assert r.exit_code == 0, r.output
    (result,) = json.loads(out.read_text())
    labels = list(result["per_class_accuracy"])
    lines = r.output.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.strip().startswith("confusion"))
    assert lines[head + 1].split() == [str(k) for k in range(1, len(labels) + 1)]
    for k, (lab, row) in enumerate(zip(labels, result["confusion"]), 1):   # full names
        assert lines[head + 1 + k].split() == [str(k), lab, *map(str, row)]
    assert "latency_ms" not in result and "edgehar bench" in r.output


def test_export_ends_with_the_files_and_the_next_commands(shipped_bundle):
    """The ending export and quantize print (the bundle's files with sizes, then what to run
    next), checked on the shipped bundle's real files; each next command parses."""
    import shlex

    from edgehar.cli import bundle_files, next_commands

    lines = bundle_files(shipped_bundle)
    files = sorted(p for p in shipped_bundle.rglob("*") if p.is_file())
    assert len(lines) == len(files) + 1 and lines[-1].split()[-2:] == [str(len(files)), "files"]
    listed = {ln.split()[0]: ln for ln in lines[:-1]}
    assert {"mcu/model_int8.cc", "manifest.json", "model_int8.tflite"} <= set(listed)
    kb = (shipped_bundle / "model_int8.tflite").stat().st_size / 1024
    assert listed["model_int8.tflite"].split()[1:] == [f"{kb:.1f}", "KB"]
    steps = next_commands(shipped_bundle)
    assert steps[0] == "next:" and [s.split()[1] for s in steps[1:]] == ["evaluate", "replay",
                                                                         "bench"]
    for step in steps[1:]:
        argv = shlex.split(step.split("#")[0])[1:]
        assert str(shipped_bundle) in argv
        r = CliRunner().invoke(main, [*argv, "--help"])
        assert r.exit_code == 0, (step, r.output)
