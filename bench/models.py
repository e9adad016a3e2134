"""Models side by side on the same split and recipe: train each (model, seed), export it
through the whole chain (--int8), and tabulate test accuracy over seeds, params, MACs, torch and
TFLite latency and the INT8 drop. Resumable: a finished run or bundle is reused.

    python bench/models.py --runs runs/models --json docs/results/models.json \\
        --models resnext1d_small:0-4,tinyhar:0-2,deepconvlstm:0@10,deepconvlstm:0

A model may carry keyword arguments: ``resnext1d_small+kernel=7:0-4``.

The test subjects only score; every choice (the recipe, the epoch) is made without them.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def seeds_of(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def recipe_differences(saved, cfg) -> list[str]:
    """The TrainConfig fields (data aside) where a saved run's recipe (``TrainConfig.from_run``;
    a field the run predates counts as its default) is not ``cfg``."""
    from dataclasses import fields

    differ = [f.name for f in fields(cfg)
              if f.name != "data" and getattr(saved, f.name) != getattr(cfg, f.name)]
    return [f"{n}: {getattr(saved, n)!r} != {getattr(cfg, n)!r}" for n in differ]


def model_of(spec: str) -> tuple[str, dict]:
    """``name`` or ``name+key=value+...`` (values as JSON, else strings): a registered model and
    keyword arguments for it, e.g. ``resnext1d_small+kernel=7``."""
    name, *pairs = spec.split("+")
    kwargs = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return name, kwargs


def one(model: str, seed: int, runs: Path, epochs: int | None = None) -> dict:
    from edgehar.export.bundle import ExportFailed, ExportOptions, export_bundle
    from edgehar.runtime.manifest import MANIFEST, read_manifest
    from edgehar.runtime.run_config import RunConfig
    from edgehar.train.trainer import TrainConfig, default_recipe, train

    base = default_recipe()
    name, kwargs = model_of(model)
    cfg = replace(base, model=name, model_kwargs=kwargs, seed=seed, epochs=epochs or base.epochs)
    # a shortened run has its own folder: one resumed run is never another's
    run = runs / model / (f"seed{seed}" if cfg.epochs == base.epochs else f"seed{seed}_ep{cfg.epochs}")
    bundle = run / "bundle"
    if not (run / "metrics.json").is_file():
        t0 = time.perf_counter()
        train(cfg, run, progress=False)
        print(f"[{model} seed {seed}] trained in {time.perf_counter() - t0:.0f} s", flush=True)
    metrics = json.loads((run / "metrics.json").read_text())
    config = RunConfig.read(run)
    differs = recipe_differences(TrainConfig.from_run(config), cfg)
    if differs:
        raise SystemExit(f"{run} was trained with another recipe ({', '.join(differs)}): move "
                         f"it away to train it afresh")
    row = {"model": model, "seed": seed, "accuracy": metrics["accuracy"],
           "macro_f1": metrics["macro_f1"], "params": metrics["params"], "macs": metrics["macs"],
           "torch_ms": metrics["latency_ms"]["p50"], "train_seconds": config.train_seconds,
           "epochs": config.recipe["epochs"]}
    manifest = bundle / MANIFEST
    if not (manifest.is_file() and read_manifest(bundle).complete):
        try:
            export_bundle(run, bundle, ExportOptions(int8=True, max_drop_pp=100.0),
                          log=lambda s: None)
        except ExportFailed as e:
            row["export_failure"] = str(e)
    if manifest.is_file():
        m = read_manifest(bundle)
        report = json.loads((bundle / "report.json").read_text())
        chain = {r["step"]: r for r in report["chain"]}
        row |= {f"{s}_drop_pp": chain[s]["drop_vs_torch_pp"] for s in chain if s != "torch_fp32"}
        row |= {f"{Path(f).stem}_{Path(f).suffix[1:]}_ms": v["p50"]
                for f, v in report["latency_ms"].items()}
        row["integer_only"] = m.quantization.integer_only if m.quantization else None
        int8 = m.files.get("model_int8.tflite")
        row["tflite_int8_bytes"] = int8.size_bytes if int8 else None
        row["failure"] = m.failure
    print(f"[{model} seed {seed}] {100 * row['accuracy']:.2f} %, TFLite INT8 drop "
          f"{row.get('tflite_int8_drop_pp', float('nan')):+.2f} pp", flush=True)
    return row


def table(rows: list[dict]) -> str:
    out = ["| model | seeds | epochs | accuracy (mean +- sd) | params | MACs | torch ms | TFLite FP32 ms "
           "| TFLite INT8 ms | TFLite INT8 drop (pp, per seed) | integer-only |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, epochs in dict.fromkeys((r["model"], r["epochs"]) for r in rows):
        rs = [r for r in rows if (r["model"], r["epochs"]) == (model, epochs)]
        acc = 100 * np.array([r["accuracy"] for r in rs])
        sd = f" +- {acc.std(ddof=1):.2f}" if len(acc) > 1 else ""
        drops = ", ".join(f"{r['tflite_int8_drop_pp']:+.2f}" for r in rs
                          if "tflite_int8_drop_pp" in r)

        def med(k: str, rs=rs) -> str:
            vals = [r[k] for r in rs if k in r]
            return f"{np.median(vals):.2f}" if vals else "-"

        out.append(f"| `{model}` | {len(rs)} | {epochs} | {acc.mean():.2f}{sd} % | "
                   f"{rs[0]['params']:,} | "
                   f"{rs[0]['macs'] / 1e6:.2f} M | {med('torch_ms')} | "
                   f"{med('model_fp32_tflite_ms')} | {med('model_int8_tflite_ms')} | "
                   f"{drops or '-'} | {rs[0].get('integer_only')} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/models"))
    ap.add_argument("--models", default="resnext1d_small:0-4,tinyhar:0-2,deepconvlstm:0")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = []
    for item in args.models.split(","):
        model, _, seeds = item.partition(":")
        seeds, _, epochs = seeds.partition("@")
        rows += [one(model, s, args.runs, int(epochs) if epochs else None)
                 for s in seeds_of(seeds or "0")]
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "table": table(rows)}, indent=2))


if __name__ == "__main__":
    main()
