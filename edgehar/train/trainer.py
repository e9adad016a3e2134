"""Training: deterministic on CPU for a seed; the epoch is chosen on validation subjects only."""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.dataset import DataSpec, subject_key
from ..data.sources import WindowSet
from ..data.windows import cap_windows, load_dataset
from ..runtime.errors import EdgeharError
from ..runtime.files import write_json
from ..runtime.orientation import SETTLE_WINDOWS, UCI_VERTICAL, active_windows, vertical_of
from ..runtime.run_config import FineTune, Normalization, Orientation, RunConfig, Selection
from ..runtime.spec import LABELS
from .checkpoint import WEIGHTS, predict_logits
from .registry import DEFAULT_MODEL, ModelIO, create_model


@dataclass
class TrainConfig:
    model: str = DEFAULT_MODEL
    model_kwargs: dict = field(default_factory=dict)
    epochs: int = 40
    seed: int = 0
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    # Augmentation: per-window gain, small additive noise, and a random rotation of the
    # phone's axes (both sensors, same rotation) so the model does not learn one pocket pose.
    aug_gain: float = 0.1
    aug_noise: float = 0.01
    aug_rotate_deg: float = 15.0
    # Heading: a rotation about the training data's vertical, uniform in +-aug_yaw_deg. With
    # 180 the model does not depend on how the phone is turned about the body's vertical, so
    # `--orientation auto` only needs to find the vertical (runtime/orientation.py).
    aug_yaw_deg: float = 180.0
    # Mixup (Zhang et al. 2018): each window blended with another of the batch, weight ~
    # Beta(a, a) per window, the loss blended alike; 0 = off.
    mixup_alpha: float = 0.0
    # Time warp: each window played faster or slower by a factor uniform in 1 +- this (cadence
    # differs between people), about its centre, edge samples repeated where it runs out.
    aug_time_warp: float = 0.0
    # Time shift: each window moved later by a random 0..hop-1 samples, cut from it and the next
    # window of its recording (same label; they overlap by half, so the samples in between are
    # there). Over the epochs training sees every start between the grid's, not only the grid.
    aug_shift: bool = False
    # Weights: an exponential moving average of them (decay per step; 0 = off) is what is
    # scored and kept. Selection: "val_loss" keeps the epoch with the lowest validation loss;
    # "last" keeps the last epoch and trains on the validation subjects too (the recipe, epochs
    # included, is then chosen by subject-wise cross-validation: `edgehar cv`).
    ema: float = 0.0
    select: str = "val_loss"
    # Stochastic weight averaging (Izmailov et al. 2018): the last swa_epochs run at a constant
    # swa_lr (the one-cycle schedule fits in the epochs before) and the weights at the end of
    # each are averaged equally; BatchNorm statistics are then re-estimated. Instead of --ema.
    swa_epochs: int = 0
    swa_lr: float = 1e-3
    # Knowledge distillation from teachers (runs or bundles; their mean softened probabilities
    # on the same augmented batch): loss = (1 - a) CE + a T^2 KL.
    teachers: tuple[str, ...] = ()
    distill_alpha: float = 0.5
    distill_temp: float = 4.0
    data: DataSpec = field(default_factory=DataSpec)
    init: str | None = None          # fine-tune from this run or bundle (a new head if the labels differ)
    freeze: tuple[str, ...] = ()     # module prefixes kept fixed while fine-tuning (e.g. stem)
    max_windows: int | None = None   # cap per split, for tests and quick demos
    device: str = "cpu"              # determinism is promised on CPU only

    def recipe(self) -> dict:
        """The fields but ``data`` as JSON types: what a run config keeps as its recipe (the
        data spec is kept once, beside it)."""
        d = asdict(self)
        del d["data"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_run(cls, config: RunConfig) -> TrainConfig:
        """The recipe a run was trained with (fields it predates take their defaults)."""
        known = {k: v for k, v in (config.recipe or {}).items() if k in cls.__dataclass_fields__}
        for k in ("teachers", "freeze"):
            if k in known:
                known[k] = tuple(known[k])
        return cls(**known, data=config.data)


def default_recipe() -> TrainConfig:
    """The recipe `edgehar train`, `cv` and `pipeline` run unless told otherwise: 60 epochs, an
    exponential moving average of the weights (decay 0.999 after a (1 + n) / (10 + n) warm-up),
    and the last epoch kept, so the validation subjects train too. Fine-tuning keeps
    ``TrainConfig()``'s validation-chosen epoch instead. How it was chosen (5-fold subject-wise
    CV, ``python bench/cv_recipes.py``) is in docs/experiments/."""
    return TrainConfig(epochs=60, ema=0.999, select="last")


def seed_everything(seed: int, device: str = "cpu") -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    if device == "cpu":
        torch.use_deterministic_algorithms(True)


def _rotations(n: int, max_deg: float, gen: torch.Generator,
               axis: torch.Tensor | None = None) -> torch.Tensor:
    """n random rotation matrices about random axes (or the one ``axis``), angle uniform in
    [-max_deg, max_deg]."""
    if axis is None:
        axis = torch.randn(n, 3, generator=gen)
        axis = axis / axis.norm(dim=1, keepdim=True)
    else:
        axis = (axis / axis.norm()).expand(n, 3)
    theta = (torch.rand(n, generator=gen) * 2 - 1) * np.deg2rad(max_deg)
    k = torch.zeros(n, 3, 3)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(1, 2)
    eye = torch.eye(3).expand(n, 3, 3)
    s, c = torch.sin(theta)[:, None, None], torch.cos(theta)[:, None, None]
    return eye + s * k + (1 - c) * (k @ k)


def time_warp(xb: torch.Tensor, max_change: float, gen: torch.Generator) -> torch.Tensor:
    """(b, t, c) windows resampled at speed 1 +- max_change (uniform, per window) about their
    centre, linear interpolation; positions past an edge take the edge sample."""
    b, t, c = xb.shape
    speed = 1 + (torch.rand(b, 1, generator=gen) * 2 - 1) * max_change
    pos = ((torch.arange(t) - (t - 1) / 2) * speed + (t - 1) / 2).clamp(0, t - 1)
    lo = pos.floor().long().clamp(max=t - 2)
    frac = (pos - lo)[:, :, None]
    at = lambda i: torch.gather(xb, 1, i[:, :, None].expand(b, t, c))  # noqa: E731
    return at(lo) * (1 - frac) + at(lo + 1) * frac


def successors(ws: WindowSet) -> tuple[np.ndarray, np.ndarray]:
    """For each window, the index of the next overlapping window of its recording with the same
    label (-1: none, or the start is unknown) and how many samples later it starts."""
    nxt, gap = np.full(len(ws.y), -1, np.int64), np.zeros(len(ws.y), np.int64)
    known = np.flatnonzero((ws.start >= 0) & (ws.experiment >= 0))
    order = known[np.lexsort((ws.start[known], ws.experiment[known], ws.subject[known]))]
    a, b = order[:-1], order[1:]
    g = ws.start[b] - ws.start[a]
    ok = ((ws.subject[a] == ws.subject[b]) & (ws.experiment[a] == ws.experiment[b])
          & (ws.y[a] == ws.y[b]) & (g > 0) & (g < ws.x.shape[1]))
    nxt[a[ok]], gap[a[ok]] = b[ok], g[ok]
    return nxt, gap


def shift_windows(x: torch.Tensor, idx: torch.Tensor, nxt: np.ndarray, gap: np.ndarray,
                  rng: np.random.Generator) -> torch.Tensor:
    """Windows ``idx`` of ``x``, each started a random 0..gap-1 samples later: its own samples
    from there on, then the next window's (see ``successors``)."""
    i = idx.numpy()
    j, g = nxt[i], gap[i]
    d = np.where(j >= 0, np.floor(rng.random(len(i)) * np.maximum(g, 1)), 0).astype(np.int64)
    t = x.shape[1]
    pos = d[:, None] + np.arange(t)                        # positions in the window's own frame
    own = x[torch.from_numpy(i[:, None]), torch.from_numpy(np.minimum(pos, t - 1))]
    later = x[torch.from_numpy(np.maximum(j, 0)[:, None]),
              torch.from_numpy(np.clip(pos - g[:, None], 0, t - 1))]
    return torch.where(torch.from_numpy(pos < t)[:, :, None], own, later)


def normalize(xb: torch.Tensor, norm: Normalization) -> torch.Tensor:
    return (xb - torch.tensor(norm.mean)) / torch.tensor(norm.std)


def augment(xb: torch.Tensor, cfg: TrainConfig, norm: Normalization, gen: torch.Generator,
            vertical: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment raw-unit windows (b, t, 9); rotation acts on each xyz triple. Returns them (what
    teachers see, each through its own normalization) and the student's input: normalized,
    with noise in those units."""
    b = xb.shape[0]
    if cfg.aug_yaw_deg > 0 and vertical is not None:
        rot = _rotations(b, cfg.aug_yaw_deg, gen, vertical)
        xb = torch.cat([xb[:, :, i:i + 3] @ rot.transpose(1, 2) for i in (0, 3, 6)], dim=2)
    if cfg.aug_rotate_deg > 0:
        rot = _rotations(b, cfg.aug_rotate_deg, gen)
        xb = torch.cat([xb[:, :, i:i + 3] @ rot.transpose(1, 2) for i in (0, 3, 6)], dim=2)
    if cfg.aug_gain > 0:
        xb = xb * (1 + cfg.aug_gain * (2 * torch.rand(b, 1, 1, generator=gen) - 1))
    if cfg.aug_time_warp > 0:
        xb = time_warp(xb, cfg.aug_time_warp, gen)
    raw = xb
    xb = normalize(raw, norm)
    if cfg.aug_noise > 0:
        xb = xb + cfg.aug_noise * torch.randn(xb.shape, generator=gen)
    return raw, xb


def _initial_model(cfg: TrainConfig, classes: tuple[str, ...], window: int, channels: int):
    """A fresh model, or (fine-tuning) the weights of ``cfg.init`` with a new head when its
    label set differs; returns the model, its normalization (None: fit one), what it was
    fine-tuned from (None: nothing) and that model's vertical (None: not fine-tuning)."""
    io = ModelIO(window, channels, len(classes))
    if cfg.init is None:
        return create_model(cfg.model, io, **cfg.model_kwargs), None, None, None
    from .checkpoint import build_from_config, load_run
    from .input_clips import unfold_input_clips

    base, norm, base_cfg = load_run(Path(cfg.init))
    # a bundle's export folded its input clips in: train on the plain standardization (the
    # augmentation's noise is in its units), and let the next export choose clips afresh
    base, norm = unfold_input_clips(base, norm)
    base_labels = base_cfg.labels
    config = {**base_cfg.model_config, "num_classes": len(classes), "window": window}
    model = build_from_config(config)
    same_head = base_labels == tuple(classes)
    # the trunk carries over; the classifier starts afresh when the labels differ (even with
    # as many classes). Whatever the model calls it, the head is the tensors whose shape
    # follows the class count.
    state = base.state_dict()
    if not same_head:
        wider = build_from_config({**config, "num_classes": len(classes) + 1}).state_dict()
        head = {k for k, v in model.state_dict().items() if wider[k].shape != v.shape}
        state = {k: v for k, v in state.items() if k not in head}
    model.load_state_dict(state, strict=same_head)
    frozen = [n for n, _ in model.named_parameters() if n.startswith(tuple(cfg.freeze))]
    unknown = [f for f in cfg.freeze if not any(n.startswith(f) for n in frozen)]
    if unknown:
        names = ", ".join(n for n, _ in model.named_children())
        raise EdgeharError(None, f"--freeze names no module of the model: {', '.join(unknown)} "
                                 f"(its modules: {names}; deeper ones as stages.0)")
    for n, p in model.named_parameters():
        p.requires_grad = n not in frozen
    # an init that states no vertical is replayed with the UCI-HAR one (runtime.engine)
    vertical = base_cfg.orientation.vertical if base_cfg.orientation else UCI_VERTICAL
    return model, norm, FineTune(str(cfg.init), base_cfg.model, "kept" if same_head else "new",
                                 tuple(cfg.freeze)), vertical


# Fine-tuning keeps the initial model's vertical unless the new training windows hold at least
# this many active ones (runtime/orientation.py: the wearer moves). The runtime trusts a
# stream's vertical after SETTLE_WINDOWS (8, ~10 s) of sustained walking; a training frame is
# kept for good, and single training windows are not checked for being sustained (a fidget or
# a sit-to-stand counts as active too), so four times that: 32 windows, ~40 s of walking.
MIN_ACTIVE_FOR_VERTICAL = 4 * SETTLE_WINDOWS


def training_vertical(x: np.ndarray, init_vertical=None) -> tuple[np.ndarray, str, int]:
    """The training frame's up (heading augmentation, ``--orientation auto``): the mean gravity
    over the active windows of ``x``; when fine-tuning, ``init_vertical`` (kept as stored)
    unless ``x`` has enough walking to measure it. Returns it, where it came from
    (``Orientation.vertical_from``) and the active windows of ``x``."""
    active = int(active_windows(x).sum())
    if init_vertical is not None and active < MIN_ACTIVE_FOR_VERTICAL:
        return np.asarray(init_vertical, float), "init", active
    return vertical_of(x), "training data", active


def _train_mode(model: nn.Module, freeze: tuple[str, ...]) -> None:
    """train(), but frozen modules stay in eval mode (their BatchNorm statistics fixed too)."""
    model.train()
    for name, mod in model.named_modules():
        if name and name.startswith(tuple(freeze)):
            mod.eval()


class Teachers:
    """Trained models whose mean softened probabilities a student learns from."""

    def __init__(self, paths: tuple[str, ...], classes: tuple[str, ...]):
        from .checkpoint import load_run

        self.members = []
        for p in paths:
            model, norm, config = load_run(Path(p))
            if config.labels != tuple(classes):
                raise EdgeharError(p, "the teacher's labels differ from the student's")
            self.members.append((model.eval(), norm))

    @staticmethod
    def check_unseen(paths: tuple[str, ...], test_subjects: list) -> None:
        """A teacher that trained on the student's test subjects would leak them."""
        from .checkpoint import run_config

        for p in paths:
            subjects = run_config(Path(p)).subjects or {}
            if "test" not in subjects:
                raise EdgeharError(p, "the teacher does not say which subjects it trained on "
                                      "(a cross-validation fold model teaches in `edgehar cv` "
                                      "only)")
            seen = set(map(str, subjects.get("train", []))) | set(map(str, subjects.get("val", [])))
            leaked = sorted(seen & set(map(str, test_subjects)))
            if leaked:
                raise EdgeharError(p, f"the teacher trained on the student's test subject(s) "
                                      f"{', '.join(leaked)}")

    @torch.no_grad()
    def soft(self, raw: torch.Tensor, temp: float) -> torch.Tensor:
        probs = [torch.softmax(m(normalize(raw, norm).float()) / temp, 1)
                 for m, norm in self.members]
        return torch.stack(probs).mean(0)


def check_config(cfg: TrainConfig) -> None:
    """The recipe's own consistency, before any data is read or any model built."""
    if cfg.freeze and cfg.init is None:
        raise EdgeharError(None, "--freeze applies when fine-tuning: give --init RUN_OR_BUNDLE")
    if not (cfg.lr > 0 and np.isfinite(cfg.lr)):
        raise EdgeharError(None, f"--lr must be a positive number, got {cfg.lr}")
    if cfg.select not in SELECTIONS:
        raise EdgeharError(None, f"--select must be one of {', '.join(SELECTIONS)}")
    if not 0 <= cfg.ema < 1:
        raise EdgeharError(None, f"--ema is a decay in [0, 1), got {cfg.ema}")
    if cfg.epochs < 1:
        raise EdgeharError(None, "--epochs must be >= 1")
    if not 0 <= cfg.swa_epochs < cfg.epochs:
        raise EdgeharError(None, f"swa_epochs must be in [0, epochs), got {cfg.swa_epochs}")
    if cfg.swa_epochs and (cfg.ema > 0 or cfg.select != "last"):
        raise EdgeharError(None, "weight averaging (swa_epochs) replaces --ema and keeps the "
                                 "average: use it with --ema 0 --select last")
    if not 0 <= cfg.aug_time_warp < 1:
        raise EdgeharError(None, f"aug_time_warp is a relative speed change in [0, 1), got "
                                 f"{cfg.aug_time_warp}")
    if not (cfg.mixup_alpha >= 0 and np.isfinite(cfg.mixup_alpha)):
        raise EdgeharError(None, f"mixup_alpha must be >= 0 (0: off), got {cfg.mixup_alpha}")


SELECTIONS = ("val_loss", "last")


def _ema_update(decay: float):
    """torch's EMA update with TensorFlow's warm-up of the decay, min(decay, (1 + n) / (10 + n))
    after n updates: without it a short run (a 3-epoch demo) would keep mostly its first
    steps' weights (0.999 ** 400 = 0.67)."""

    @torch.no_grad()
    def update(averaged: list, current: list, n_averaged: torch.Tensor) -> None:
        n = float(n_averaged)
        d = min(decay, (1 + n) / (10 + n))
        if torch.is_floating_point(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1 - d)
        else:   # BatchNorm's batch counter
            for a, c in zip(averaged, current, strict=True):
                a.copy_(a * d + c * (1 - d))

    return update


def _mixup_draw(n: int, alpha: float, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window blend weights ~ Beta(alpha, alpha), folded to >= 0.5 so each window keeps its
    own label as the larger part, and the partner of each (a permutation of the batch)."""
    lam = rng.beta(alpha, alpha, n)
    lam = np.maximum(lam, 1 - lam)
    return torch.from_numpy(lam).float(), torch.from_numpy(rng.permutation(n))


def _blend(x: torch.Tensor, lam: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    w = lam[:, None, None]
    return w * x + (1 - w) * x[other]


@dataclass
class Fit:
    """What one training loop produced."""

    model: nn.Module
    norm: Normalization
    vertical: np.ndarray
    history: list[dict]
    best_epoch: int
    fine_tune: FineTune | None
    seconds: float
    vertical_from: str = "training data"   # or "init" (see training_vertical)
    active_windows: int | None = None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def epoch_line(row: dict, epochs: int, seconds: float) -> str:
    """One epoch's progress line: its loss and accuracy (and validation's), and the time left
    at the mean pace so far (``seconds``: since the first epoch began)."""
    epoch = row["epoch"]
    val = (f", val loss {row['val_loss']:.3f} acc {100 * row['val_acc']:.1f}%"
           if "val_acc" in row else "")
    left = seconds / epoch * (epochs - epoch)
    return (f"epoch {epoch:>{len(str(epochs))}}/{epochs}: loss {row['train_loss']:.3f} "
            f"acc {100 * row['train_acc']:.1f}%{val}, {_duration(seconds / epoch)}/epoch, "
            f"{_duration(left)} left")


def _progress_out(progress: bool):
    """Where the epoch lines go: stderr when it is a terminal (a person watches), else nowhere
    (scripts and logs get the result line only)."""
    try:
        return sys.stderr if progress and sys.stderr.isatty() else None
    except (AttributeError, ValueError):
        return None


def fit(cfg: TrainConfig, tr: WindowSet, va: WindowSet | None, classes: tuple[str, ...],
        progress: bool = True) -> Fit:
    """The training loop: ``va`` (None: no validation) is scored each epoch and, with
    ``select="val_loss"``, chooses the epoch. ``progress``: one line per epoch on stderr when
    it is a terminal."""
    from torch.optim.swa_utils import AveragedModel

    check_config(cfg)
    seed_everything(cfg.seed, cfg.device)
    model, norm, fine_tune, init_vertical = _initial_model(cfg, classes, tr.x.shape[1],
                                                           tr.x.shape[2])
    model = model.to(cfg.device)
    norm = norm or Normalization.fit(tr.x)
    vertical, vertical_from, active = training_vertical(tr.x, init_vertical)
    vertical_t = torch.from_numpy(vertical).float()
    teachers = Teachers(cfg.teachers, classes) if cfg.teachers else None
    # the average keeps BatchNorm's buffers too (use_buffers), so it is a complete model
    ema = AveragedModel(model, multi_avg_fn=_ema_update(cfg.ema), use_buffers=True) \
        if cfg.ema > 0 else None
    scored = ema.module if ema is not None else model

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    swa_from = cfg.epochs - cfg.swa_epochs   # the epochs after this one are averaged
    swa = AveragedModel(model) if cfg.swa_epochs else None
    steps = swa_from * int(np.ceil(len(tr.y) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=max(steps, 1))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    loss_each = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing, reduction="none")
    gen = torch.Generator().manual_seed(cfg.seed)
    # its own stream: the other augmentations draw the same numbers with mixup on or off
    mix_rng = np.random.default_rng([cfg.seed, 1])
    shift_rng = np.random.default_rng([cfg.seed, 2])
    nxt, gap = successors(tr) if cfg.aug_shift else (None, None)
    x_tr, y_tr = torch.from_numpy(tr.x), torch.from_numpy(tr.y)
    x_val = norm.apply(va.x) if va is not None and len(va.y) else None

    history, best, best_state = [], None, None
    out = _progress_out(progress)
    if out is not None:
        print(f"training {cfg.model} on {len(y_tr):,} windows, {cfg.epochs} epochs", file=out,
              flush=True)
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        _train_mode(model, cfg.freeze)
        if epoch > swa_from:
            for group in opt.param_groups:
                group["lr"] = cfg.swa_lr
        order = torch.randperm(len(y_tr), generator=gen)
        tot_loss, correct = 0.0, 0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if len(idx) < 2:
                continue  # BatchNorm needs two samples
            xr = shift_windows(x_tr, idx, nxt, gap, shift_rng) if cfg.aug_shift else x_tr[idx]
            raw, xb = augment(xr, cfg, norm, gen, vertical_t)
            yb = y_tr[idx].to(cfg.device)
            if cfg.mixup_alpha > 0:
                lam, other = _mixup_draw(len(idx), cfg.mixup_alpha, mix_rng)
                raw, xb = _blend(raw, lam, other), _blend(xb, lam, other)
            logits = model(xb.to(cfg.device))
            if cfg.mixup_alpha > 0:
                lam_d = lam.to(cfg.device)
                loss = (lam_d * loss_each(logits, yb)
                        + (1 - lam_d) * loss_each(logits, yb[other])).mean()
            else:
                loss = loss_fn(logits, yb)
            if teachers is not None:
                t = cfg.distill_temp
                soft = teachers.soft(raw, t).to(cfg.device)
                kl = nn.functional.kl_div(torch.log_softmax(logits / t, 1), soft,
                                          reduction="batchmean")
                loss = (1 - cfg.distill_alpha) * loss + cfg.distill_alpha * t * t * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if epoch <= swa_from:
                sched.step()
            if ema is not None:
                ema.update_parameters(model)
            tot_loss += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        row = {"epoch": epoch, "train_loss": tot_loss / len(y_tr),
               "train_acc": correct / len(y_tr), "lr": opt.param_groups[0]["lr"]}
        if epoch > swa_from:
            swa.update_parameters(model)
        if x_val is not None:
            val_logits = predict_logits(scored, x_val)
            row["val_loss"] = float(loss_fn(torch.from_numpy(val_logits), torch.from_numpy(va.y)))
            row["val_acc"] = float((val_logits.argmax(1) == va.y).mean())
        history.append(row)
        # Validation loss, not accuracy: with 4 easy validation subjects accuracy jumps between
        # epochs by a point or more, while the loss tracks generalization smoothly.
        key = (-row["val_loss"], row["val_acc"]) if cfg.select == "val_loss" else (epoch,)
        if best is None or key >= best[0]:
            best = (key, epoch)
            best_state = copy.deepcopy(scored.state_dict())
        if out is not None:
            print(epoch_line(row, cfg.epochs, time.perf_counter() - t0), file=out, flush=True)
    if swa is not None:   # the average's BatchNorm statistics, on batches as training saw them
        from torch.optim.swa_utils import update_bn

        order = torch.randperm(len(y_tr), generator=gen)
        update_bn((augment(x_tr[order[i:i + cfg.batch_size]], cfg, norm, gen, vertical_t)[1]
                   .to(cfg.device) for i in range(0, len(order), cfg.batch_size)), swa.module)
        scored, best_state = swa.module, copy.deepcopy(swa.module.state_dict())
    seconds = time.perf_counter() - t0
    scored = scored.cpu()
    scored.load_state_dict({k: v.cpu() for k, v in best_state.items()})
    return Fit(scored.eval(), norm, vertical, history, best[1], fine_tune, seconds,
               vertical_from, active)


def run_config_of(cfg: TrainConfig, result: Fit, classes: tuple[str, ...], data: DataSpec,
                  **facts) -> RunConfig:
    """What every saved model's config carries (a run's, a cross-validation fold's): how to
    rebuild it, its normalization, its orientation, its window contract (from ``data``: the
    window grid its windows were cut on) and the data; ``facts``: further RunConfig fields."""
    from .checkpoint import model_config_of

    return RunConfig(
        model=result.fine_tune.init_model if result.fine_tune else cfg.model,
        model_config=model_config_of(result.model), normalization=result.norm,
        spec=data.window_spec(classes), data=data,
        orientation=Orientation(tuple(round(float(v), 6) for v in result.vertical),
                                heading_invariant=cfg.aug_yaw_deg >= 180,
                                vertical_from=result.vertical_from,
                                active_windows=result.active_windows),
        recipe=cfg.recipe(), fine_tune=result.fine_tune, **facts)


def train(cfg: TrainConfig, out: Path, splits: dict[str, WindowSet] | None = None,
          progress: bool = True, classes: tuple[str, ...] | None = None) -> dict:
    """Train, keep the chosen weights (see ``TrainConfig.select``), write RUN_DIR; returns the
    test metrics.

    The data comes from ``cfg.data`` (loaded before RUN_DIR is created, so a bad dataset leaves
    nothing behind), or from ``splits`` with ``classes`` (tests)."""
    from ..data.windows import concat, subset
    from .evaluate import write_evaluation

    data_spec = cfg.data
    if splits is None:
        ds = load_dataset(cfg.data)
        splits, classes = ds.splits, ds.classes
        data_spec = replace(cfg.data, classes=ds.classes, test_subjects=tuple(ds.subjects["test"]),
                            val_subjects=tuple(ds.subjects["val"]))
    classes = tuple(classes or LABELS)
    if splits["train"].x.shape[1] != data_spec.window:
        raise EdgeharError(None, f"the windows are {splits['train'].x.shape[1]} samples long, "
                                 f"the data spec says {data_spec.window}")
    out = Path(out)
    splits = {k: cap_windows(v, cfg.max_windows, cfg.seed) for k, v in splits.items()}
    for name in ("train", "val", "test"):
        if not len(splits[name].y) and not (name == "val" and cfg.select == "last"):
            raise EdgeharError(cfg.data.source, f"the {name} split has no window")
    if cfg.teachers:
        Teachers.check_unseen(cfg.teachers, sorted(set(splits["test"].subject.tolist())))
    if cfg.select == "last":   # nothing is chosen on validation: its subjects train too
        val = splits["val"]
        splits = {**splits, "train": concat([splits["train"], val]),
                  "val": subset(val, np.zeros(len(val.y), bool))}
    result = fit(cfg, splits["train"], splits["val"] if cfg.select == "val_loss" else None,
                 classes, progress)
    out.mkdir(parents=True, exist_ok=True)
    model = result.model
    torch.save(model.state_dict(), out / WEIGHTS)
    criterion = ("lowest validation loss (val subjects only)" if cfg.select == "val_loss" else
                 "last epoch; validation subjects trained on (recipe chosen by subject-wise "
                 "cross-validation)")
    run_config_of(
        cfg, result, classes, data_spec, trained_on_val=cfg.select == "last",
        subjects={k: sorted(set(v.subject.tolist()), key=subject_key) for k, v in splits.items()},
        windows={k: int(len(v.y)) for k, v in splits.items()},
        selection=Selection(criterion, result.best_epoch, cfg.epochs),
        train_seconds=round(result.seconds, 1), torch=torch.__version__).write(out)
    write_json(out / "history.json", result.history)
    from .plots import plot_curves

    plot_curves(result.history, result.best_epoch, out / "curves.png",
                f"{cfg.model} (seed {cfg.seed}): "
                + ("chosen on validation subjects" if cfg.select == "val_loss" else "last epoch"))
    return write_evaluation(out, model, result.norm, splits["test"], split_name="test",
                            name=cfg.model, labels=classes)
