"""``edgehar pipeline``: the main job end to end on the embedded data."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .data.windows import TEST_SUBJECTS

REPLAY_SUBJECT = TEST_SUBJECTS[0]


def run_pipeline(model_name: str | None, epochs: int, seed: int, out: Path, max_drop: float,
                 echo=print) -> bool:
    from .data.sources import load_package, write_hapt_dir
    from .export.bundle import ExportOptions, export_bundle
    from .runtime.replay import ReplayOptions, run_replay
    from .train.registry import DEFAULT_MODEL
    from .train.trainer import TrainConfig, train

    out = Path(out)
    t0 = time.perf_counter()
    model_name = model_name or DEFAULT_MODEL
    echo(f"== 1/3 train {model_name} for {epochs} epochs (seed {seed}) -> {out / 'run'}")
    m = train(TrainConfig(model=model_name, epochs=epochs, seed=seed), out / "run")
    echo(f"   test accuracy {100 * m['accuracy']:.2f}%, macro-F1 {100 * m['macro_f1']:.2f}%")

    echo(f"== 2/3 export --int8 -> {out / 'bundle'}")
    res = export_bundle(out / "run", out / "bundle", ExportOptions(int8=True, max_drop_pp=max_drop),
                        log=lambda s: echo("   " + s))
    echo(res.chain.table())

    echo(f"== 3/3 replay test subject {REPLAY_SUBJECT}'s recordings through the runtime")
    recs = [r for r in load_package() if r.user == REPLAY_SUBJECT]
    raw_dir = write_hapt_dir(recs, out / "logs")
    summaries = []
    for r in recs:
        log = raw_dir / f"acc_exp{r.experiment:02d}_user{r.user:02d}.txt"
        s = run_replay(ReplayOptions(log=log, model=out / "bundle", labels=raw_dir / "labels.txt",
                                     out=out / f"pred_exp{r.experiment:02d}.jsonl",
                                     summary=out / f"replay_exp{r.experiment:02d}.json",
                                     quiet=True))
        summaries.append(s)
        echo(f"   {log.name}: {s['windows']} windows, accuracy {100 * s['accuracy']:.2f}% "
             f"(macro-F1 {100 * s['macro_f1']:.2f}%) on {s['scored_windows']} labelled windows, "
             f"{s['windows_per_s']:.0f} windows/s, latency p50 {s['latency_ms']['p50']:.2f} ms "
             f"p99 {s['latency_ms']['p99']:.2f} ms ({s['backend']}: {Path(s['model_file']).name})")
    result = {"train": {k: m[k] for k in ("accuracy", "macro_f1", "params", "macs")},
              "chain": res.chain.to_json(), "replay": summaries,
              "wall_seconds": round(time.perf_counter() - t0, 1), "ok": res.ok}
    (out / "pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    echo(f"done in {result['wall_seconds']:.0f} s; summary in {out / 'pipeline.json'}")
    if not res.ok:
        echo("error: " + ", ".join(f"{r.step} dropped {r.drop_vs_torch_pp:+.2f} pp"
                                   for r in res.chain.failed) + f" (> --max-drop {max_drop})")
    return res.ok
