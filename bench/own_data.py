"""Bring your own data, measured (issue 11). Every figure is on the test subjects, which choose
nothing; each part writes its JSON under --out and prints a table.

  reproduce    the built-in recordings written as a labelled CSV directory (edgehar data
               export-csv) and trained from there, 3 seeds, beside the built-in source
  fourclass    the CSV copy relabelled to four renamed classes (moving, sitting, standing,
               lying): train, export --int8 with the drop chain, replay a test log
  hapt12       the twelve HAPT classes (six activities + six postural transitions): train,
               export --int8, replay test subject 2; per-class F1
  personalize  for each test subject, fine-tune the shipped model on that subject's first N
               minutes and evaluate on the rest, before and after

    python bench/own_data.py reproduce fourclass hapt12 personalize --out runs/own_data
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from edgehar.data.dataset import DataSpec
from edgehar.data.windows import load_dataset
from edgehar.runtime.spec import LABELS

UCI_SPLIT = {"test_subjects": ("2", "4", "9", "10", "12", "13", "18", "20", "24"),
             "val_subjects": ("3", "11", "19", "27")}
FOUR = {"WALKING": "moving", "WALKING_UPSTAIRS": "moving", "WALKING_DOWNSTAIRS": "moving",
        "SITTING": "sitting", "STANDING": "standing", "LAYING": "lying"}


def _train(spec: DataSpec, out: Path, seed: int = 0, **kw) -> dict:
    from edgehar.train.trainer import TrainConfig, train

    m = train(TrainConfig(data=spec, seed=seed, **kw), out, progress=False)
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
            "per_class_f1": m["per_class_f1"]}


def csv_copy(root: Path) -> Path:
    from edgehar.data.export_csv import export_csv

    d = root / "csvcopy"
    if not (d / "subjects.csv").is_file():
        shutil.rmtree(d, ignore_errors=True)
        export_csv("package", "uci6", d)
    return d


def reproduce(root: Path) -> dict:
    d = csv_copy(root)
    rows = {}
    for name, spec in (("built-in", DataSpec()),
                       ("csv copy", DataSpec(str(d), classes=LABELS, **UCI_SPLIT))):
        accs = []
        for seed in (0, 1, 2):
            r = _train(spec, root / f"reproduce_{name.replace(' ', '_')}_s{seed}", seed)
            accs.append(r["accuracy"])
            print(f"{name:<9} seed {seed}: test accuracy {100 * r['accuracy']:.2f} %", flush=True)
        rows[name] = {"accuracy": accs, "mean": float(np.mean(accs)),
                      "sd": float(np.std(accs, ddof=1))}
        print(f"{name:<9} mean {100 * np.mean(accs):.2f} +- {100 * np.std(accs, ddof=1):.2f} %")
    return rows


def fourclass(root: Path) -> dict:
    from edgehar.export.bundle import ExportOptions, export_bundle
    from edgehar.runtime.replay import ReplayOptions, run_replay

    src, d = csv_copy(root), root / "fourclass"
    if not (d / "subjects.csv").is_file():
        d.mkdir(parents=True, exist_ok=True)
        for f in src.glob("*.csv"):
            if f.name == "subjects.csv":
                shutil.copy(f, d / f.name)
                continue
            lines = f.read_text().splitlines()
            out = [lines[0]] + [(lambda p: p[0] + "," + FOUR.get(p[2], ""))(ln.rpartition(","))
                                for ln in lines[1:]]
            (d / f.name).write_text("\n".join(out) + "\n")
    spec = DataSpec(str(d), **UCI_SPLIT)
    run = root / "fourclass_run"
    r = _train(spec, run)
    res = export_bundle(run, run / "bundle", ExportOptions(int8=True, max_drop_pp=1.0),
                        log=lambda *_: None)
    s = run_replay(ReplayOptions(log=d / "exp03_user02.csv", model=run / "bundle", quiet=True))
    print(f"four classes {load_dataset(spec).classes}: test accuracy {100 * r['accuracy']:.2f} %;")
    print(res.chain.table())
    print(f"replay exp03_user02.csv: {s['windows']} windows, accuracy {100 * s['accuracy']:.2f} %")
    return {"train": r, "chain": res.chain.to_json(), "labels": list(res.manifest.labels),
            "replay": {k: s[k] for k in ("windows", "accuracy", "macro_f1", "scored_windows")}}


def hapt12(root: Path) -> dict:
    from edgehar.data.sources import load_package, write_hapt_dir
    from edgehar.export.bundle import ExportOptions, export_bundle
    from edgehar.runtime.replay import ReplayOptions, run_replay

    run = root / "hapt12_run"
    r = _train(DataSpec(task="hapt12"), run)
    res = export_bundle(run, run / "bundle", ExportOptions(int8=True, max_drop_pp=1.0),
                        log=lambda *_: None)
    raw = write_hapt_dir([x for x in load_package() if x.user == 2], root / "hapt12_logs")
    replays = []
    for acc in sorted(raw.glob("acc_*.txt")):
        s = run_replay(ReplayOptions(log=acc, labels=raw / "labels.txt", model=run / "bundle",
                                     quiet=True))
        replays.append({"log": acc.name, **{k: s[k] for k in ("windows", "accuracy", "macro_f1",
                                                              "scored_windows")}})
    print(f"hapt12: test accuracy {100 * r['accuracy']:.2f} %, macro-F1 {100 * r['macro_f1']:.2f} %")
    for k, v in r["per_class_f1"].items():
        print(f"  {k:<20} F1 {100 * v:.1f} %")
    print(res.chain.table())
    for x in replays:
        print(f"replay {x['log']}: accuracy {100 * x['accuracy']:.2f} % on {x['scored_windows']}")
    return {"train": r, "chain": res.chain.to_json(), "replay": replays,
            "test_windows_per_class": np.bincount(load_dataset(DataSpec(task="hapt12")).splits[
                "test"].y, minlength=12).tolist()}


def personalize(root: Path, init: Path, minutes=(1, 2, 4), freeze=("stem", "stages")) -> dict:
    """Windows of one test subject in time order (experiments one after the other)."""
    import torch

    from edgehar.data.windows import subset
    from edgehar.train.checkpoint import load_run, predict_logits
    from edgehar.train.trainer import TrainConfig, train

    ds = load_dataset(DataSpec())
    test = ds.splits["test"]
    base, norm, _ = load_run(init)
    rows = {}
    for subject in sorted(set(test.subject.tolist())):
        m = test.subject == subject
        exps = sorted(set(test.experiment[m].tolist()))
        # time of each window in the subject's day: earlier experiments first
        length = {e: int(test.start[m & (test.experiment == e)].max()) + 128 for e in exps}
        offset = dict(zip(exps, np.cumsum([0] + [length[e] for e in exps[:-1]])))
        t = np.array([offset[e] + s for e, s in zip(test.experiment[m], test.start[m])]) / 50
        mine = subset(test, m)
        x, y = mine.x, mine.y
        for n in minutes:
            first, rest = t + 2.56 <= 60 * n, t >= 60 * n + 2.56   # no window straddles the cut
            if first.sum() < 2:
                print(f"subject {subject}: fewer than 2 labelled windows in {n} min, skipped")
                continue
            before = float((predict_logits(base, norm.apply(x[rest])).argmax(1) == y[rest]).mean())
            # no held-out data of the subject: the epoch is chosen on its own fine-tuning windows
            out = root / f"personalize_s{subject}_n{n}"
            torch.manual_seed(0)
            mt = train(TrainConfig(init=str(init), freeze=tuple(freeze), epochs=15, lr=1e-3,
                                   aug_yaw_deg=180.0), out,
                       splits={"train": subset(mine, first), "val": subset(mine, first),
                               "test": subset(mine, rest)},
                       progress=False, classes=LABELS)
            rows[f"{subject}/{n}"] = {"subject": subject, "minutes": n,
                                      "finetune_windows": int(first.sum()),
                                      "classes_seen": sorted({LABELS[k] for k in y[first]}),
                                      "eval_windows": int(rest.sum()), "before": before,
                                      "after": mt["accuracy"]}
            print(f"subject {subject:>2}, first {n} min ({int(first.sum())} windows, "
                  f"{len(rows[f'{subject}/{n}']['classes_seen'])} classes): {100 * before:.2f} % -> "
                  f"{100 * mt['accuracy']:.2f} % on {int(rest.sum())} windows", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    for n in minutes:
        b = [v["before"] for v in rows.values() if v["minutes"] == n]
        a = [v["after"] for v in rows.values() if v["minutes"] == n]
        print(f"first {n} min: mean {100 * np.mean(b):.2f} % -> {100 * np.mean(a):.2f} %")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="+", choices=["reproduce", "fourclass", "hapt12", "personalize"])
    ap.add_argument("--out", type=Path, default=Path("runs/own_data"))
    ap.add_argument("--init", type=Path, default=Path("edgehar/assets/pretrained"))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for part in a.parts:
        print(f"== {part}", flush=True)
        fn = {"reproduce": reproduce, "fourclass": fourclass, "hapt12": hapt12,
              "personalize": lambda r: personalize(r, a.init)}[part]
        result = fn(a.out)
        (a.out / f"{part}.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
