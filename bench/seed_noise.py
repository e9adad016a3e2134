"""How much of issue 14's remaining gap seeds alone can move: the default recipe's seed-to-seed
spread on the cross-validation and on the test subjects, what it makes of the five-seed goal,
and how many seeds a recipe would need before CV could tell a gain of a given size.

    python bench/seed_noise.py --json docs/results/seed_noise.json

Reads committed results only (docs/results/cv_recipes/summary.json, docs/results/models.json):
no training. The normal approximation is used for seeds needed (two-sided 5 %, power 80 %).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import NormalDist

import numpy as np

from edgehar.runtime.files import write_json

CV = Path("docs/results/cv_recipes/summary.json")
MODELS = Path("docs/results/models.json")
# the default recipe's CV runs at seeds 0, 1, 2 (bench/cv_recipes.py)
DEFAULT_CV = ("ema60_warmup", "ema60_warmup_seed1", "ema60_warmup_seed2")
# recipes run at the default's seeds from the default's initial weights (same shapes), by seed
PAIRED = {"mixup": ("ema60_mixup", "ema60_mixup_seed1"),
          "label smoothing 0": ("ema60_ls0_seed0", "ema60_ls0_seed1", "ema60_ls0_seed2"),
          "label smoothing 0.2": ("ema60_ls02_seed0", "ema60_ls02_seed1"),
          "distilled from the default's seeds": ("kd3_default_seed0", "kd3_default_seed1"),
          "distilled from four fold models": ("kd4_ema60", "kd4_ema60_seed1")}


def seeds_needed(sd: float, effect: float, paired: bool) -> int:
    """Seeds per recipe for a two-sided 5 % test to find ``effect`` with power 0.8."""
    z = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)
    return int(np.ceil((2 - paired) * (z * sd / effect) ** 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--effect", type=float, default=0.15, help="gain to resolve, pp")
    ap.add_argument("--goal", type=float, default=98.1, help="five-seed test mean, %%")
    ap.add_argument("--goal-sd", type=float, default=0.3, help="five-seed test sd, pp")
    args = ap.parse_args()

    cv = json.loads(CV.read_text())
    pooled = lambda name: 100 * cv[name]["pooled_accuracy"]  # noqa: E731
    default_cv = np.array([pooled(n) for n in DEFAULT_CV])
    gains = [np.array([pooled(r) - default_cv[i] for i, r in enumerate(runs)])
             for runs in PAIRED.values()]
    # spread of a recipe's paired gain over seeds, pooled over the recipes (each around its mean)
    dof = sum(len(g) - 1 for g in gains)
    paired_sd = float(np.sqrt(sum(np.sum((g - g.mean()) ** 2) for g in gains) / dof))

    rows = [r for r in json.loads(MODELS.read_text())["rows"]
            if r["model"] == "resnext1d_small" and r["failure"] is None]
    test = np.array([100 * r["accuracy"] for r in rows])
    n, mean, sd = len(test), float(test.mean()), float(test.std(ddof=1))
    # If the recipe's true mean and spread are what five seeds showed, how often would five
    # fresh seeds meet the goal? (normal seeds; seeded draws)
    rng = np.random.default_rng(0)
    draws = rng.normal(mean, sd, size=(200_000, n))
    p_mean = float((draws.mean(1) >= args.goal).mean())
    p_sd = float((draws.std(1, ddof=1) <= args.goal_sd).mean())
    p_both = float(((draws.mean(1) >= args.goal) & (draws.std(1, ddof=1) <= args.goal_sd)).mean())

    out = {
        "cv_default_seeds_pooled_pct": [round(v, 2) for v in default_cv],
        "cv_default_sd_pp": round(float(default_cv.std(ddof=1)), 3),
        "cv_paired_gains_pp": [round(float(d), 2) for g in gains for d in g],
        "cv_paired_sd_pp": round(paired_sd, 3),
        "cv_paired_sd_dof": dof,
        "effect_pp": args.effect,
        "seeds_needed_unpaired": seeds_needed(float(default_cv.std(ddof=1)), args.effect, False),
        "seeds_needed_paired": seeds_needed(paired_sd, args.effect, True),
        "test_seeds_pct": [round(v, 2) for v in test],
        "test_mean_pct": round(mean, 2),
        "test_sd_pp": round(sd, 3),
        "test_sem_pp": round(sd / np.sqrt(n), 3),
        "p_five_seeds_meet_mean": round(p_mean, 3),
        "p_five_seeds_meet_sd": round(p_sd, 3),
        "p_five_seeds_meet_both": round(p_both, 3),
        "goal": {"mean_pct": args.goal, "sd_pp": args.goal_sd},
    }
    print(json.dumps(out, indent=2))
    if args.json:
        write_json(args.json, out)


if __name__ == "__main__":
    main()
