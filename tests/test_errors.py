"""One error policy for every entry point: any failure is one line on stderr and an exit code
from ``runtime.errors`` (2 usage / bad input, 70 internal error, with EDGEHAR_DEBUG=1 the
traceback). Each command is held to it with an unexpected exception injected into the function
it calls."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from edgehar.runtime.entry import DEBUG_ENV

ROOT = Path(__file__).resolve().parents[1]

# (command line, module, function the command calls); {tmp} is the test's directory
COMMANDS = [
    (["data", "info"], "edgehar.data.windows", "load_dataset"),
    (["data", "export-csv", "{tmp}/csv"], "edgehar.data.export_csv", "export_csv"),
    (["train", "--out", "{tmp}/run"], "edgehar.train.registry", "resolve_factory"),
    (["cv"], "edgehar.train.registry", "resolve_factory"),
    (["evaluate", "{tmp}/m.tflite"], "edgehar.evaluate_any", "evaluate_path"),
    (["export"], "edgehar.cli", "_newest_run"),
    (["quantize", "{tmp}/bundle"], "edgehar.cli", "_export_options"),
    (["replay", "--sample", "--quiet"], "edgehar.runtime.cli", "run_replay"),
    (["replay", "{tmp}", "--out-dir", "{tmp}/fleet"], "edgehar.fleet.cli", "run_fleet"),
    (["pipeline", "--out", "{tmp}/p"], "edgehar.pipeline", "run_pipeline"),
    (["plot", "{tmp}/p.jsonl", "--out", "{tmp}/p.png"], "edgehar.report.timeline",
     "plot_timeline"),
    (["bench"], "edgehar.benchmark", "run_bench"),
]


def _boom(*args, **kwargs):
    raise RuntimeError("boom\nsecond line")


def _edgehar(argv, tmp_path) -> int:
    pytest.importorskip("click")
    from edgehar.cli import main

    return main.main([a.replace("{tmp}", str(tmp_path)) for a in argv], standalone_mode=False)


def _runtime(argv, tmp_path) -> int:
    from edgehar.runtime.cli import main

    return main(argv)


CASES = [pytest.param(_edgehar, argv, mod, fn, id=" ".join(argv[:2]).replace("{tmp}", "DIR"))
         for argv, mod, fn in COMMANDS]
CASES.append(pytest.param(_runtime, ["replay", "--sample"], "edgehar.runtime.cli", "run_replay",
                          id="python -m edgehar.runtime replay"))


@pytest.mark.parametrize("entry,argv,module,function", CASES)
def test_an_unexpected_error_is_one_line_and_exit_70(entry, argv, module, function, tmp_path,
                                                      monkeypatch, capsys):
    if entry is _edgehar:
        pytest.importorskip("click")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:   # a runtime-only install: the command's own extra is missing
        if (e.name or "").startswith("edgehar"):
            raise   # a renamed module, not a missing extra: the table above is stale
        pytest.skip(f"{module}: {e}")
    monkeypatch.setattr(mod, function, _boom)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert entry(argv, tmp_path) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "internal error (RuntimeError: boom)" in err and f"{DEBUG_ENV}=1" in err, err

    monkeypatch.setenv(DEBUG_ENV, "1")   # the switch that shows the traceback
    assert entry(argv, tmp_path) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "second line" in err
    assert err.strip().splitlines()[-1].startswith("error: internal error (RuntimeError: boom)")


@pytest.mark.parametrize("entry,argv", [
    (_edgehar, ["train", "--no-such-option"]),
    (_edgehar, ["data", "nope"]),
    (_edgehar, ["replay", "--no-such-option"]),
    (_edgehar, ["replay", "a.csv", "--out-dir", "d", "--out", "x.jsonl"]),
    (_runtime, ["replay", "--no-such-option"]),
    (_runtime, ["replay", "--sample", "--out-dir", "d"]),
    (_runtime, ["nope"]),
])
def test_a_usage_error_is_one_line_and_exit_2(entry, argv, tmp_path, capsys):
    assert entry(argv, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "usage" not in err, err


def test_ctrl_c_is_130(monkeypatch, capsys, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    import edgehar.runtime.cli as runtime_cli

    monkeypatch.setattr(runtime_cli, "run_replay", interrupted)
    assert _runtime(["replay", "--sample"], tmp_path) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_fleet_mode_comes_from_the_parsed_options(monkeypatch, tmp_path):
    """``--out-dir=DIR`` (one token) and options before the paths pick the fleet as well."""
    pytest.importorskip("click")
    import edgehar.fleet.cli as fleet_cli

    seen = []
    monkeypatch.setattr(fleet_cli, "run", lambda opts, quiet: seen.append(opts) or 0)
    assert _edgehar(["replay", "--acc-units", "m/s2", f"--out-dir={tmp_path}", "a.csv", "b.csv"],
                    tmp_path) == 0
    assert seen[0].paths == ["a.csv", "b.csv"] and seen[0].acc_units == "m/s2"
    assert seen[0].out_dir == tmp_path and seen[0].reader == "auto"


def test_replay_options_are_declared_once():
    hits = [p for p in (ROOT / "edgehar").rglob("*.py") if '"--acc-units"' in p.read_text()]
    assert [p.relative_to(ROOT).as_posix() for p in hits] == ["edgehar/runtime/options.py"]


def test_edgehar_without_click_says_which_extra_to_install():
    """A runtime-only install (no click) that types ``edgehar``: one line, exit 2."""
    code = "import sys; sys.modules['click'] = None; from edgehar.launcher import main; main()"
    r = subprocess.run([sys.executable, "-c", code, "replay", "--help"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and 'pip install "edgehar[train]"' in r.stderr
