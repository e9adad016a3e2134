"""Recipes for the default model compared by 5-fold subject-wise cross-validation on the 21
training subjects (the test subjects never enter). Each recipe's figures go to
``OUT/<recipe>.json``; ``summary.json`` lists them all.

    python bench/cv_recipes.py --out runs/cv [--recipes baseline,ema60,kd]

``kd`` distils from the fold's own ``baseline`` and ``ema60`` models (an ensemble of two), so
run those first (the order of --recipes).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from edgehar.train.cv import cross_validate
from edgehar.train.trainer import TrainConfig

BASE = TrainConfig(select="last")
EMA60 = replace(BASE, ema=0.999, epochs=60)   # the default as it now runs (default_recipe())


def fold_models(*recipes: str) -> tuple[str, ...]:
    """Teacher paths: each recipe's model of the fold being trained (it held out the same subjects)."""
    return tuple(f"{{cv}}/{r}/models/fold{{fold}}" for r in recipes)


KD4_TEACHERS = fold_models("ema60_warmup", "ema60", "ema100", "ema60_rot5")
DEFAULT_SEEDS = fold_models("ema60_warmup", "ema60_warmup_seed1", "ema60_warmup_seed2")
LS0_SEEDS = fold_models("ema60_ls0_seed0", "ema60_ls0_seed1", "ema60_ls0_seed2")
RECIPES = {
    "baseline": BASE,                                         # the previous recipe, last epoch
    "ema60": EMA60,
    "kd": replace(BASE, teachers=fold_models("baseline", "ema60")),
    # the phone's tilt on the waist is the cue that tells SITTING from STANDING: less of the
    # random whole-phone rotation (the heading about the vertical stays free)
    "ema60_rot5": replace(EMA60, aug_rotate_deg=5.0),
    "ema60_rot0": replace(EMA60, aug_rotate_deg=0.0),
    # CV ranked 0 < 5 < 15 degrees: does more of it go on paying?
    "ema60_rot25": replace(EMA60, aug_rotate_deg=25.0),
    # the default as the code now runs it: ema60's CV ran a constant decay, before the warm-up
    "ema60_warmup": EMA60,
    # mixup: blended windows with blended labels smooth the SITTING/STANDING boundary
    "ema60_mixup": replace(EMA60, mixup_alpha=0.2),
    "ema60_mixup_seed1": replace(EMA60, mixup_alpha=0.2, seed=1),
    # time warp: walking, upstairs and downstairs told apart across people's cadences
    "ema60_warp10": replace(EMA60, aug_time_warp=0.1),
    # weight averaging over the last 15 of 60 epochs at a constant rate, instead of the EMA
    "swa15": replace(BASE, epochs=60, swa_epochs=15, swa_lr=1e-3),
    # the default again with another seed: how far one seed per fold moves the pooled figure
    "ema60_warmup_seed1": replace(EMA60, seed=1),
    "ema60_warmup_seed2": replace(EMA60, seed=2),
    "ema100": replace(EMA60, epochs=100),                          # a longer schedule
    # distilled from four of the fold's models above (every one held out the fold's subjects)
    "kd4_ema60": replace(EMA60, teachers=KD4_TEACHERS),
    # the same distillation, student seed 1 (the teachers stay the same fold models)
    "kd4_ema60_seed1": replace(EMA60, seed=1, teachers=KD4_TEACHERS),
    # distilled from the default's own three seeds per fold (97.77 % pooled as an ensemble, against
    # 97.20 % for one of them on average): the fold's stand-in for a student of the default's
    # full-data seeds
    **{f"kd3_default_seed{s}": replace(EMA60, seed=s, teachers=DEFAULT_SEEDS)
       for s in (0, 1)},
    # the same teachers with more weight on them (alpha 0.9 instead of 0.5)
    "kd3_default_a09": replace(EMA60, distill_alpha=0.9, teachers=DEFAULT_SEEDS),
    # the default without label smoothing, seeds 0-2 (paired by seed with the default's three).
    # Rules set before they ran: label_smoothing 0 becomes the default if the mean paired gain
    # is > +0.15 pp with >= 2 of 3 seeds ahead. Either way they are the teachers below: smoothed
    # teachers are known to distil worse (Muller, Kornblith and Hinton 2019)
    **{f"ema60_ls0_seed{s}": replace(EMA60, seed=s, label_smoothing=0.0)
       for s in (0, 1, 2)},
    # distilled from those three: adopted if seeds 0 and 1 average > 97.20 % pooled (the
    # default's 3-seed mean) and both beat the default at the same seed
    **{f"kd3_ls0_seed{s}": replace(EMA60, seed=s, teachers=LS0_SEEDS)
       for s in (0, 1)},
    # more smoothing: label smoothing 0 lost 0.77 pp at seed 0 (96.71 against 97.48 %).
    # Adopted if the paired gain over seeds 0 and 1 averages > +0.15 pp with both ahead
    **{f"ema60_ls02_seed{s}": replace(EMA60, seed=s, label_smoothing=0.2)
       for s in (0, 1)},
    "kd_ema60": replace(EMA60, teachers=fold_models("baseline", "ema60")),
    # Two independent resnext1d_tiny (36,470 params, 0.92 M MACs each) fit the default's budget
    # together (72,940 params, 1.85 M MACs), and the default's own three seeds gained 0.57 pp
    # as an ensemble. Pairs (0, 1) and (2, 3) are the recipe at seeds 0 and 1, scored with
    # `bench/cv_errors.py --ensemble`. Rule set before they ran: an ensemble of two tinies is
    # taken further if both pairs score above 97.20 % pooled (the default's 3-seed mean) and
    # they average >= 97.50 %
    **{f"tiny_seed{s}": replace(EMA60, seed=s, model="resnext1d_tiny") for s in range(4)},
    # Time shift (TrainConfig.aug_shift): every start between the 64-sample grid's, cut from
    # each window and the next; its own random stream, so the other augmentations draw as the
    # default's do at the same seed. Rule set before they ran: adopted if the paired gain over
    # seeds 0 and 1 averages > +0.15 pp with both seeds ahead of the default's
    **{f"shift_seed{s}": replace(EMA60, seed=s, aug_shift=True) for s in (0, 1)},
    # Five times the weight decay (AdamW, 5e-2 instead of 1e-2): held-out subjects, not the
    # training ones, are what the default misses. Rule set before they ran: adopted if the
    # paired gain over seeds 0 and 1 averages > +0.15 pp with both seeds ahead of the default's
    **{f"wd05_seed{s}": replace(EMA60, seed=s, weight_decay=5e-2) for s in (0, 1)},
    # Kernel 7 instead of 5 in the stem and every grouped convolution: a longer view of each
    # stride's cadence, inside the budget (75,798 params, 1.97 M MACs). Rule set before they
    # ran: adopted if the paired gain over seeds 0 and 1 averages > +0.15 pp with both seeds
    # ahead of the default's
    # Written after seed 0 (97.45 against 97.48 %): kernel 7 changes every convolution's
    # shape, so no initial weight is shared with the default at the same seed and the pairing
    # behind that rule does not hold. Its second rule, set before seeds 1 and 2 ran: taken to
    # the test subjects if seeds 0-2 average above 97.35 % pooled (the default's three seeds
    # average 97.20 %), compared unpaired
    **{f"k7_seed{s}": replace(EMA60, seed=s, model_kwargs={"kernel": 7}) for s in (0, 1, 2)},
    # 40 epochs instead of 60, EMA as the default's: 100 epochs scored 0.8 pp below 60 at seed
    # 0, so fewer may pay. Rule set before they ran: adopted if the paired gain over seeds 0
    # and 1 averages > +0.15 pp with both seeds ahead of the default's
    **{f"ema40_seed{s}": replace(EMA60, seed=s, epochs=40) for s in (0, 1)},
    # Cardinality 24, group width 1 (depthwise at the first stage, widths 2 and 4 after;
    # 67,302 params, 1.74 M MACs). Proposed by the cardinality ablation in docs/experiments/,
    # which is one seed of the old recipe on the test subjects (98.19 % against 97.67 %):
    # the idea came from them, so only CV decides. Shapes differ from the default's, so
    # compared unpaired, as kernel 7's second rule. Rule set before they ran: taken to the
    # test subjects if seeds 0-2 average above 97.35 % pooled (the default's three seeds
    # average 97.20 %). Stopped after seed 1 if seeds 0 and 1 average below 96.90 % (seed 2
    # would need above 98.25 %)
    **{f"card24_seed{s}": replace(EMA60, seed=s,
                                  model_kwargs={"cardinality": 24, "base_width": 1})
       for s in (0, 1, 2)},
    # Is capacity what the default lacks on held-out subjects? resnext1d_base (540,102 params,
    # 14.2 M MACs, 7.7x the default's) with the default recipe, seed 0: a stronger teacher
    # than the 2D seed model is affordable here only if it is 1D. Rule set before it ran: it
    # becomes the teacher of a distillation CV if it scores above 97.77 % pooled (the
    # default's three seeds as an ensemble, a teacher that did not lift the student);
    # otherwise the stronger-teacher route ends here
    "base_seed0": replace(EMA60, model="resnext1d_base"),
    # its student: the default distilled from the fold's resnext1d_base (T 4, alpha 0.5). Rule
    # set before it ran: seeds 0 and 1 paired with the default's, mean gain > +0.15 pp and both
    # ahead
    **{f"kd_base_seed{s}": replace(EMA60, seed=s, teachers=fold_models("base_seed0"))
       for s in (0, 1)},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/cv"))
    ap.add_argument("--recipes", default="baseline,ema60,kd")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    summary_path = args.out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    for name in args.recipes.split(","):
        cfg = RECIPES[name]
        cfg = replace(cfg, teachers=tuple(t.replace("{cv}", str(args.out)) for t in cfg.teachers))
        t0 = time.perf_counter()
        res = cross_validate(cfg, args.folds, out=args.out / f"{name}.json",
                             save_models=args.out / name / "models",
                             log=lambda m, n=name: print(f"[{n}] {m}", flush=True))
        summary[name] = {k: res[k] for k in ("mean_accuracy", "sd_accuracy", "pooled_accuracy",
                                              "pooled_macro_f1")}
        summary[name]["per_fold"] = [round(r["accuracy"], 4) for r in res["folds"]]
        summary[name]["seconds"] = round(time.perf_counter() - t0)
        print(f"[{name}] mean {100 * res['mean_accuracy']:.2f} +- {100 * res['sd_accuracy']:.2f} %,"
              f" pooled {100 * res['pooled_accuracy']:.2f} %", flush=True)
        summary_path.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
