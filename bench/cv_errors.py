"""Where cross-validation's errors are: per held-out subject, the accuracy and the confusions of
each recipe's saved fold models (``bench/cv_recipes.py`` saves them). Training subjects only.

    python bench/cv_errors.py --cv runs/cv --recipes ema60_warmup,ema60_warmup_seed1 \\
        --json docs/results/cv_recipes/errors.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from edgehar.data.windows import concat, load_dataset, subset
from edgehar.train.checkpoint import load_run, predict_logits
from edgehar.train.trainer import TrainConfig


def recipe_errors(models: Path, pool, classes: tuple[str, ...]) -> dict:
    """{subject: {"windows", "errors", "confusions": {"TRUE->PREDICTED": n}}} over the folds."""
    out = {}
    for run in sorted(models.glob("fold*")):
        held = json.loads((run / "config.json").read_text())["cv_fold"]["held_out"]
        model, norm, _ = load_run(run)
        for s in held:
            va = subset(pool, pool.subject == s)
            pred = predict_logits(model, norm.apply(va.x)).argmax(1)
            wrong = va.y != pred
            pairs = Counter(f"{classes[a]}->{classes[b]}" for a, b in zip(va.y[wrong], pred[wrong]))
            out[str(s)] = {"windows": int(len(va.y)), "errors": int(wrong.sum()),
                           "confusions": dict(pairs.most_common())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cv", type=Path, default=Path("runs/cv"))
    ap.add_argument("--recipes", required=True)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    ds = load_dataset(TrainConfig().data)
    pool = concat([ds.splits["train"], ds.splits["val"]])   # never the test split
    result = {}
    for name in args.recipes.split(","):
        result[name] = errs = recipe_errors(args.cv / name / "models", pool, ds.classes)
        total = sum(e["errors"] for e in errs.values())
        print(f"[{name}] {total} errors in {sum(e['windows'] for e in errs.values())} windows")
        for s, e in sorted(errs.items(), key=lambda kv: -kv[1]["errors"])[:4]:
            print(f"  subject {s}: {e['errors']} ({e['confusions']})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    # one subject's share of every recipe's errors, and how much it moves between recipes
    subjects = sorted({s for r in result.values() for s in r}, key=int)
    spread = {s: np.ptp([r[s]["errors"] for r in result.values()]) for s in subjects}
    s_max = max(spread, key=spread.get)
    print(f"widest swing between recipes: subject {s_max}, "
          f"{[r[s_max]['errors'] for r in result.values()]} errors")


if __name__ == "__main__":
    main()
