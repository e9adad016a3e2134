"""Units: conversion factors and a sanity check on the first seconds of a log.

The model needs total acceleration (with gravity) in g and angular rate in rad/s. A median
|acc| far from 1 g means the wrong ``--acc-units`` or a linear-acceleration (gravity removed)
log; a gyroscope whose 99th percentile is beyond any phone's range in rad/s is in deg/s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import numpy as np

from ..errors import EdgeharError
from ..spec import STANDARD_GRAVITY
from .chunk import DataQuality, LogChunk

ACC_UNITS = {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY, "auto": 1.0}
GYRO_UNITS = {"rad/s": 1.0, "deg/s": np.pi / 180.0, "auto": 1.0}
# "auto" (training data from a directory of logs): read as g and rad/s, then decide from the
# first 30 s which units make physical sense and rescale the whole log
CHECK_SAMPLES = 1500          # 30 s at 50 Hz: enough for a median over any activity mix
ACC_MEDIAN_G = (0.7, 1.4)     # total acceleration's median magnitude must sit near 1 g
GYRO_P99_MAX_RAD_S = 25.0     # phone gyroscopes saturate at 2000 deg/s ~ 35 rad/s; walking
                              # peaks at 3-5 rad/s, the same motion in deg/s at 150-300


def units_factor(table: dict[str, float], units: str, what: str, path) -> float:
    if units not in table:
        raise EdgeharError(path, f"unknown {what} units {units!r} (use one of: {', '.join(table)})")
    return table[units]


def check_units(samples: np.ndarray, acc_units: str, gyro_units: str, path) -> dict:
    """Raise with the likely cause when the converted samples cannot be g and rad/s."""
    median_g = float(np.median(np.linalg.norm(samples[:, :3], axis=1)))
    gyro_p99 = float(np.percentile(np.abs(samples[:, 3:]), 99))
    lo, hi = ACC_MEDIAN_G
    if median_g > hi:
        likely = ("the log is in m/s2: pass --acc-units m/s2" if 7 < median_g < 12
                  else "check --acc-units")
        raise EdgeharError(path, f"median |acceleration| is {median_g:.2f} g with --acc-units "
                                 f"{acc_units}, not about 1 g: {likely}")
    if median_g < lo:
        likely = ("the log is in g: pass --acc-units g" if acc_units == "m/s2"
                  and 0.07 < median_g < 0.14 else
                  "gravity looks removed (linear acceleration); edgehar needs total "
                  "acceleration (the accelerometer, not the linear-acceleration sensor)")
        raise EdgeharError(path, f"median |acceleration| is {median_g:.2f} g with --acc-units "
                                 f"{acc_units}, not about 1 g: {likely}")
    if gyro_p99 > GYRO_P99_MAX_RAD_S:
        raise EdgeharError(path, f"gyroscope reaches {gyro_p99:.0f} rad/s (99th percentile) with "
                                 f"--gyro-units {gyro_units}: the log is likely in deg/s, pass "
                                 "--gyro-units deg/s")
    return {"acc_units": acc_units, "gyro_units": gyro_units,
            "median_acc_g": round(median_g, 3), "gyro_p99_rad_s": round(gyro_p99, 3),
            "checked_samples": len(samples), "ok": True}


def guess_units(samples: np.ndarray) -> tuple[str, str]:
    """Units that make the first seconds (read as g, rad/s) physically plausible."""
    median = float(np.median(np.linalg.norm(samples[:, :3], axis=1)))
    acc = "m/s2" if median * ACC_UNITS["m/s2"] > ACC_MEDIAN_G[0] and median > 4 else "g"
    gyro = "deg/s" if float(np.percentile(np.abs(samples[:, 3:]), 99)) > GYRO_P99_MAX_RAD_S \
        else "rad/s"
    return acc, gyro


def checked(chunks: Iterable[LogChunk], quality: DataQuality, acc_units: str, gyro_units: str,
            path) -> Iterator[LogChunk]:
    """Hold back the first ``CHECK_SAMPLES`` samples, check them, then stream on. With "auto"
    units, the held samples choose them and every chunk is rescaled."""
    held: list[LogChunk] = []
    n = 0
    it = iter(chunks)
    for chunk in it:
        held.append(chunk)
        n += len(chunk.samples)
        if n >= CHECK_SAMPLES:
            break
    scale = None
    if n:
        first = np.concatenate([c.samples[:CHECK_SAMPLES] for c in held])[:CHECK_SAMPLES]
        if "auto" in (acc_units, gyro_units):
            acc_guess, gyro_guess = guess_units(first)
            acc_units = acc_guess if acc_units == "auto" else acc_units
            gyro_units = gyro_guess if gyro_units == "auto" else gyro_units
            scale = np.array([ACC_UNITS[acc_units]] * 3 + [GYRO_UNITS[gyro_units]] * 3)
            first = first * scale
        quality.units_check = check_units(first, acc_units, gyro_units, path)
    for chunk in itertools.chain(held, it):
        if scale is not None:
            chunk.samples = chunk.samples * scale
        yield chunk
