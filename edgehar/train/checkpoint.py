"""Trained weights on disk: load a run (or a bundle's weights.pt) and predict with it in torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..runtime.errors import EdgeharError
from ..runtime.manifest import MANIFEST, read_manifest
from ..runtime.run_config import RUN_CONFIG, Normalization, RunConfig
from .models import HarResNeXt, ResNeXtConfig
from .registry import ModelIO, create_model, io_of, is_user_factory

WEIGHTS = "weights.pt"
CONFIG = RUN_CONFIG


def model_config_of(model) -> dict:
    """What rebuilds ``model``: a ResNeXt's own config (as older runs store it), else the
    factory, its keywords and the window shape."""
    factory = getattr(model, "har_factory", None)
    if isinstance(model, HarResNeXt) and (factory is None
                                          or not is_user_factory(factory["factory"])):
        return model.cfg.to_dict()
    io = io_of(model)
    return {**model.har_factory, "window": io.window, "in_channels": io.channels,
            "num_classes": io.classes}


def build_from_config(model_config: dict):
    if "factory" not in model_config:
        return HarResNeXt(ResNeXtConfig.from_dict(model_config))
    io = ModelIO(model_config["window"], model_config["in_channels"],
                 model_config["num_classes"])
    return create_model(model_config["factory"], io, **model_config.get("kwargs", {}))


def load_weights(model_config: dict, weights: Path) -> nn.Module:
    """A model built from its config with the state dict at ``weights`` (weights_only load).
    A user's model (``package.module:factory``) is imported to be rebuilt: load runs and
    bundles you trust, as with any Python code."""
    model = build_from_config(model_config)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # corrupt file or a state dict of another model
        raise EdgeharError(weights, f"cannot load weights ({type(e).__name__})") from None
    return model.eval()


def run_config(run_dir: Path) -> RunConfig:
    """A training run's config (or a bundle's, from its manifest), without loading the
    weights."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file() and (run_dir / MANIFEST).is_file() \
            and (run_dir / WEIGHTS).is_file():
        return read_manifest(run_dir).run_config(run_dir / MANIFEST)
    if not (run_dir / CONFIG).is_file() or not (run_dir / WEIGHTS).is_file():
        raise EdgeharError(run_dir, f"not a training run (needs {CONFIG} and {WEIGHTS}) "
                                    f"nor a bundle with {WEIGHTS}")
    return RunConfig.read(run_dir)


def load_run(run_dir: Path) -> tuple[nn.Module, Normalization, RunConfig]:
    """A training run directory (or a bundle, whose manifest carries the same facts): the
    chosen weights, their normalization and the run config."""
    config = run_config(run_dir)
    return (load_weights(config.model_config, Path(run_dir) / WEIGHTS), config.normalization,
            config)


@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray, batch: int = 512) -> np.ndarray:
    model.eval()
    dev = next(model.parameters()).device
    out = [model(torch.from_numpy(x[i:i + batch]).to(dev)).cpu() for i in range(0, len(x), batch)]
    if not out:
        return np.zeros((0, io_of(model).classes), np.float32)
    return torch.cat(out).numpy()
