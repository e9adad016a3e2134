"""Which columns of a CSV header hold time, acceleration and rotation rate, in which units.

Logger apps write the same data under their own headers; each family below is one app's (or
edgehar's own) names for the three axes of a sensor, with the units its header states:

    time          t, seconds_elapsed, "Time (s)" (s); t_ms (ms); timestamp_ns (ns);
                  time (seconds or an epoch clock in ms, us or ns: told apart by magnitude)
    acceleration  ax,ay,az (edgehar) | gFx,gFy,gFz (Physics Toolbox, g) |
                  "Acceleration x (m/s^2)" (phyphox, the units in brackets)
    rotation rate gx,gy,gz (edgehar) | wx,wy,wz (Physics Toolbox) |
                  "Gyroscope x (rad/s)" (phyphox)
    one sensor    x,y,z (Sensor Logger, one file per sensor), or any family above

Physics Toolbox's multi-record file also has ``ax,ay,az``: linear acceleration next to its
g-force columns, so the g-force family is tried first. Anything else is mapped with
``--columns t=NAME,ax=NAME,...`` (``Columns``); names it leaves out are found as above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import EdgeharError

# time column -> seconds per unit (None: decided from the first value's magnitude)
TIME_COLUMNS: dict[str, float | None] = {
    "t": 1.0, "seconds_elapsed": 1.0, "time (s)": 1.0, "time": None, "t_ms": 1e-3,
    "timestamp_ns": 1e-9}
ACC, GYRO, AXES = ("ax", "ay", "az"), ("gx", "gy", "gz"), ("x", "y", "z")
SENSORS = ACC + GYRO


@dataclass(frozen=True)
class Family:
    """One app's names for a sensor's three axes, and the units its header states."""

    app: str
    names: tuple[str, str, str] | None = None   # exact names (case-insensitive)
    pattern: str | None = None                  # a regex: group 1 the axis, group 2 the units
    units: str | None = None


ACC_FAMILIES = (Family("Physics Toolbox", ("gfx", "gfy", "gfz"), units="g"),
                Family("phyphox", pattern=r"acceleration ([xyz]) \((.+)\)"),
                Family("edgehar", ACC))
GYRO_FAMILIES = (Family("Physics Toolbox", ("wx", "wy", "wz")),
                 Family("phyphox", pattern=r"gyroscope ([xyz]) \((.+)\)"),
                 Family("edgehar", GYRO))
AXIS_FAMILY = Family("one sensor", AXES)
# gravity-free acceleration, under the names apps give it: refused with a pointer
LINEAR = re.compile(r"linear acceleration ([xyz])")

UNIT_NAMES = {"m/s^2": "m/s2", "m/s²": "m/s2", "m/s2": "m/s2", "m s^-2": "m/s2", "g": "g",
              "rad/s": "rad/s", "deg/s": "deg/s", "°/s": "deg/s", "dps": "deg/s"}
ACCEPTED = ("time: t, seconds_elapsed, time, t_ms, timestamp_ns or \"Time (s)\"; acceleration: "
            "ax,ay,az or gFx,gFy,gFz or \"Acceleration x (m/s^2)\"...; rotation rate: gx,gy,gz "
            "or wx,wy,wz or \"Gyroscope x (rad/s)\"...; one sensor per file: x,y,z")


@dataclass(frozen=True)
class Columns:
    """Where a CSV's data is: header names in the order the reader takes them (time, then the
    sensor axes), the time column's seconds per unit (None: from its magnitude), and the
    units the header states (None: not stated)."""

    time: str
    sensors: tuple[str, ...]
    time_scale: float | None = None
    acc_units: str | None = None
    gyro_units: str | None = None
    app: str | None = None
    label: str | None = None


def parse_mapping(text: str | None) -> dict[str, str]:
    """``--columns t=NAME,ax=NAME,...`` -> {key: header name}; keys: t (seconds, or an epoch
    clock by magnitude), t_ms, t_ns, ax..gz, x,y,z (one sensor per file) and label."""
    if not text:
        return {}
    keys = ("t", "t_ms", "t_ns") + SENSORS + AXES + ("label",)
    out: dict[str, str] = {}
    for part in text.split(","):
        key, eq, name = (s.strip() for s in part.partition("="))
        if not eq or key not in keys or not name:
            raise EdgeharError(None, f"--columns takes KEY=NAME pairs separated by commas with "
                                     f"KEY one of {', '.join(keys)}; got {part.strip()!r}")
        if key in out:
            raise EdgeharError(None, f"--columns names {key} twice")
        out[key] = name
    if sum(k in out for k in ("t", "t_ms", "t_ns")) > 1:
        raise EdgeharError(None, "--columns: give one of t, t_ms or t_ns")
    return out


def header_units(text: str, path) -> str:
    units = UNIT_NAMES.get(text.strip().lower())
    if units is None:
        raise EdgeharError(path, f"unknown units {text!r} in the CSV header (pass --acc-units "
                                 f"or --gyro-units)")
    return units


def _match(header: list[str], family: Family, path) -> tuple[list[str], str | None] | None:
    """The header names of ``family``'s three axes (x, y, z order), and their units."""
    low = [h.lower() for h in header]
    if family.names is not None:
        if all(n in low for n in family.names):
            return [header[low.index(n)] for n in family.names], family.units
        return None
    found: dict[str, tuple[str, str]] = {}
    for h, lo in zip(header, low):
        m = re.fullmatch(family.pattern, lo)
        if m:
            found.setdefault(m.group(1), (h, h[m.start(2):m.end(2)]))
    if len(found) < 3:
        return None
    units = {header_units(found[a][1], path) for a in "xyz"}
    if len(units) > 1:
        raise EdgeharError(path, f"the three axes of one sensor in different units "
                                 f"({', '.join(sorted(units))})")
    return [found[a][0] for a in "xyz"], units.pop()


def _time_column(header: list[str], mapping: dict[str, str], path) -> tuple[str | None, float | None]:
    for key, scale in (("t", None), ("t_ms", 1e-3), ("t_ns", 1e-9)):
        if key in mapping:
            return _mapped(header, mapping[key], path), scale
    low = [h.lower() for h in header]
    for name, scale in TIME_COLUMNS.items():
        if name in low:
            return header[low.index(name)], scale
    return None, None


def _mapped(header: list[str], name: str, path) -> str:
    if name in header:
        return name
    low = [h.lower() for h in header]
    if name.lower() in low:
        return header[low.index(name.lower())]
    raise EdgeharError(path, f"--columns names {name!r}, which the CSV header lacks "
                             f"(found: {_shown(header)})")


def _shown(header: list[str]) -> str:
    found = ",".join(header)
    return (found[:80] + "...") if len(found) > 80 else (found or "nothing")


def _sensor(header: list[str], keys: tuple[str, ...], families: tuple[Family, ...],
            mapping: dict[str, str], path) -> tuple[list[str], str | None, str | None] | None:
    """(names, units, app) of one sensor: mapped by --columns, else the first family found."""
    if any(k in mapping for k in keys):
        if not all(k in mapping for k in keys):
            raise EdgeharError(None, f"--columns maps {'/'.join(k for k in keys if k in mapping)}"
                                     f" but not {'/'.join(k for k in keys if k not in mapping)}")
        return [_mapped(header, mapping[k], path) for k in keys], None, None
    for family in families:
        hit = _match(header, family, path)
        if hit is not None:
            return hit[0], hit[1], family.app
    return None


def find_columns(header: list[str], kind: str, mapping: dict[str, str] | None = None,
                 path=None) -> Columns:
    """The columns of a CSV ``kind``: "both" (acceleration and rotation rate in one file),
    "acc" or "gyro" (one sensor per file: its family, or x,y,z)."""
    mapping = mapping or {}
    time, scale = _time_column(header, mapping, path)
    if kind == "both":
        acc = _sensor(header, ACC, ACC_FAMILIES, mapping, path)
        gyro = _sensor(header, GYRO, GYRO_FAMILIES, mapping, path)
    else:
        families = (ACC_FAMILIES if kind == "acc" else GYRO_FAMILIES) + (AXIS_FAMILY,)
        one = _sensor(header, AXES, families, mapping, path)
        acc, gyro = (one, None) if kind == "acc" else (None, one)
    missing = [what for what, need, got in (("a time column", True, time),
                                            ("acceleration", kind != "gyro", acc),
                                            ("rotation rate", kind != "acc", gyro))
               if need and got is None]
    if missing:
        linear = next((h for h in header if LINEAR.match(h.lower())), None)
        if linear is not None and acc is None and kind != "gyro":
            raise EdgeharError(path, f"the CSV has linear acceleration ({linear!r}: gravity "
                                     f"removed); edgehar needs acceleration with gravity "
                                     f"(phyphox: 'Acceleration with g')")
        raise EdgeharError(path, f"CSV header lacks {' and '.join(missing)} (found: "
                                 f"{_shown(header)}); accepted: {ACCEPTED}; map other names "
                                 f"with --columns t=NAME,ax=NAME,...,gz=NAME (one sensor per "
                                 f"file: t=NAME,x=NAME,y=NAME,z=NAME)")
    names = (acc[0] if acc else []) + (gyro[0] if gyro else [])
    label = mapping.get("label")
    label = _mapped(header, label, path) if label else ("label" if "label" in header else None)
    apps = {s[2] for s in (acc, gyro) if s is not None and s[2] not in (None, "edgehar",
                                                                        "one sensor")}
    return Columns(time, tuple(names), scale, acc[1] if acc else None,
                   gyro[1] if gyro else None, apps.pop() if len(apps) == 1 else None, label)


def epoch_scale(first: float) -> float:
    """Seconds per unit of a ``time`` column from its first value: elapsed seconds or epoch
    seconds (< 1e11), epoch milliseconds (< 1e14), microseconds (< 1e17), else nanoseconds."""
    v = abs(first)
    return 1.0 if v < 1e11 else 1e-3 if v < 1e14 else 1e-6 if v < 1e17 else 1e-9


def is_parquet(path) -> bool:
    """A Parquet log (``*.parquet``): the CSV's columns, read with pyarrow."""
    return str(path).lower().endswith(".parquet")
