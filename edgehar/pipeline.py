"""``edgehar pipeline``: the main job end to end on the embedded data."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from .data.dataset import HAPT_LABELS, DataSpec
from .runtime.files import write_json


def _replay_logs(ds, out: Path) -> list[tuple[Path, Path | None]]:
    """The first test subject's recordings as logs the runtime reads: (log, labels.txt)."""
    from .data.labelled import find_logs, subjects_of
    from .data.sources import write_hapt_dir
    from .data.windows import Source

    subject = ds.subjects["test"][0]
    if ds.kind == "uci":   # UCI HAR directories hold windows, not recordings to replay
        return []
    if ds.kind == "labelled":
        root = Path(ds.spec.source)
        owners = subjects_of(root, find_logs(root))
        return [(f, None) for f, s in owners.items() if s == subject]
    recs = [r for r in Source(ds.spec.source).recordings() if r.user == subject]
    raw_dir = write_hapt_dir(recs, out / "logs")
    # HAPT labels.txt ids are the HAPT classes: they score a model whose labels are those
    scored = HAPT_LABELS[:len(ds.classes)] == ds.classes
    return [(raw_dir / f"acc_exp{r.experiment:02d}_user{r.user:02d}.txt",
             raw_dir / "labels.txt" if scored else None) for r in recs]


def run_pipeline(model_name: str | None, epochs: int | None, seed: int, out: Path, max_drop: float,
                 echo=print, data: DataSpec | None = None) -> bool:
    from .data.windows import load_dataset
    from .export.bundle import ExportOptions, export_bundle
    from .runtime.replay import ReplayOptions, run_replay
    from .train.registry import DEFAULT_MODEL
    from .train.trainer import default_recipe, train

    out = Path(out)
    t0 = time.perf_counter()
    data = data or DataSpec()
    ds = load_dataset(data)    # a bad dataset stops here, before anything is written
    model_name = model_name or DEFAULT_MODEL
    cfg = replace(default_recipe(), model=model_name, seed=seed, data=data)
    cfg = replace(cfg, epochs=cfg.epochs if epochs is None else epochs)
    echo(f"== 1/3 train {model_name} for {cfg.epochs} epochs (seed {seed}) on {data.source} "
         f"({len(ds.classes)} classes) -> {out / 'run'}")
    m = train(cfg, out / "run")
    echo(f"   test accuracy {100 * m['accuracy']:.2f}%, macro-F1 {100 * m['macro_f1']:.2f}%")

    echo(f"== 2/3 export --int8 -> {out / 'bundle'}")
    res = export_bundle(out / "run", out / "bundle", ExportOptions(int8=True, max_drop_pp=max_drop),
                        log=lambda s: echo("   " + s))
    echo(res.chain.table())

    echo(f"== 3/3 replay test subject {ds.subjects['test'][0]}'s recordings through the runtime")
    summaries = []
    logs = _replay_logs(ds, out)
    if not logs:
        echo("   skipped: a UCI HAR directory holds windows, not recordings to replay")
    for log, labels in logs:
        stem = log.stem.removeprefix("acc_")
        s = run_replay(ReplayOptions(log=log, model=out / "bundle", labels=labels,
                                     out=out / f"pred_{stem}.jsonl",
                                     summary=out / f"replay_{stem}.json", quiet=True))
        summaries.append(s)
        scored = (f"accuracy {100 * s['accuracy']:.2f}% (macro-F1 {100 * s['macro_f1']:.2f}%) on "
                  f"{s['scored_windows']} labelled windows, " if "accuracy" in s else "")
        echo(f"   {log.name}: {s['windows']} windows, {scored}"
             f"{s['windows_per_s']:.0f} windows/s, latency p50 {s['latency_ms']['p50']:.2f} ms "
             f"p99 {s['latency_ms']['p99']:.2f} ms ({s['backend']}: {Path(s['model_file']).name})")
    result = {"train": {k: m[k] for k in ("accuracy", "macro_f1", "params", "macs")},
              "chain": res.chain.to_json(), "replay": summaries,
              "wall_seconds": round(time.perf_counter() - t0, 1), "ok": res.ok}
    write_json(out / "pipeline.json", result)
    echo(f"done in {result['wall_seconds']:.0f} s; summary in {out / 'pipeline.json'}")
    if not res.ok:
        echo("error: " + ", ".join(f"{r.step} dropped {r.drop_vs_torch_pp:+.2f} pp"
                                   for r in res.chain.failed) + f" (> --max-drop {max_drop})")
    return res.ok
