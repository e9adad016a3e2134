"""Subject-wise k-fold cross-validation on the training subjects: how recipes and
hyper-parameters are chosen. Validation on four fixed subjects saturates (99.4 % after three
epochs), so choices made on it are close to random; k folds score every training subject once.

The test subjects never enter a fold: they choose nothing. Each fold keeps its last epoch (the
held-out subjects score, they never choose), as the recipe trained on every training subject
does. Distillation is cross-validated with teachers trained on the same fold (a teacher path
with ``{fold}``), or it would leak.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..data.dataset import subject_key
from ..data.sources import WindowSet
from ..data.windows import cap_windows, concat, load_dataset, subset
from ..runtime.errors import EdgeharError
from ..runtime.files import check_output_file, write_json
from ..runtime.run_config import CvFold, RunConfig
from .trainer import TrainConfig, fit, run_config_of


def folds_of(subjects: list, k: int, seed: int = 0) -> list[tuple]:
    """``k`` disjoint groups of subjects, as even as possible, from a seeded permutation."""
    if not 2 <= k <= len(subjects):
        raise EdgeharError(None, f"--folds must be in 2..{len(subjects)} (one subject per fold "
                                 f"at least), got {k}")
    order = np.random.default_rng(seed).permutation(len(subjects))
    return [tuple(sorted((subjects[i] for i in order[f::k]), key=subject_key))
            for f in range(k)]


def _fold_teachers(paths: tuple[str, ...], i: int, held: tuple) -> tuple[str, ...]:
    """Fold ``i``'s teachers, each checked to be a fold model that held out these subjects
    (one from another k, fold seed or data would have seen them)."""
    out = []
    for template in paths:
        try:
            path = Path(template.format(fold=i))
        except (KeyError, IndexError, ValueError):
            raise EdgeharError(template, "a teacher path takes {fold} and no other braces"
                               ) from None
        try:
            fold = RunConfig.read(path).cv_fold
        except EdgeharError:
            fold = None
        if fold is None:
            raise EdgeharError(path, "not a fold model of `edgehar cv` (saved with its models)")
        if list(map(str, fold.held_out)) != list(map(str, held)):
            raise EdgeharError(path, f"this teacher held out {list(fold.held_out)}, fold {i} "
                                     f"holds out {list(held)}: it would leak")
        out.append(str(path))
    return tuple(out)


def cross_validate(cfg: TrainConfig, k: int = 5, fold_seed: int = 0,
                   out: Path | None = None, save_models: Path | None = None, log=print) -> dict:
    """Train ``cfg`` once per fold (its training subjects minus the fold), score the fold's
    subjects with the weights the recipe keeps; returns per-fold and pooled figures.
    ``save_models``: each fold's model as a run ``save_models/fold{i}`` (a fold's teacher)."""
    import torch

    from ..runtime.metrics import classification_report
    from .checkpoint import WEIGHTS, predict_logits

    if cfg.select != "last":
        raise EdgeharError(None, "cross-validation keeps each fold's last epoch (--select "
                                 "last): the held-out subjects score, they never choose")
    leaky = [t for t in cfg.teachers if "{fold}" not in t]
    if leaky:
        raise EdgeharError(leaky[0], "a teacher in cross-validation must be the fold's own "
                                     "(a path with {fold}); one trained on every subject leaks")
    check_output_file(out, "--json")

    ds = load_dataset(cfg.data)
    pool: WindowSet = concat([ds.splits["train"], ds.splits["val"]])   # never the test split
    pool = cap_windows(pool, cfg.max_windows, cfg.seed)
    subjects = sorted(set(pool.subject.tolist()), key=subject_key)
    folds = folds_of(subjects, k, fold_seed)
    teachers = [_fold_teachers(cfg.teachers, i, held) for i, held in enumerate(folds)]
    rows, y_all, p_all = [], [], []
    for i, held in enumerate(folds):
        mask = np.isin(pool.subject, list(held))
        tr, va = subset(pool, ~mask), subset(pool, mask)
        result = fit(replace(cfg, teachers=teachers[i]), tr, None, ds.classes, progress=False)
        if save_models is not None:
            run = Path(save_models) / f"fold{i}"
            run.mkdir(parents=True, exist_ok=True)
            torch.save(result.model.state_dict(), run / WEIGHTS)
            # a fold trains on the validation subjects of the split too: never scored there
            run_config_of(cfg, result, ds.classes, cfg.data, trained_on_val=True,
                          cv_fold=CvFold(i, tuple(held), k, fold_seed)).write(run)
        pred = predict_logits(result.model, result.norm.apply(va.x)).argmax(1)
        rep = classification_report(va.y, pred, ds.classes)
        rows.append({"fold": i, "subjects": list(held), "windows": int(len(va.y)),
                     "accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"],
                     "train_seconds": round(result.seconds, 1)})
        y_all.append(va.y)
        p_all.append(pred)
        log(f"fold {i + 1}/{k} (subjects {','.join(map(str, held))}): "
            f"{100 * rep['accuracy']:.2f}%")
    acc = np.array([r["accuracy"] for r in rows])
    pooled = classification_report(np.concatenate(y_all), np.concatenate(p_all), ds.classes)
    train_cfg = {**cfg.recipe(), "data": cfg.data.to_dict()}
    result = {"folds": rows, "k": k, "fold_seed": fold_seed,
              "mean_accuracy": float(acc.mean()), "sd_accuracy": float(acc.std(ddof=1)),
              "pooled_accuracy": pooled["accuracy"], "pooled_macro_f1": pooled["macro_f1"],
              "train": train_cfg,
              "note": "training subjects only; the test subjects are not used"}
    if out is not None:
        write_json(Path(out), result)
    return result
