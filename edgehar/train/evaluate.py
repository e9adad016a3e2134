"""Evaluation of a run (torch) on a split: metrics, params, MACs, latency, confusion figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.sources import WindowSet
from ..runtime.files import write_json
from ..runtime.manifest import Normalization
from ..runtime.metrics import call_latency_ms, classification_report
from ..runtime.spec import LABELS
from .checkpoint import predict_logits
from .models import count_macs, count_params
from .registry import io_of


def torch_latency_ms(model: torch.nn.Module, repeats: int = 200) -> dict:
    """Single-window eager latency (batch 1), after warm-up, with how it was measured."""
    io = io_of(model)
    x = torch.zeros(1, io.window, io.channels)
    with torch.no_grad():
        lat = call_latency_ms(lambda: model(x), repeats)
    return {**lat, "threads": torch.get_num_threads(), "runs": repeats,
            "measured": "torch eager, batch 1, beside whatever else ran (not a benchmark: "
                        "edgehar bench)"}


def write_evaluation(out: Path, model: torch.nn.Module, norm: Normalization, ws: WindowSet,
                     split_name: str, name: str | None = None,
                     labels: tuple[str, ...] = LABELS, latency: bool = True) -> dict:
    """Metrics of ``model`` on ``ws`` into ``out``/metrics.json and confusion.png; ``latency``:
    also a torch eager latency (training's record; `edgehar evaluate` leaves it to bench)."""
    from .plots import plot_confusion

    logits = predict_logits(model, norm.apply(ws.x))
    report = classification_report(ws.y, logits.argmax(1), labels)
    metrics = {
        "split": split_name,
        **report,
        "params": count_params(model),
        "macs": count_macs(model),
        **({"latency_ms": torch_latency_ms(model)} if latency else {}),
    }
    write_json(Path(out) / "metrics.json", metrics)
    plot_confusion(np.array(report["confusion"]), labels, Path(out) / "confusion.png",
                   f"{name or type(model).__name__} on {split_name} subjects: "
                   f"acc {100 * report['accuracy']:.2f}%, macro-F1 {100 * report['macro_f1']:.2f}%")
    return metrics
