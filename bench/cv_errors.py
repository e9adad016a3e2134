"""Where cross-validation's errors are: per held-out subject, the accuracy and the confusions of
each recipe's saved fold models (``bench/cv_recipes.py`` saves them). Training subjects only.

    python bench/cv_errors.py --cv runs/cv --recipes ema60_warmup,ema60_warmup_seed1 \\
        --json docs/results/cv_recipes/errors.json
    python bench/cv_errors.py --cv runs/cv --ensemble ema60_warmup,ema60_warmup_seed1,ema60_warmup_seed2

``--ensemble``: the pooled accuracy of the recipes' mean probabilities (fold by fold), beside
each recipe's own: how much a distilled student could gain from them as teachers.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgehar.data.windows import concat, load_dataset, subset
from edgehar.runtime.model import softmax
from edgehar.train.checkpoint import load_run, predict_logits
from edgehar.train.trainer import TrainConfig


def held_out(models: Path, pool) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(subject, logits, labels) of every fold model on each subject it held out."""
    for run in sorted(models.glob("fold*")):
        model, norm, config = load_run(run)
        for s in config.cv_fold.held_out:
            va = subset(pool, pool.subject == s)
            yield s, predict_logits(model, norm.apply(va.x)), va.y


def recipe_errors(models: Path, pool, classes: tuple[str, ...]) -> dict:
    """{subject: {"windows", "errors", "confusions": {"TRUE->PREDICTED": n}}} over the folds."""
    out = {}
    for s, logits, y in held_out(models, pool):
        pred = logits.argmax(1)
        wrong = y != pred
        pairs = Counter(f"{classes[a]}->{classes[b]}" for a, b in zip(y[wrong], pred[wrong]))
        out[str(s)] = {"windows": int(len(y)), "errors": int(wrong.sum()),
                       "confusions": dict(pairs.most_common())}
    return out


def held_out_probs(models: Path, pool) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of every fold model on its held-out subjects, subject by subject."""
    probs, labels = [], []
    for _, logits, y in held_out(models, pool):
        probs.append(softmax(logits))
        labels.append(y)
    return np.concatenate(probs), np.concatenate(labels)


def ensemble(cv: Path, recipes: list[str], pool) -> dict:
    outs = [held_out_probs(cv / r / "models", pool) for r in recipes]
    y = outs[0][1]
    if not all(np.array_equal(labels, y) for _, labels in outs):
        raise SystemExit("these recipes did not hold out the same subjects in the same folds")
    single = {r: float((p.argmax(1) == y).mean()) for r, (p, _) in zip(recipes, outs)}
    mean = float((np.mean([p for p, _ in outs], 0).argmax(1) == y).mean())
    return {"recipes": recipes, "windows": int(len(y)), "single": single, "ensemble": mean}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cv", type=Path, default=Path("runs/cv"))
    ap.add_argument("--recipes", help="comma-separated: per-subject errors of each")
    ap.add_argument("--ensemble", help="comma-separated: the pooled accuracy of their mean")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    ds = load_dataset(TrainConfig().data)
    pool = concat([ds.splits["train"], ds.splits["val"]])   # never the test split
    if args.ensemble:
        res = ensemble(args.cv, args.ensemble.split(","), pool)
        print(" ".join(f"{r} {100 * a:.2f} %" for r, a in res["single"].items()))
        print(f"ensemble of the {len(res['recipes'])}: {100 * res['ensemble']:.2f} % pooled "
              f"(their mean {100 * np.mean(list(res['single'].values())):.2f} %)")
        if args.json:
            args.json.write_text(json.dumps(res, indent=2))
        return
    if not args.recipes:
        ap.error("give --recipes or --ensemble")
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
