"""Per-channel input clips folded into (and out of) a trained 1D ResNeXt.

``quantize.input_scaling`` chooses the clips from arrays; folding them is surgery on the torch
model, so it lives here with the models. Each clip is folded into the normalization
(``std * clip``) and into the stem convolution's weights (``* clip``): the float model computes
the same function and every channel spans [-1, 1], the int8 input tensor's range.
"""

from __future__ import annotations

import copy

import numpy as np

from ..runtime.manifest import Normalization


def foldable(model) -> bool:
    """Clips fold into a 1D ResNeXt's stem, whose first convolution mixes the input channels
    with a weight per channel. Another model (a peer, a user's own) keeps one input scale."""
    from .models import HarResNeXt

    return isinstance(model, HarResNeXt) and model.cfg.dims == 1


def _stem_scaled(model, clips: np.ndarray, fold: bool):
    """A copy of ``model`` with its stem's weights multiplied (fold) or divided (unfold) by
    ``clips`` per input channel."""
    import torch

    if not foldable(model):
        raise ValueError("per-channel input clips fold into a 1D ResNeXt stem only")
    scaled = copy.deepcopy(model).eval()
    with torch.no_grad():
        weight = scaled.stem[0].weight
        per_channel = torch.as_tensor(clips, dtype=weight.dtype)[None, :, None]
        weight.mul_(per_channel) if fold else weight.div_(per_channel)
    return scaled


def fold_input_clips(model, norm: Normalization, clips: np.ndarray):
    """(model', norm') with ``norm'.apply(x) == norm.apply(x) / clips`` and the stem's weights
    multiplied by ``clips`` per input channel: the same function, inputs in [-1, 1]."""
    std = tuple(float(s * c) for s, c in zip(norm.std, clips))
    return (_stem_scaled(model, np.asarray(clips), fold=True),
            Normalization(norm.mean, std, tuple(float(c) for c in clips)))


def unfold_input_clips(model, norm: Normalization):
    """The inverse of ``fold_input_clips``: the trained model and its standardization, for
    training on (fine-tuning) a bundle whose export folded clips in."""
    if norm.input_clip is None:
        return model, norm
    clips = np.asarray(norm.input_clip)
    std = tuple(float(s / c) for s, c in zip(norm.std, clips))
    return _stem_scaled(model, clips, fold=False), Normalization(norm.mean, std)
