"""Training: deterministic on CPU for a seed; the epoch is chosen on validation subjects only."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.sources import WindowSet
from ..data.windows import SPLITS, cap_windows, load_splits
from ..runtime.files import write_json
from ..runtime.manifest import Normalization
from ..runtime.orientation import vertical_of
from ..runtime.spec import WindowSpec
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
    source: str = "package"
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


def train(cfg: TrainConfig, out: Path, splits: dict[str, WindowSet] | None = None,
          progress: bool = True) -> dict:
    """Train, pick the epoch with the best validation accuracy, write RUN_DIR; returns metrics."""
    from tqdm import tqdm

    from .evaluate import write_evaluation

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed, cfg.device)
    splits = splits or load_splits(cfg.source)
    splits = {k: cap_windows(v, cfg.max_windows, cfg.seed) for k, v in splits.items()}
    tr, va = splits["train"], splits["val"]
    norm = Normalization.fit(tr.x)
    vertical = vertical_of(tr.x)   # the training frame's up, for heading augmentation and auto
    x_val = norm.apply(va.x)

    model = create_model(cfg.model, **cfg.model_kwargs).to(cfg.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * int(np.ceil(len(tr.y) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=max(steps, 1))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    gen = torch.Generator().manual_seed(cfg.seed)
    x_tr, y_tr = torch.from_numpy(tr.x), torch.from_numpy(tr.y)

    history, best, best_state = [], None, None
    bar = tqdm(range(1, cfg.epochs + 1), desc=cfg.model, disable=not progress, unit="ep")
    t0 = time.perf_counter()
    for epoch in bar:
        model.train()
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
    config = {
        "model": cfg.model,
        "model_config": model.cfg.to_dict(),
        "train": asdict(cfg),
        "normalization": norm.to_dict(),
        "orientation": {"vertical": [round(float(v), 6) for v in vertical],
                        "heading_invariant": cfg.aug_yaw_deg >= 180},
        "window_spec": WindowSpec().to_dict(),
        "data": {"source": cfg.source,
                 "subjects": {k: list(v) for k, v in SPLITS.items()},
                 "windows": {k: int(len(v.y)) for k, v in splits.items()}},
        "selection": {"criterion": "lowest validation loss (val subjects only)",
                      "best_epoch": best[1], "epochs_run": cfg.epochs},
        "train_seconds": round(train_seconds, 1),
        "torch": torch.__version__,
    }
    write_json(out / "config.json", config)
    write_json(out / "history.json", history)
    from .plots import plot_curves

    plot_curves(history, best[1], out / "curves.png",
                f"{cfg.model} (seed {cfg.seed}): chosen on validation subjects")
    return write_evaluation(out, model, norm, splits["test"], split_name="test", name=cfg.model)
