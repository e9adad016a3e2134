"""Training figures: learning curves and a labelled confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: list[dict], best_epoch: int, path: Path, title: str) -> None:
    plt = _plt()
    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    a1.plot(ep, [h["train_loss"] for h in history], label="train")
    validated = all("val_loss" in h for h in history)   # none with --select last
    if validated:
        a1.plot(ep, [h["val_loss"] for h in history], label="validation")
    a1.set(xlabel="epoch", ylabel="cross-entropy (label smoothing 0.1)", title="Loss")
    a2.plot(ep, [100 * h["train_acc"] for h in history], label="train")
    if validated:
        a2.plot(ep, [100 * h["val_acc"] for h in history], label="validation")
    a2.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for a in (a1, a2):
        a.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"chosen (epoch {best_epoch})")
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_confusion(cm: np.ndarray, labels, path: Path, title: str) -> None:
    plt = _plt()
    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    short = [lab.replace("WALKING_", "WALK_") for lab in labels]
    ax.set_xticks(range(len(labels)), short, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), short)
    ax.set(xlabel="predicted activity", ylabel="true activity", title=title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{cm[i, j]}\n{100 * norm[i, j]:.1f}%", ha="center", va="center",
                    fontsize=8, color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
