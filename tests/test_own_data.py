"""A user's own labelled recordings: data info, splits, bad datasets, a renamed label set through
train -> export -> replay, fine-tuning, the CSV copy of the built-in data, the 12-class task."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("click")
from click.testing import CliRunner  # noqa: E402

from edgehar.cli import main  # noqa: E402
from edgehar.runtime.run_config import RunConfig  # noqa: E402
from edgehar.runtime.spec import LABELS  # noqa: E402

RENAME = {1: "walk", 2: "walk", 3: "walk", 4: "sit", 5: "stand", 6: "lie"}


def _write_csv(path, raw, names, rate=50.0):
    t = np.arange(len(raw)) / rate
    with open(path, "w") as f:
        f.write("t,ax,ay,az,gx,gy,gz,label\n")
        for ti, row, n in zip(t, raw, names):
            f.write(f"{ti:.3f}," + ",".join(f"{v:.6g}" for v in row) + f",{n}\n")


@pytest.fixture(scope="module")
def own_dir(recordings, tmp_path_factory):
    """Six subjects' first 4 minutes, four renamed classes, one file per subject."""
    return _write_own_dir(tmp_path_factory.mktemp("own"), recordings, every=1)


def _write_own_dir(d, recordings, every: int, rename: dict = RENAME):
    """Subjects 1, 2, 3, 5, 6, 9: each one's first recording, first 4 minutes, every ``every``-th
    sample (50 / every Hz), the classes renamed by ``rename`` (others unlabelled), one CSV per
    subject."""
    picks = {}
    for r in recordings:
        if r.user in (1, 2, 3, 5, 6, 9) and r.user not in picks:
            picks[r.user] = r
    for user, r in picks.items():
        names = [rename.get(int(v), "") for v in r.labels[:12000:every]]
        _write_csv(d / f"phone_subject{user}.csv", r.raw[:12000:every], names,
                   rate=50.0 / every)
    return d


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_data_info_on_a_labelled_directory(own_dir):
    r = _run("data", "info", "--source", own_dir, "--test-subjects", "2,9", "--val-subjects", "3",
             "--json", "-")
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["labels"] == ["lie", "sit", "stand", "walk"] and info["kind"] == "labelled"
    assert {"source", "sample_rate", "window", "hop", "channels", "labels", "splits",
            "split_definition"} <= set(info)
    s = info["splits"]
    assert s["test"]["subjects"] == [2, 9] and s["val"]["subjects"] == [3]
    assert s["train"]["subjects"] == [1, 5, 6]
    for split in s.values():
        assert sum(split["per_class"].values()) == split["windows"] > 0
        assert list(split["per_class"]) == info["labels"]
    # --classes picks and orders; fractions with a seed split the subjects reproducibly
    r = _run("data", "info", "--source", own_dir, "--classes", "walk,stand,sit,lie", "--json", "-")
    a = json.loads(r.output)
    b = json.loads(_run("data", "info", "--source", own_dir, "--classes", "walk,stand,sit,lie",
                        "--json", "-").output)
    assert a["labels"] == ["walk", "stand", "sit", "lie"] and a["split_definition"] == \
        b["split_definition"]
    assert sum(len(v) for v in a["split_definition"].values()) == 6


def _break(kind, own_dir, tmp_path):
    if kind == "no label column":
        d = tmp_path / "nolabel"
        d.mkdir()
        lines = (own_dir / "phone_subject1.csv").read_text().splitlines()
        (d / "a_user1.csv").write_text("\n".join(ln.rpartition(",")[0] for ln in lines) + "\n")
        return [d], "no 'label' column"
    if kind == "unknown class":
        return [own_dir, "--classes", "walk,swim"], "--classes names swim"
    if kind == "subject in two splits":
        return [own_dir, "--test-subjects", "2,3", "--val-subjects", "3"], "in both the test"
    if kind == "class without test windows":
        d = tmp_path / "rare"
        d.mkdir()
        for f in own_dir.glob("*.csv"):
            text = f.read_text()
            if "subject2." in f.name or "subject9." in f.name:
                text = text.replace(",lie\n", ",\n")
            (d / f.name).write_text(text)
        return [d, "--test-subjects", "2,9"], "class(es) lie have no window"
    d = tmp_path / "empty"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "notes.txt").write_text("nothing here")
    return [d], "no logs found"


@pytest.mark.parametrize("kind", ["no label column", "unknown class", "subject in two splits",
                                  "class without test windows", "no logs"])
def test_bad_datasets_are_one_line_and_leave_no_run(own_dir, tmp_path, kind):
    args, message = _break(kind, own_dir, tmp_path)
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--model", "resnext1d_tiny", "--epochs", "1",
                                  "--source", *map(str, args), "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    assert not out.exists()


@pytest.mark.slow
def test_a_renamed_label_set_trains_exports_replays_and_fine_tunes(own_dir, tmp_path):
    pytest.importorskip("torch")
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    r = _run("train", "--model", "resnext1d_tiny", "--epochs", "2", "--source", own_dir,
             "--test-subjects", "2,9", "--val-subjects", "3", "--out", run)
    assert r.exit_code == 0, r.output
    cfg = RunConfig.read(run)
    assert cfg.labels == ("lie", "sit", "stand", "walk")
    assert cfg.data.test_subjects == (2, 9)
    r = _run("export", run, "--out", bundle, "--int8", "--max-drop", "100", "--calib-windows", "64",
             "--formats", "tflite")
    assert r.exit_code == 0, r.output
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["labels"] == ["lie", "sit", "stand", "walk"]
    assert m["dataset"]["test_subjects"] == [2, 9]
    report = json.loads((bundle / "report.json").read_text())
    assert [row["step"] for row in report["chain"]] == ["torch_fp32", "tflite_fp32",
                                                       "tflite_int8", "tflite_stream"]
    from edgehar.runtime.replay import ReplayOptions, run_replay

    s = run_replay(ReplayOptions(log=own_dir / "phone_subject2.csv", model=bundle, quiet=True,
                                 out=tmp_path / "p.jsonl"))
    preds = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert {p["label"] for p in preds} <= {"lie", "sit", "stand", "walk"}
    assert len(preds[0]["probs"]) == 4 and s["scored_windows"] > 0
    # evaluate reads the data spec and the split from the bundle
    r = _run("evaluate", bundle / "model_int8.tflite", "--json", "-")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["n"] == report["test_windows"]
    # fine-tune the built-in six-class head onto the renamed four classes: a new head
    ft = tmp_path / "ft"
    r = _run("train", "--init", run, "--epochs", "1", "--freeze", "stem", "--source", own_dir,
             "--test-subjects", "2,9", "--val-subjects", "3", "--classes", "walk,sit", "--out", ft)
    assert r.exit_code == 0, r.output
    cfg = RunConfig.read(ft)
    assert cfg.fine_tune.head == "new" and cfg.labels == ("walk", "sit")
    import torch

    a = torch.load(run / "weights.pt", weights_only=True)
    b = torch.load(ft / "weights.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("stem."))   # frozen
    assert not all(torch.equal(a[k], b[k]) for k in a if k.startswith("stages."))
    assert b["fc.weight"].shape[0] == 2


@pytest.mark.slow
@pytest.mark.parametrize("walking", [False, True])
def test_a_fine_tune_keeps_the_init_vertical_unless_its_data_walks(recordings, shipped_bundle,
                                                                   tmp_path, walking):
    """Sitting and standing only: no active window, the bundle's vertical is kept exactly;
    with walking (~95 active training windows, over MIN_ACTIVE_FOR_VERTICAL) it is measured."""
    pytest.importorskip("torch")
    from edgehar.runtime.manifest import read_manifest
    from edgehar.train.trainer import MIN_ACTIVE_FOR_VERTICAL

    rename = {4: "sit", 5: "stand", **({1: "walk"} if walking else {})}
    (tmp_path / "own").mkdir()
    src = _write_own_dir(tmp_path / "own", recordings, every=1, rename=rename)
    ft = tmp_path / "ft"
    r = _run("train", "--init", shipped_bundle, "--epochs", "1", "--source", src,
             "--test-subjects", "2,9", "--val-subjects", "3", "--out", ft)
    assert r.exit_code == 0, r.output
    init = read_manifest(shipped_bundle).orientation.vertical
    o = RunConfig.read(ft).orientation
    if walking:
        assert o.vertical_from == "training data" and o.active_windows >= MIN_ACTIVE_FOR_VERTICAL
        assert o.vertical != init
    else:
        assert o.vertical_from == "init" and o.active_windows < MIN_ACTIVE_FOR_VERTICAL
        assert o.vertical == init


def test_the_csv_copy_of_the_built_in_data_gives_the_same_windows(recordings, tmp_path):
    from edgehar.data.dataset import DataSpec
    from edgehar.data.sources import Recording, write_hapt_dir
    from edgehar.data.windows import load_dataset

    picks = [next(r for r in recordings if r.user == u) for u in (1, 2, 5)]
    small = [Recording(r.experiment, r.user, r.raw[:18000], r.labels[:18000]) for r in picks]
    hapt = write_hapt_dir(small, tmp_path / "hapt")
    r = _run("data", "export-csv", tmp_path / "csv", "--source", hapt.parent)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "csv" / "subjects.csv").read_text().startswith("file,subject\n")
    a = load_dataset(DataSpec(str(hapt.parent), test_subjects=("2",), val_subjects=("5",)))
    b = load_dataset(DataSpec(str(tmp_path / "csv"), classes=LABELS, test_subjects=("2",),
                              val_subjects=("5",)))
    for k in ("train", "val", "test"):
        np.testing.assert_array_equal(a.splits[k].y, b.splits[k].y)
        np.testing.assert_array_equal(a.splits[k].start, b.splits[k].start)
        assert np.abs(a.splits[k].x - b.splits[k].x).max() < 1e-5   # 9 significant digits


def test_the_twelve_class_task_has_every_transition(recordings):
    from edgehar.data.dataset import HAPT_LABELS, DataSpec
    from edgehar.data.windows import load_dataset

    ds = load_dataset(DataSpec(task="hapt12"))
    assert ds.classes == HAPT_LABELS
    for split in ("train", "test"):
        counts = np.bincount(ds.splits[split].y, minlength=12)
        assert (counts > 0).all(), (split, counts)
    six = load_dataset(DataSpec())
    assert len(six.splits["test"].y) == (ds.splits["test"].y < 6).sum()


def test_calibration_batches_stay_equal_when_a_rare_class_leaves_fewer_windows():
    pytest.importorskip("onnxruntime")
    from edgehar.quantize.calibration import CalibrationSet

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(400, int), np.ones(3, int), np.full(300, 2)]   # class 1 has 3 windows
    x = rng.normal(size=(len(y), 128, 9)).astype(np.float32)
    calib = CalibrationSet.draw(x, y, 512, seed=0)
    assert len(calib) == 171 + 3 + 171   # class-balanced: 171 each, the rare class has 3
    reader = calib.onnx_reader("window")
    sizes = []
    while (b := reader.get_next()) is not None:
        sizes.append(len(b["window"]))
    assert sum(sizes) == len(calib) and len(set(sizes)) == 1


@pytest.fixture(scope="module")
def own_dir_25hz(recordings, tmp_path_factory):
    """The same six subjects and classes as ``own_dir``, logged at 25 Hz (every other sample)."""
    return _write_own_dir(tmp_path_factory.mktemp("own25"), recordings, every=2)


def test_a_25_hz_directory_is_resampled_to_the_50_hz_grid(own_dir, own_dir_25hz):
    from edgehar.data.dataset import DataSpec
    from edgehar.data.windows import load_dataset

    split = {"test_subjects": ("2", "9"), "val_subjects": ("3",)}
    at50 = load_dataset(DataSpec(str(own_dir), **split))
    at25 = load_dataset(DataSpec(str(own_dir_25hz), **split))
    assert at25.window_spec().sample_rate == 50 and at25.classes == at50.classes
    for k in ("train", "val", "test"):
        a, b = at50.splits[k], at25.splits[k]
        assert b.x.shape[1:] == (128, 9) and (b.start % 64 == 0).all()
        # the same minutes of the same activities: about as many windows, on the same grid
        assert abs(len(b.y) - len(a.y)) <= 0.05 * len(a.y), (k, len(a.y), len(b.y))
        assert np.abs(np.bincount(b.y, minlength=4) - np.bincount(a.y, minlength=4)).max() \
            <= 0.05 * len(a.y) + 2


@pytest.mark.slow
def test_window_and_hop_flow_from_train_to_the_manifest_and_replay(own_dir_25hz, tmp_path):
    """--window 100 --hop 50 on a 25 Hz directory: windows, run config, bundle manifest and
    replay's windowing all say 100 samples every 50, at 50 Hz."""
    pytest.importorskip("torch")
    pytest.importorskip("litert_torch")
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    r = _run("train", "--model", "resnext1d_tiny", "--epochs", "1", "--source", own_dir_25hz,
             "--test-subjects", "2,9", "--val-subjects", "3", "--window", "100", "--hop", "50",
             "--out", run)
    assert r.exit_code == 0, r.output
    cfg = RunConfig.read(run)
    assert (cfg.spec.sample_rate, cfg.spec.window, cfg.spec.hop) == (50, 100, 50)
    assert (cfg.data.window, cfg.data.hop) == (100, 50) and cfg.model_config["window"] == 100
    r = _run("export", run, "--out", bundle, "--formats", "tflite", "--max-drop", "100")
    assert r.exit_code == 0, r.output
    m = json.loads((bundle / "manifest.json").read_text())
    assert (m["sample_rate"], m["window"], m["hop"]) == (50, 100, 50)
    assert m["files"]["model_fp32.tflite"]["io"]["input"]["shape"] == [1, 100, 9]
    from edgehar.runtime.replay import ReplayOptions, run_replay

    s = run_replay(ReplayOptions(log=own_dir_25hz / "phone_subject2.csv", model=bundle,
                                 quiet=True, out=tmp_path / "p.jsonl"))
    preds = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    starts = [p["start"] for p in preds]
    assert len(preds) == s["windows"] > 100
    assert all(p["end"] - p["start"] == 100 for p in preds)
    assert starts == list(range(0, 50 * len(preds), 50))   # the 25 Hz log on the 50 Hz grid
    assert abs(preds[-1]["end"] - 12000) <= 100            # 4 minutes at 50 Hz
