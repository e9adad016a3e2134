"""Per-channel input ranges for an integer-only input tensor.

An int8 input tensor has one scale for all nine channels. Set by the widest channel, the step of
``body_gyro_x`` (the yaw rate: x is vertical in the phone frame) was 0.1 standard deviation, which
erases the small rotations of postural sway that tell standing from sitting: quantizing that one
channel alone cost the shipped model 4.1 pp on the validation subjects, all channels 4.5 pp.

So each channel gets its own clip, chosen on the calibration windows (training subjects) to keep
the float model's logits, and the clip is folded into the normalization (``std * clip``) and
into the stem convolution's weights (``* clip``): the float model computes the same function and
every channel spans [-1, 1], the int8 input tensor's range.
"""

from __future__ import annotations

import copy

import numpy as np

from ..runtime.manifest import Normalization

PERCENTILES = (90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0)
LEVELS = 127  # symmetric int8 steps either side of zero


def fake_quantize(x: np.ndarray, clips: np.ndarray) -> np.ndarray:
    """``x`` (..., channels) through a symmetric int8 grid clipped at ``clips`` per channel."""
    step = np.asarray(clips, np.float32) / LEVELS
    return (np.clip(np.round(x / step), -LEVELS, LEVELS) * step).astype(np.float32)


def choose_clips(model, windows: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Per-channel clips by coordinate search over percentiles of |x|: each channel in turn
    takes the candidate with the least logit MSE against the float model, all channels
    quantized. Scale-equivariant: a channel's candidates are its own percentiles."""
    from ..train.checkpoint import predict_logits

    ref = predict_logits(model, windows)
    candidates = np.percentile(np.abs(windows), PERCENTILES, axis=(0, 1))  # (n, channels)
    candidates = np.maximum(candidates, 1e-6)

    def loss(clips: np.ndarray) -> float:
        return float(((predict_logits(model, fake_quantize(windows, clips)) - ref) ** 2).mean())

    clips = candidates[-1].copy()   # start from the absolute maxima (no clipping)
    for _ in range(rounds):
        for k in range(clips.size):
            trials = [np.where(np.arange(clips.size) == k, c, clips) for c in candidates[:, k]]
            clips = min(trials, key=loss)
    return clips.astype(np.float64)


def foldable(model) -> bool:
    """Clips fold into a 1D ResNeXt's stem, whose first convolution mixes the input channels
    with a weight per channel. Another model (a peer, a user's own) keeps one input scale."""
    from ..train.models import HarResNeXt

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
