"""Per-channel input ranges for an integer-only input tensor.

An int8 input tensor has one scale for all nine channels. Set by the widest channel, the step of
``body_gyro_x`` (the yaw rate: x is vertical in the phone frame) was 0.1 standard deviation, which
erases the small rotations of postural sway that tell standing from sitting: quantizing that one
channel alone cost the shipped model 4.1 pp on the validation subjects, all channels 4.5 pp.

So each channel gets its own clip, chosen here on the calibration windows (training subjects) to
keep the float model's logits. Folding the clips into the model and its normalization is torch
surgery and lives with the models (``train.input_clips``); this module sees only arrays and a
``predict`` callable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PERCENTILES = (90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0)
LEVELS = 127  # symmetric int8 steps either side of zero


def fake_quantize(x: np.ndarray, clips: np.ndarray) -> np.ndarray:
    """``x`` (..., channels) through a symmetric int8 grid clipped at ``clips`` per channel."""
    step = np.asarray(clips, np.float32) / LEVELS
    return (np.clip(np.round(x / step), -LEVELS, LEVELS) * step).astype(np.float32)


def choose_clips(predict: Callable[[np.ndarray], np.ndarray], windows: np.ndarray,
                 rounds: int = 2) -> np.ndarray:
    """Per-channel clips by coordinate search over percentiles of |x|: each channel in turn
    takes the candidate with the least logit MSE against the float model (``predict``: windows
    -> logits), all channels quantized. Scale-equivariant: a channel's candidates are its own
    percentiles."""
    ref = predict(windows)
    candidates = np.percentile(np.abs(windows), PERCENTILES, axis=(0, 1))  # (n, channels)
    candidates = np.maximum(candidates, 1e-6)

    def loss(clips: np.ndarray) -> float:
        return float(((predict(fake_quantize(windows, clips)) - ref) ** 2).mean())

    clips = candidates[-1].copy()   # start from the absolute maxima (no clipping)
    for _ in range(rounds):
        for k in range(clips.size):
            trials = [np.where(np.arange(clips.size) == k, c, clips) for c in candidates[:, k]]
            clips = min(trials, key=loss)
    return clips.astype(np.float64)
