"""Training: deterministic on CPU for a seed; the epoch is chosen on validation subjects only."""

from __future__ import annotations

import copy
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
from ..runtime.manifest import Normalization
from ..runtime.orientation import vertical_of
from ..runtime.spec import LABELS, WindowSpec
from .checkpoint import WEIGHTS, predict_logits
from .registry import DEFAULT_MODEL, create_model


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
    data: DataSpec = field(default_factory=DataSpec)
    init: str | None = None          # fine-tune from this run or bundle (a new head if the labels differ)
    freeze: tuple[str, ...] = ()     # module prefixes kept fixed while fine-tuning (e.g. stem)
    max_windows: int | None = None   # cap per split, for tests and quick demos
    device: str = "cpu"              # determinism is promised on CPU only


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


def augment(xb: torch.Tensor, cfg: TrainConfig, norm: Normalization, gen: torch.Generator,
            vertical: torch.Tensor | None = None) -> torch.Tensor:
    """Augment raw-unit windows (b, t, 9), then normalize. Rotation acts on each xyz triple."""
    b = xb.shape[0]
    if cfg.aug_yaw_deg > 0 and vertical is not None:
        rot = _rotations(b, cfg.aug_yaw_deg, gen, vertical)
        xb = torch.cat([xb[:, :, i:i + 3] @ rot.transpose(1, 2) for i in (0, 3, 6)], dim=2)
    if cfg.aug_rotate_deg > 0:
        rot = _rotations(b, cfg.aug_rotate_deg, gen)
        xb = torch.cat([xb[:, :, i:i + 3] @ rot.transpose(1, 2) for i in (0, 3, 6)], dim=2)
    if cfg.aug_gain > 0:
        xb = xb * (1 + cfg.aug_gain * (2 * torch.rand(b, 1, 1, generator=gen) - 1))
    mean = torch.tensor(norm.mean)
    std = torch.tensor(norm.std)
    xb = (xb - mean) / std
    if cfg.aug_noise > 0:
        xb = xb + cfg.aug_noise * torch.randn(xb.shape, generator=gen)
    return xb


def _initial_model(cfg: TrainConfig, classes: tuple[str, ...]):
    """A fresh registered model, or (fine-tuning) the weights of ``cfg.init`` with a new head when
    its label set differs; returns the model, its normalization (None: fit one) and notes."""
    if cfg.init is None:
        return create_model(cfg.model, num_classes=len(classes), **cfg.model_kwargs), None, {}
    from ..quantize.input_scaling import unfold_input_clips
    from .checkpoint import load_run
    from .models import HarResNeXt, ResNeXtConfig

    base, norm, base_cfg = load_run(Path(cfg.init))
    # a bundle's export folded its input clips in: train on the plain standardization (the
    # augmentation's noise is in its units), and let the next export choose clips afresh
    base, norm = unfold_input_clips(base, norm)
    base_labels = tuple(base_cfg["window_spec"]["labels"])
    model = HarResNeXt(ResNeXtConfig.from_dict({**base_cfg["model_config"],
                                                "num_classes": len(classes)}))
    state = base.state_dict()
    same_head = base_labels == tuple(classes)
    if not same_head:   # the trunk carries over, the classifier starts afresh
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    model.load_state_dict(state, strict=same_head)
    frozen = [n for n, _ in model.named_parameters() if n.startswith(tuple(cfg.freeze))]
    unknown = [f for f in cfg.freeze if not any(n.startswith(f) for n in frozen)]
    if unknown:
        raise EdgeharError(None, f"--freeze names no module of the model: {', '.join(unknown)} "
                                 "(e.g. stem, stages.0, stages.1)")
    for n, p in model.named_parameters():
        p.requires_grad = n not in frozen
    return model, norm, {"init": str(cfg.init), "init_model": base_cfg["model"],
                         "head": "kept" if same_head else "new", "frozen": list(cfg.freeze)}


def _train_mode(model: nn.Module, freeze: tuple[str, ...]) -> None:
    """train(), but frozen modules stay in eval mode (their BatchNorm statistics fixed too)."""
    model.train()
    for name, mod in model.named_modules():
        if name and name.startswith(tuple(freeze)):
            mod.eval()


def train(cfg: TrainConfig, out: Path, splits: dict[str, WindowSet] | None = None,
          progress: bool = True, classes: tuple[str, ...] | None = None) -> dict:
    """Train, pick the epoch with the best validation loss, write RUN_DIR; returns metrics.

    The data comes from ``cfg.data`` (loaded before RUN_DIR is created, so a bad dataset leaves
    nothing behind), or from ``splits`` with ``classes`` (tests)."""
    from tqdm import tqdm

    from .evaluate import write_evaluation

    data_spec = cfg.data
    if splits is None:
        ds = load_dataset(cfg.data)
        splits, classes = ds.splits, ds.classes
        data_spec = replace(cfg.data, classes=ds.classes, test_subjects=tuple(ds.subjects["test"]),
                            val_subjects=tuple(ds.subjects["val"]))
    classes = tuple(classes or LABELS)
    out = Path(out)
    seed_everything(cfg.seed, cfg.device)
    splits = {k: cap_windows(v, cfg.max_windows, cfg.seed) for k, v in splits.items()}
    tr, va = splits["train"], splits["val"]
    for name in ("train", "val", "test"):
        if not len(splits[name].y):
            raise EdgeharError(cfg.data.source, f"the {name} split has no window")
    if cfg.freeze and cfg.init is None:
        raise EdgeharError(None, "--freeze applies when fine-tuning: give --init RUN_OR_BUNDLE")
    if not (cfg.lr > 0 and np.isfinite(cfg.lr)):
        raise EdgeharError(None, f"--lr must be a positive number, got {cfg.lr}")
    model, norm, init_notes = _initial_model(cfg, classes)
    model = model.to(cfg.device)
    norm = norm or Normalization.fit(tr.x)
    vertical = vertical_of(tr.x)   # the training frame's up, for heading augmentation and auto
    x_val = norm.apply(va.x)
    out.mkdir(parents=True, exist_ok=True)

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * int(np.ceil(len(tr.y) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=max(steps, 1))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    gen = torch.Generator().manual_seed(cfg.seed)
    x_tr, y_tr = torch.from_numpy(tr.x), torch.from_numpy(tr.y)

    history, best, best_state = [], None, None
    # progress=True: a bar when stderr is a terminal (tqdm's disable=None), none in scripts
    bar = tqdm(range(1, cfg.epochs + 1), desc=cfg.model, disable=None if progress else True,
               unit="ep")
    t0 = time.perf_counter()
    for epoch in bar:
        _train_mode(model, cfg.freeze)
        order = torch.randperm(len(y_tr), generator=gen)
        tot_loss, correct = 0.0, 0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if len(idx) < 2:
                continue  # BatchNorm needs two samples
            xb = augment(x_tr[idx], cfg, norm, gen, torch.from_numpy(vertical).float()
                         ).to(cfg.device)
            yb = y_tr[idx].to(cfg.device)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        val_logits = predict_logits(model, x_val)
        val_loss = float(loss_fn(torch.from_numpy(val_logits), torch.from_numpy(va.y)))
        val_acc = float((val_logits.argmax(1) == va.y).mean())
        history.append({"epoch": epoch, "train_loss": tot_loss / len(y_tr),
                        "train_acc": correct / len(y_tr), "val_loss": val_loss,
                        "val_acc": val_acc, "lr": sched.get_last_lr()[0]})
        # Validation loss, not accuracy: with 4 easy validation subjects accuracy jumps between
        # epochs by a point or more, while the loss tracks generalization smoothly.
        key = (-val_loss, val_acc)
        if best is None or key >= best[0]:
            best = (key, epoch)
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{tot_loss / len(y_tr):.3f}", val_acc=f"{100 * val_acc:.2f}%",
                        best=f"ep{best[1]}")
    train_seconds = time.perf_counter() - t0

    model = model.cpu()
    best_state = {k: v.cpu() for k, v in best_state.items()}
    model.load_state_dict(best_state)
    torch.save(best_state, out / WEIGHTS)
    train_cfg = asdict(cfg)
    train_cfg["data"] = data_spec.to_dict()
    config = {
        "model": init_notes.get("init_model", cfg.model),
        "model_config": model.cfg.to_dict(),
        "train": train_cfg,
        "normalization": norm.to_dict(),
        "orientation": {"vertical": [round(float(v), 6) for v in vertical],
                        "heading_invariant": cfg.aug_yaw_deg >= 180},
        "window_spec": WindowSpec(labels=classes).to_dict(),
        "data": {"source": cfg.data.source, "spec": data_spec.to_dict(),
                 "subjects": {k: sorted(set(v.subject.tolist()), key=subject_key)
                              for k, v in splits.items()},
                 "windows": {k: int(len(v.y)) for k, v in splits.items()}},
        "selection": {"criterion": "lowest validation loss (val subjects only)",
                      "best_epoch": best[1], "epochs_run": cfg.epochs},
        "fine_tune": init_notes or None,
        "train_seconds": round(train_seconds, 1),
        "torch": torch.__version__,
    }
    write_json(out / "config.json", config)
    write_json(out / "history.json", history)
    from .plots import plot_curves

    plot_curves(history, best[1], out / "curves.png",
                f"{cfg.model} (seed {cfg.seed}): chosen on validation subjects")
    return write_evaluation(out, model, norm, splits["test"], split_name="test", name=cfg.model,
                            labels=classes)
