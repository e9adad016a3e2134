"""Fleet replay: many logs, local pool and a real local Ray, identical predictions."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgehar.fleet.discover import find_logs
from edgehar.fleet.run import FLEET_JSON, FleetOptions, ray_init_options, run_fleet
from edgehar.runtime.errors import EdgeharError
from edgehar.runtime.replay import ReplayOptions, run_replay


@pytest.fixture(scope="module")
def corpus(recordings, tmp_path_factory):
    """Two test-subject recordings as HAPT pairs (labels.txt beside), a labelled 100 Hz CSV
    in m/s2 with jitter, a CSV without labels, and two bad logs."""
    from edgehar.data.sources import write_hapt_dir

    root = tmp_path_factory.mktemp("fleet")
    recs = [r for r in recordings if r.user in (2, 4)][:2]
    write_hapt_dir(recs, root / "hapt")
    rng = np.random.default_rng(0)
    r = recs[0]
    n = len(r.raw)
    t50 = np.arange(n) / 50
    t = np.sort(np.concatenate([t50, t50[:-1] + 0.01])) + rng.uniform(-0.002, 0.002, 2 * n - 1)
    t.sort()
    vals = np.stack([np.interp(t, t50, r.raw[:, c]) for c in range(6)], 1)
    vals[:, :3] *= 9.80665
    names = np.array(["", "WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING",
                      "STANDING", "LAYING"] + [""] * 6)
    lab = names[np.clip(r.labels[np.minimum(np.round(t * 50).astype(int), n - 1)], 0, 12)]
    csv_dir = root / "phones"
    csv_dir.mkdir()
    with open(csv_dir / "phone_a.csv", "w") as f:
        f.write("timestamp_ns,ax,ay,az,gx,gy,gz,label\n")
        for ti, v, la in zip(t, vals, lab):
            f.write(f"{int(1.7e18 + ti * 1e9)},{v[0]:.5f},{v[1]:.5f},{v[2]:.5f},{v[3]:.5f},"
                    f"{v[4]:.5f},{v[5]:.5f},{la}\n")
    with open(csv_dir / "phone_b.csv", "w") as f:
        f.write("t,ax,ay,az,gx,gy,gz\n")
        for i in range(3000):
            f.write(f"{i / 50:.2f},0.1,{0.9 + 0.1 * np.sin(i / 7):.4f},0.2,0.01,0.02,0.03\n")
    (csv_dir / "broken.csv").write_text("t,ax,ay,az,gx,gy,gz\n0,1,2,3\n")
    (csv_dir / "short.csv").write_text("t,ax,ay,az,gx,gy,gz\n0,0,1,0,0,0,0\n0.02,0,1,0,0,0,0\n")
    (csv_dir / "subjects.csv").write_text("log,subject\nphone_a.csv,1\n")
    return root


def _hashes(out: Path) -> dict:
    fleet = json.loads((out / FLEET_JSON).read_text())
    return {e["jsonl"]: hashlib.sha256((out / e["jsonl"]).read_bytes()).hexdigest()
            for e in fleet["logs"] if "jsonl" in e}


def test_find_logs(corpus):
    logs = find_logs([corpus])
    names = [p.name for p in logs]
    assert "subjects.csv" not in names and "labels.txt" not in names
    assert not any(n.startswith("gyro_") for n in names)
    assert sum(n.startswith("acc_exp") for n in names) == 2
    assert len(find_logs([corpus, str(corpus / "phones" / "*.csv")])) == len(logs)  # each once
    with pytest.raises(EdgeharError, match="matches no log"):
        find_logs([str(corpus / "*.parquet")])
    with pytest.raises(EdgeharError, match="no such log"):
        find_logs([corpus / "missing.csv"])


def test_local_fleet_scores_writes_and_lists_failures(corpus, tmp_path):
    fleet = run_fleet(FleetOptions(paths=[str(corpus)], out_dir=tmp_path / "one", workers=1,
                                   acc_units="auto"))
    by = {Path(e["log"]).name: e for e in fleet["logs"]}
    assert fleet["totals"]["logs"] == 6 and fleet["totals"]["failed"] == 2
    assert "failed" in by["broken.csv"] and "\n" not in by["broken.csv"]["failed"]
    assert "too short" in by["short.csv"]["failed"]
    for name in ("broken.csv", "short.csv"):
        assert not (tmp_path / "one" / f"{Path(name).stem}.jsonl").exists()   # nothing half-written
    for e in fleet["logs"]:
        if e["log"].endswith(".txt") or e["log"].endswith("phone_a.csv"):
            assert e["accuracy"] > 0.8 and e["scored_windows"] > 100   # labels beside / inside
        if "jsonl" in e:
            lines = (tmp_path / "one" / e["jsonl"]).read_text().splitlines()
            assert len(lines) == e["windows"] > 0
            assert json.loads(lines[0])["start"] == 0
    assert "accuracy" not in by["phone_b.csv"]
    assert fleet["totals"]["windows"] == sum(e["windows"] for e in fleet["logs"])


def test_a_fleet_log_predicts_what_a_single_replay_does(corpus, tmp_path):
    """Offline (fixed batch of 64, big pushes) == live (batch 1, one hop per push), bytes."""
    fleet = run_fleet(FleetOptions(paths=[str(corpus / "hapt")], out_dir=tmp_path / "f",
                                   workers=1))
    e = fleet["logs"][0]
    log = Path(e["log"])
    run_replay(ReplayOptions(log=log, labels=log.parent / "labels.txt", out=tmp_path / "s.jsonl",
                             quiet=True))
    assert (tmp_path / "s.jsonl").read_bytes() == (tmp_path / "f" / e["jsonl"]).read_bytes()


def test_whole_log_orientation_does_not_depend_on_the_reader(corpus, tmp_path):
    """A CSV log: the fleet parses it with pyarrow (4 MB blocks), here the text parser reads it
    (16 K rows at a time); the first pass filters on its own grid, so the whole-log rotation,
    and every byte of the predictions, are the same."""
    log = corpus / "phones" / "phone_a.csv"
    fleet = run_fleet(FleetOptions(paths=[str(log)], out_dir=tmp_path / "f", workers=1,
                                   acc_units="auto", reader="arrow"))
    e = fleet["logs"][0]
    assert e["orientation"]["mode"] == "auto" and e["orientation"]["estimated"]
    s = run_replay(ReplayOptions(log=log, acc_units="auto", reader="text",
                                 out=tmp_path / "s.jsonl", quiet=True))
    assert s["orientation"] == e["orientation"]
    assert (tmp_path / "s.jsonl").read_bytes() == (tmp_path / "f" / e["jsonl"]).read_bytes()


def _fleet_hashes(corpus, out: Path, engine: str, workers: int) -> dict:
    fleet = run_fleet(FleetOptions(paths=[str(corpus)], out_dir=out, workers=workers,
                                   engine=engine, acc_units="auto"))
    assert fleet["engine"] == engine and fleet["workers"] == workers
    assert fleet["totals"]["failed"] == 2
    return _hashes(out)


@pytest.mark.slow
def test_predictions_identical_across_local_workers(corpus, tmp_path):
    """The local engine (a process pool; no Ray needed): 1 and 2 workers, the same bytes per log."""
    one = _fleet_hashes(corpus, tmp_path / "local1", "local", 1)
    assert len(one) == 4
    assert _fleet_hashes(corpus, tmp_path / "local2", "local", 2) == one


@pytest.mark.slow
def test_predictions_identical_across_engines(corpus, tmp_path):
    """A real local Ray with 2 workers: the bytes of the local engine's single worker."""
    pytest.importorskip("ray")
    one = _fleet_hashes(corpus, tmp_path / "local1", "local", 1)
    assert len(one) == 4
    assert _fleet_hashes(corpus, tmp_path / "ray2", "ray", 2) == one


@pytest.mark.slow
def test_a_local_ray_runs_its_workers_at_normal_priority(tmp_path):
    """Ray's default nice 15 starves the workers beside any busy process (bench/ray_priority.py)."""
    ray = pytest.importorskip("ray")
    ray.init(**ray_init_options(FleetOptions(paths=[], out_dir=tmp_path, workers=1)))
    try:
        assert ray.get(ray.remote(num_cpus=1)(lambda: os.nice(0)).remote()) == os.nice(0)
    finally:
        ray.shutdown()


def test_cli_exit_codes(corpus, tmp_path):
    cmd = [sys.executable, "-c", "from edgehar.cli import main; main()", "replay"]
    ok = subprocess.run(cmd + [str(corpus / "hapt"), "--out-dir", str(tmp_path / "a"),
                               "--workers", "1"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "2 of 2 logs replayed" in ok.stdout
    some = subprocess.run(cmd + [str(corpus / "phones"), "--out-dir", str(tmp_path / "b"),
                                 "--workers", "1", "--acc-units", "auto"],
                          capture_output=True, text=True)
    assert some.returncode == 3
    assert some.stderr.count("failed:") == 2 and "Traceback" not in some.stderr
    none = subprocess.run(cmd + [str(tmp_path / "nothing_here"), "--out-dir",
                                 str(tmp_path / "c")], capture_output=True, text=True)
    assert none.returncode == 2 and none.stderr.startswith("error:")
    assert len(none.stderr.strip().splitlines()) == 1


def test_fleet_wide_options_are_checked_once_and_labels_go_to_hapt_logs(corpus, tmp_path):
    with pytest.raises(EdgeharError, match="max-gap"):
        run_fleet(FleetOptions(paths=[str(corpus)], out_dir=tmp_path / "a", max_gap=0.0))
    with pytest.raises(EdgeharError, match="labels file not found"):
        run_fleet(FleetOptions(paths=[str(corpus)], out_dir=tmp_path / "a",
                               labels=tmp_path / "nope.txt"))
    # --labels names the HAPT labels.txt; the CSV logs in the same fleet carry their own
    fleet = run_fleet(FleetOptions(paths=[str(corpus)], out_dir=tmp_path / "b", workers=1,
                                   acc_units="auto",
                                   labels=corpus / "hapt" / "RawData" / "labels.txt"))
    by = {Path(e["log"]).name: e for e in fleet["logs"]}
    assert "failed" not in by["phone_a.csv"] and by["phone_a.csv"]["accuracy"] > 0.8
    assert all("data_quality" in e for e in fleet["logs"])


def test_a_failing_log_leaves_no_earlier_output(corpus, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "broken.jsonl").write_text("from an earlier run\n")
    run_fleet(FleetOptions(paths=[str(corpus / "phones" / "broken.csv")], out_dir=out,
                           workers=1))
    assert not (out / "broken.jsonl").exists()


# --- --baseline: every log through two bundles


@pytest.fixture(scope="module")
def second_bundle(shipped_bundle, tmp_path_factory):
    """A second, real bundle that predicts differently: the shipped INT8 files with another
    normalization (every channel's std 1.3 x), as a retrained model's manifest would carry."""
    import shutil

    out = tmp_path_factory.mktemp("second") / "bundle"
    out.mkdir()
    for name in ("model_int8.tflite", "model_int8_b64.tflite"):
        shutil.copy(shipped_bundle / name, out / name)
    manifest = json.loads((shipped_bundle / "manifest.json").read_text())
    manifest["normalization"]["std"] = [1.3 * s for s in manifest["normalization"]["std"]]
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def _labels(path: Path) -> list[str]:
    return [json.loads(line)["label"] for line in path.read_text().splitlines()]


def test_baseline_gives_both_bundles_figures_as_two_separate_runs(corpus, second_bundle,
                                                                  shipped_bundle, tmp_path):
    paths = [str(corpus / "hapt"), str(corpus / "phones" / "phone_a.csv"),
             str(corpus / "phones" / "broken.csv")]
    both = run_fleet(FleetOptions(paths=paths, out_dir=tmp_path / "both", workers=1,
                                  acc_units="auto", baseline=second_bundle))
    alone = run_fleet(FleetOptions(paths=paths, out_dir=tmp_path / "new", workers=1,
                                   acc_units="auto"))
    old = run_fleet(FleetOptions(paths=paths, out_dir=tmp_path / "old", workers=1,
                                 acc_units="auto", model=second_bundle))
    assert both["totals"]["failed"] == 1 and both["totals"]["baseline"]["logs"] == 3
    for e, n, o in zip(both["logs"], alone["logs"], old["logs"], strict=True):
        if "failed" in e:
            assert "baseline" not in e and not (tmp_path / "both" / "baseline" / "broken.jsonl"
                                                ).exists()
            continue
        b = e["baseline"]
        assert b["bundle"] == str(second_bundle.resolve()) and b["jsonl"] == f"baseline/{e['jsonl']}"
        # each bundle's predictions and scores are those of its own run, byte for byte
        assert (tmp_path / "both" / e["jsonl"]).read_bytes() == \
            (tmp_path / "new" / n["jsonl"]).read_bytes()
        assert (tmp_path / "both" / b["jsonl"]).read_bytes() == \
            (tmp_path / "old" / o["jsonl"]).read_bytes()
        assert (e["accuracy"], e["macro_f1"]) == (n["accuracy"], n["macro_f1"])
        assert (b["accuracy"], b["macro_f1"]) == (o["accuracy"], o["macro_f1"])
        # agreement: the share of windows whose labels match, read back from the two files
        mine, theirs = _labels(tmp_path / "both" / e["jsonl"]), _labels(tmp_path / "both" / b["jsonl"])
        assert b["agreement"] == round(np.mean(np.array(mine) == np.array(theirs)), 6)
    tot, tb = both["totals"], both["totals"]["baseline"]
    assert (tot["accuracy"], tot["macro_f1"]) == (alone["totals"]["accuracy"],
                                                  alone["totals"]["macro_f1"])
    assert (tb["accuracy"], tb["macro_f1"]) == (old["totals"]["accuracy"],
                                                old["totals"]["macro_f1"])
    assert 0.5 < tb["agreement"] < 1   # another normalization moves some windows, not most
    least = [x["agreement"] for x in tb["least_agreement"]]
    assert least == sorted(least) and len(least) == 3
    # the shipped bundle against itself agrees everywhere
    same = run_fleet(FleetOptions(paths=[str(corpus / "hapt")], out_dir=tmp_path / "same",
                                  workers=1, baseline=shipped_bundle))
    assert same["totals"]["baseline"]["agreement"] == 1.0
    assert same["totals"]["baseline"]["accuracy"] == same["totals"]["accuracy"]


def test_baseline_on_the_command_line(corpus, second_bundle, tmp_path):
    cmd = [sys.executable, "-c", "from edgehar.cli import main; main()", "replay"]
    ok = subprocess.run(cmd + [str(corpus / "hapt"), "--out-dir", str(tmp_path / "a"),
                               "--workers", "1", "--baseline", str(second_bundle)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "top-1 agreement with --baseline" in ok.stdout and "accuracy  model" in ok.stdout
    assert "least agreement: acc_exp" in ok.stdout
    for bad, why in ((["--baseline", str(tmp_path / "nope")], "model not found"),
                     (["--baseline", str(second_bundle)], "add --out-dir")):
        args = cmd + [str(corpus / "hapt" / "RawData" / "acc_exp03_user02.txt")] + bad
        if why == "model not found":
            args += ["--out-dir", str(tmp_path / "b")]
        r = subprocess.run(args, capture_output=True, text=True)
        assert r.returncode == 2 and why in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    # one log's two timelines, one above the other
    fleet = json.loads((tmp_path / "a" / FLEET_JSON).read_text())
    e = fleet["logs"][0]
    png = tmp_path / "cmp.png"
    r = subprocess.run([sys.executable, "-c", "from edgehar.cli import main; main()", "plot",
                        str(tmp_path / "a" / e["jsonl"]), "--compare",
                        str(tmp_path / "a" / e["baseline"]["jsonl"]), "--labels",
                        str(corpus / "hapt" / "RawData" / "labels.txt"), "--out", str(png)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"top-1 agreement {100 * e['baseline']['agreement']:.1f} % of {e['windows']} " \
           "windows" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- Parquet logs: the CSV's columns, read with pyarrow


def test_parquet_logs_replay_to_the_csv_bytes(corpus, tmp_path):
    """The same recordings as CSV and as Parquet (export-csv --format both; the jittered 100 Hz
    phone CSV with epoch-ns times and labels, its parsed columns written by pyarrow): every
    log's predictions byte-identical, found by fleet discovery."""
    import pyarrow.csv as pc
    import pyarrow.parquet as pq

    from edgehar.data.export_csv import export_csv

    logs = tmp_path / "logs"
    export_csv(str(corpus / "hapt"), "uci6", logs, "both")
    table = pc.read_csv(corpus / "phones" / "phone_a.csv")
    (logs / "phone").mkdir()
    pq.write_table(table, logs / "phone" / "phone_a.parquet")
    found = sorted(p.name for p in find_logs([logs]))
    assert found == ["exp03_user02.csv", "exp03_user02.parquet", "exp04_user02.csv",
                     "exp04_user02.parquet", "phone_a.parquet"]
    pq_fleet = run_fleet(FleetOptions(paths=[str(logs / "*.parquet"), str(logs / "phone")],
                                      out_dir=tmp_path / "pq", workers=1, acc_units="auto"))
    csv_fleet = run_fleet(FleetOptions(paths=[str(logs / "*.csv"),
                                              str(corpus / "phones" / "phone_a.csv")],
                                       out_dir=tmp_path / "csv", workers=1, acc_units="auto"))
    assert pq_fleet["totals"]["failed"] == 0, pq_fleet["logs"]
    assert pq_fleet["totals"]["logs"] == 3
    for p, c in zip(pq_fleet["logs"], csv_fleet["logs"], strict=True):
        assert p["jsonl"] == c["jsonl"] and p["windows"] == c["windows"] > 100
        assert (tmp_path / "pq" / p["jsonl"]).read_bytes() == \
            (tmp_path / "csv" / c["jsonl"]).read_bytes()
        assert (p["accuracy"], p["data_quality"]) == (c["accuracy"], c["data_quality"])


def test_bad_parquet_logs_fail_with_one_line(corpus, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "bytes.parquet").write_bytes(b"PAR1 this is not a parquet file")
    pq.write_table(pa.table({"t": [0.0, 0.02], "ax": [0.0, 1.0]}), tmp_path / "columns.parquet")
    n = 400
    vals = {k: np.full(n, v) for k, v in zip("t ax ay az gx gy gz".split(),
                                             (0, 0.1, 0.9, 0.2, 0, 0, 0))}
    vals["t"] = np.arange(n) / 50
    vals["ay"] = vals["ay"].copy()
    vals["ay"][300] = np.nan
    pq.write_table(pa.table(vals), tmp_path / "nan.parquet")
    fleet = run_fleet(FleetOptions(paths=[str(tmp_path)], out_dir=tmp_path / "o", workers=1))
    why = {Path(e["log"]).name: e["failed"] for e in fleet["logs"]}
    assert "not a Parquet file" in why["bytes.parquet"]
    assert "lacks acceleration" in why["columns.parquet"]
    assert "line 302" in why["nan.parquet"] and "NaN" in why["nan.parquet"]


def test_a_parquet_log_without_pyarrow_names_the_extra(corpus, tmp_path):
    """A runtime-only install (no pyarrow: its import blocked) refuses a Parquet log in one line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    log = tmp_path / "log.parquet"
    pq.write_table(pa.table({k: np.zeros(300) for k in "t ax ay az gx gy gz".split()}), log)
    code = ("import sys; sys.modules['pyarrow'] = None; sys.argv[1:] = ['replay', sys.argv[1]];"
            "import runpy; runpy.run_module('edgehar.runtime', run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert "pip install 'edgehar[fleet]'" in r.stderr and str(log) in r.stderr
    assert "Traceback" not in r.stderr


# --- --resume: a run killed at any moment ends, resumed, with an uninterrupted run's outputs

TIMING = {"seconds", "worker_peak_rss_mb", "wall_s", "windows_per_s", "startup_s", "stop_s"}


def _untimed(obj):
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


def _outputs(out: Path) -> dict[str, bytes]:
    """Every prediction file under ``out`` (the baseline's too), by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.jsonl"))}


@pytest.fixture(scope="module")
def many_logs(corpus, tmp_path_factory):
    """A dozen logs: the corpus's (two of them bad) and copies of its good logs under other
    names, CSV and Parquet, so a run lasts long enough to be killed in the middle."""
    import shutil

    import pyarrow.csv as pc
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("many")
    shutil.copytree(corpus, root / "corpus")
    table = pc.read_csv(corpus / "phones" / "phone_a.csv")
    for i in range(3):
        shutil.copy(corpus / "phones" / "phone_a.csv", root / f"copy_a{i}.csv")
        pq.write_table(table, root / f"copy_a{i}.parquet")
    return root


def test_resume_skips_complete_logs_of_the_same_key_only(many_logs, second_bundle, tmp_path):
    out = tmp_path / "o"
    opts = dict(paths=[str(many_logs / "corpus" / "hapt")], out_dir=out, acc_units="auto")
    first = run_fleet(FleetOptions(workers=1, **opts))
    assert first["resumed"] == 0
    # engine and workers do not count
    again = run_fleet(FleetOptions(workers=2, resume=True, **opts))
    assert again["resumed"] == 2 and _untimed(again["logs"]) == _untimed(first["logs"])
    # an output that is not the recorded one (truncated, edited) is replayed
    victim = out / first["logs"][0]["jsonl"]
    whole = victim.read_bytes()
    victim.write_bytes(whole[:100])
    assert run_fleet(FleetOptions(workers=1, resume=True, **opts))["resumed"] == 1
    assert victim.read_bytes() == whole
    # another log option, or another bundle: every log again
    assert run_fleet(FleetOptions(workers=1, resume=True, max_gap=2.0, **opts))["resumed"] == 0
    assert run_fleet(FleetOptions(workers=1, resume=True, max_gap=2.0, model=second_bundle,
                                  **opts))["resumed"] == 0
    # without --resume every log is replayed
    assert run_fleet(FleetOptions(workers=1, model=second_bundle, max_gap=2.0,
                                  **opts))["resumed"] == 0


def test_a_run_killed_at_random_moments_resumes_to_the_uninterrupted_outputs(
        many_logs, second_bundle, tmp_path):
    """SIGKILL (the whole process group: the run and its workers) at 5 seeded random moments,
    each time resumed; then resumed to the end: every JSON Lines file (the baseline's too) is
    byte-identical to an uninterrupted run's, and fleet.json equal apart from timing fields,
    every log listed once."""
    import contextlib
    import random
    import shutil
    import signal
    import time

    cmd = [sys.executable, "-c", "from edgehar.cli import main; main()", "replay",
           str(many_logs), "--workers", "2", "--acc-units", "auto", "--baseline",
           str(second_bundle)]
    t0 = time.perf_counter()
    whole = subprocess.run(cmd + ["--out-dir", str(tmp_path / "whole")], capture_output=True,
                           text=True)
    full_s = time.perf_counter() - t0
    assert whole.returncode == 3, whole.stderr   # the two bad logs fail, the rest complete
    shutil.copytree(tmp_path / "whole", tmp_path / "again")
    t0 = time.perf_counter()
    subprocess.run(cmd + ["--out-dir", str(tmp_path / "again"), "--resume"], capture_output=True)
    start_s = time.perf_counter() - t0   # everything complete: the run's start and end alone
    out = tmp_path / "killed"
    rng = random.Random(33)
    killed_mid_run, done = 0, []
    for _ in range(5):
        p = subprocess.Popen(cmd + ["--out-dir", str(out), "--resume"], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # a random moment of what is left of the run: its start (imports, both bundles
        # loaded, the complete logs checked), then the share of the work not yet done
        left = 1 - (done[-1] if done else 0) / 10
        time.sleep(rng.uniform(0.5 * start_s, start_s + (full_s - start_s) * left))
        if p.poll() is None:
            killed_mid_run += 1
        with contextlib.suppress(ProcessLookupError):   # the run (and its workers) ended
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        done.append(len(list((out / ".done").glob("*.json"))) if (out / ".done").is_dir() else 0)
    print(f"full run {full_s:.1f} s, start {start_s:.1f} s; logs complete after each kill: "
          f"{done}")
    assert killed_mid_run >= 4 and sum(n < 10 for n in done) >= 3, (full_s, done)
    end = subprocess.run(cmd + ["--out-dir", str(out), "--resume"], capture_output=True,
                         text=True)
    assert end.returncode == 3, end.stderr
    assert _outputs(out) == _outputs(tmp_path / "whole")
    assert len(_outputs(out)) == 2 * 10   # ten good logs, each through both bundles
    a = json.loads((tmp_path / "whole" / FLEET_JSON).read_text())
    b = json.loads((out / FLEET_JSON).read_text())
    assert _untimed(a) == _untimed(b)
    assert len({e["log"] for e in b["logs"]}) == len(b["logs"]) == 12
    assert not list(out.rglob(".*.tmp"))   # no temp file a kill left behind


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Ray 2.60 turns on token authentication for a cluster started by `ray start`; the nodes
# and drivers of this throwaway local cluster go without it
RAY_ENV = os.environ | {"RAY_AUTH_MODE": "disabled"}


def _ray_node(args: list[str], temp_dir: str, log: Path) -> subprocess.Popen:
    """``ray start ... --block``: the node's processes live while this one does, and go with it
    (SIGTERM); its own session, so a stuck node can be killed as a group, and only it."""
    ray_cli = Path(sys.executable).with_name("ray")
    with open(log, "w") as f:
        return subprocess.Popen([str(ray_cli), "start", *args, "--num-cpus", "1",
                                 "--temp-dir", temp_dir, "--block", "--disable-usage-stats"],
                                start_new_session=True, stdout=f, stderr=subprocess.STDOUT,
                                env=RAY_ENV)


def _stop(node: subprocess.Popen) -> None:
    import signal

    node.terminate()
    try:
        node.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(node.pid, signal.SIGKILL)
        node.wait()


@pytest.mark.slow
def test_a_two_node_ray_cluster_shares_the_work_and_predicts_as_the_local_engine(corpus,
                                                                                 tmp_path):
    """A real two-node Ray cluster on this machine: ``ray start --head`` and ``ray start
    --address`` (separate processes, a raylet each), one CPU and its own custom resource each;
    the fleet runs as a separate driver with --ray-address. Both nodes replay logs (fleet.json
    ``nodes``), each node's windows are reported, and the bytes are the local engine's."""
    pytest.importorskip("ray")
    import tempfile
    import time

    local = _fleet_hashes(corpus, tmp_path / "local", "local", 1)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")   # short: Ray's socket paths
    nodes = [_ray_node(["--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                        "--include-dashboard", "false", "--resources", '{"node_head": 1}'],
                       temp_dir, tmp_path / "head.log")]
    try:
        nodes.append(_ray_node(["--address", address, "--node-ip-address", "127.0.0.1",
                                "--resources", '{"node_second": 1}'], temp_dir,
                                tmp_path / "second.log"))
        deadline = time.monotonic() + 120
        while True:   # both raylets registered with the head
            probe = subprocess.run(
                [sys.executable, "-c", f"import ray, json; ray.init(address={address!r}, "
                 "log_to_driver=False); print(json.dumps([n['NodeID'] for n in ray.nodes() "
                 "if n['Alive']]))"], capture_output=True, text=True, env=RAY_ENV)
            alive = json.loads(probe.stdout.strip().splitlines()[-1]) \
                if probe.returncode == 0 and probe.stdout.strip() else []
            if len(alive) == 2:
                break
            assert time.monotonic() < deadline, probe.stderr[-2000:]
            assert all(n.poll() is None for n in nodes), \
                (tmp_path / "head.log").read_text()[-1500:] + (tmp_path / "second.log"
                                                                ).read_text()[-1500:]
            time.sleep(1)
        out = tmp_path / "ray"
        r = subprocess.run([sys.executable, "-c", "from edgehar.cli import main; main()",
                            "replay", str(corpus), "--out-dir", str(out), "--engine", "ray",
                            "--ray-address", address, "--workers", "2", "--acc-units", "auto"],
                           capture_output=True, text=True, timeout=300, env=RAY_ENV)
        assert r.returncode == 3, r.stderr   # the two bad logs
        fleet = json.loads((out / FLEET_JSON).read_text())
        print("windows per node:", fleet["nodes"])
        assert set(fleet["nodes"]) == set(alive)
        assert all(w > 0 for w in fleet["nodes"].values())
        assert sum(fleet["nodes"].values()) == fleet["totals"]["windows"]
        assert _hashes(out) == local
    finally:
        for node in reversed(nodes):
            _stop(node)
