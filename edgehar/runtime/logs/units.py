"""Units: conversion factors and a sanity check on the first seconds of a log.

The model needs total acceleration (with gravity) in g and angular rate in rad/s. A median
|acc| far from 1 g means the wrong ``--acc-units`` or a linear-acceleration (gravity removed)
log; a gyroscope whose 99th percentile is beyond any phone's range in rad/s is in deg/s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import EdgeharError
from ..spec import SAMPLE_RATE, STANDARD_GRAVITY
from .chunk import DataQuality, LogChunk

ACC_UNITS = {"auto": 1.0, "g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY}
GYRO_UNITS = {"auto": 1.0, "rad/s": 1.0, "deg/s": np.pi / 180.0}
# "auto" (the default): units the CSV header states are used; else the log is read as g and
# rad/s and the first 30 s decide which units make physical sense, and the whole log is rescaled
CHECK_SAMPLES = 1500          # 30 s at 50 Hz: enough for a median over any activity mix
ACC_MEDIAN_G = (0.7, 1.4)     # total acceleration's median magnitude must sit near 1 g
GYRO_P99_MAX_RAD_S = 25.0     # phone gyroscopes saturate at 2000 deg/s ~ 35 rad/s; walking
                              # peaks at 3-5 rad/s, the same motion in deg/s at 150-300


def units_factor(table: dict[str, float], units: str, what: str, path) -> float:
    if units not in table:
        raise EdgeharError(path, f"unknown {what} units {units!r} (use one of: {', '.join(table)})")
    return table[units]


@dataclass(frozen=True)
class Units:
    """A log's units and where each came from: "option" (forced), "header" (the CSV states
    them) or "auto" (decided from the data); ``hint`` names an app's total-acceleration export,
    for the gravity-removed refusal."""

    acc: str = "auto"
    gyro: str = "auto"
    acc_from: str = "auto"
    gyro_from: str = "auto"
    hint: str | None = None

    @classmethod
    def resolve(cls, acc_option: str, gyro_option: str, acc_header: str | None = None,
                gyro_header: str | None = None, hint: str | None = None) -> Units:
        acc, acc_from = _pick(acc_option, acc_header)
        gyro, gyro_from = _pick(gyro_option, gyro_header)
        return cls(acc, gyro, acc_from, gyro_from, hint)

    def scale(self) -> tuple[float, float]:
        return ACC_UNITS[self.acc], GYRO_UNITS[self.gyro]


def _pick(option: str, header: str | None) -> tuple[str, str]:
    if option != "auto":
        return option, "option"
    return (header, "header") if header else ("auto", "auto")


def check_units(samples: np.ndarray, acc_units: str, gyro_units: str, path,
                hint: str | None = None) -> dict:
    """Raise with the likely cause when the converted samples cannot be g and rad/s."""
    median_g = float(np.median(np.linalg.norm(samples[:, :3], axis=1)))
    gyro_p99 = float(np.percentile(np.abs(samples[:, 3:]), 99))
    lo, hi = ACC_MEDIAN_G
    linear = hint or ("gravity looks removed (linear acceleration); edgehar needs total "
                      "acceleration (the accelerometer, not the linear-acceleration sensor)")
    if median_g > hi:
        # neither g nor m/s2 gives ~1 g, and m/s2 gives far less: gravity-free, in m/s2
        likely = ("the log is in m/s2: pass --acc-units m/s2 (or auto)" if 7 < median_g < 12
                  else linear if median_g / STANDARD_GRAVITY < lo else "check --acc-units")
        raise EdgeharError(path, f"median |acceleration| is {median_g:.2f} g read as "
                                 f"{acc_units}, not about 1 g: {likely}")
    if median_g < lo:
        likely = ("the log is in g: pass --acc-units g" if acc_units == "m/s2"
                  and 0.07 < median_g < 0.14 else linear)
        raise EdgeharError(path, f"median |acceleration| is {median_g:.2f} g read as "
                                 f"{acc_units}, not about 1 g: {likely}")
    if gyro_p99 > GYRO_P99_MAX_RAD_S:
        raise EdgeharError(path, f"gyroscope reaches {gyro_p99:.0f} rad/s (99th percentile) read "
                                 f"as {gyro_units}: the log is likely in deg/s, pass "
                                 "--gyro-units deg/s (or auto)")
    return {"acc_units": acc_units, "gyro_units": gyro_units,
            "median_acc_g": round(median_g, 3), "gyro_p99_rad_s": round(gyro_p99, 3),
            "checked_samples": len(samples), "ok": True}


def guess_units(samples: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[str, str]:
    """Units that make the first seconds (read as g, rad/s) physically plausible.

    Acceleration: a median magnitude near 9.8 is m/s2, near 1 is g. Rotation rate: beyond any
    phone's range in rad/s is deg/s; else, where the phone turns, the gravity vector it
    measures turns at the rate the gyroscope reads, in rad/s (57x less in deg/s), which also
    tells a slow motion in deg/s from one in rad/s. With no turning to compare (the phone lies
    still), the gyroscope's noise: under 0.1 rad/s still in rad/s, 0.7 and more in deg/s.
    Measured on 30 s pieces of all 61 HAPT recordings: ``bench/units_auto.py``."""
    median = float(np.median(np.linalg.norm(samples[:, :3], axis=1)))
    acc = "m/s2" if median * ACC_UNITS["m/s2"] > ACC_MEDIAN_G[0] and median > 4 else "g"
    gyro = samples[:, 3:]
    if float(np.percentile(np.abs(gyro), 99)) > GYRO_P99_MAX_RAD_S:
        return acc, "deg/s"
    ratio = gyro_to_gravity_turn(samples, rate)
    if ratio is None:   # gravity never turns: a still phone, whose gyroscope reads noise
        return acc, "deg/s" if float(np.percentile(np.abs(gyro), 99)) > STILL_P99_RAD_S \
            else "rad/s"
    return acc, "deg/s" if ratio > DEG_RATIO else "rad/s"


# gyroscope rate / gravity's turn rate: 0.2-1.1 in rad/s on 30 s pieces of the HAPT recordings
# (walking turns the measured "gravity" by linear acceleration too), 12-63 in deg/s; the
# boundary sits between them on a log scale
DEG_RATIO = 4.0
STILL_P99_RAD_S = 0.25    # a still phone's gyroscope, 99th percentile: <= 0.08 in rad/s (HAPT)
TURN_MIN_RAD_S = 0.3      # gravity turning faster than this is a real turn, not noise
TURN_MIN_SAMPLES = 25     # half a second of turning before the ratio is trusted


def gyro_to_gravity_turn(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float | None:
    """Median of |gyro| / (turn rate of the measured gravity direction, rad/s) over the samples
    where gravity turns; None when it hardly turns."""
    k = max(rate // 5, 1)                   # 0.2 s moving average: gravity, not footsteps
    if len(samples) < 4 * k:
        return None
    kernel = np.ones(k) / k
    acc = np.stack([np.convolve(samples[:, j], kernel, "valid") for j in range(3)], 1)
    gyro = np.stack([np.convolve(samples[:, j], kernel, "valid") for j in range(3, 6)], 1)
    norm = np.linalg.norm(acc, axis=1, keepdims=True)
    u = acc / np.where(norm > 0, norm, 1.0)
    turn = np.linalg.norm(np.diff(u, axis=0), axis=1) * rate    # rad/s (small angles)
    w = np.linalg.norm(gyro[1:], axis=1)
    moving = turn > TURN_MIN_RAD_S
    if moving.sum() < TURN_MIN_SAMPLES:
        return None
    return float(np.median(w[moving] / turn[moving]))


def checked(chunks: Iterable[LogChunk], quality: DataQuality, units: Units, path
            ) -> Iterator[LogChunk]:
    """Check the first ``CHECK_SAMPLES`` samples. Units still "auto" are decided on them, so
    those samples are held back until then and every chunk is rescaled; with the units known,
    chunks stream on at once (a live pipe's first window is not 30 s late) and the check
    raises when its samples are in."""
    decide = "auto" in (units.acc, units.gyro)
    held: list[LogChunk] = []
    n = 0
    it = iter(chunks)
    for chunk in it:
        held.append(chunk)
        n += len(chunk.samples)
        if n >= CHECK_SAMPLES:
            break
        if not decide:
            yield chunk
    scale = None
    acc_units, gyro_units = units.acc, units.gyro
    if n:
        first = np.concatenate([c.samples[:CHECK_SAMPLES] for c in held])[:CHECK_SAMPLES]
        if decide:
            acc_guess, gyro_guess = guess_units(first)
            acc_units = acc_guess if acc_units == "auto" else "g"
            gyro_units = gyro_guess if gyro_units == "auto" else "rad/s"
            scale = np.array([ACC_UNITS[acc_units]] * 3 + [GYRO_UNITS[gyro_units]] * 3)
            first = first * scale
            # the units in force (already applied by the reader where not auto)
            acc_units = acc_units if units.acc == "auto" else units.acc
            gyro_units = gyro_units if units.gyro == "auto" else units.gyro
        quality.units_check = check_units(first, acc_units, gyro_units, path, units.hint)
        quality.units_check.update(acc_units_from=units.acc_from, gyro_units_from=units.gyro_from)
    rest = itertools.chain(held if decide else held[-1:] if n >= CHECK_SAMPLES else [], it)
    for chunk in rest:
        if scale is not None:
            chunk.samples = chunk.samples * scale
        yield chunk
