"""Which file(s) one log is: a single CSV, a HAPT pair, or a logger app's export folder.

An export folder is one recording, recognised by its files (its other files, and folders such
as phyphox's ``meta/``, are not logs):

1. Sensor Logger: ``TotalAcceleration.csv`` + ``Gyroscope.csv`` (headers
   ``time,seconds_elapsed,z,y,x``). Its ``Accelerometer.csv`` has gravity removed; on iOS,
   which writes no total acceleration, ``Accelerometer.csv`` + ``Gravity.csv`` are summed.
   ``Accelerometer.csv`` without either is refused, naming the file to export.
2. Otherwise, a folder of at most ``MAX_EXPORT_FILES`` CSVs, none of which holds both sensors,
   with exactly one acceleration file and one rotation-rate file, told apart by their headers
   (phyphox: ``Accelerometer.csv`` + ``Gyroscope.csv``; Physics Toolbox: a ``gFx,gFy,gFz`` file
   + a ``wx,wy,wz`` file), or, for plain ``x,y,z`` headers, by "acc" / "gyr" in the file names.

Given one file of such a pair, its partner is found in the same folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgeharError
from .formats import find_columns, is_parquet
from .hapt import HAPT_NAME
from .text import open_text

MAX_EXPORT_FILES = 16       # an app's export holds a handful of CSVs; a fleet folder more
NOT_LOGS = {"labels.txt", "subjects.csv"}
SENSOR_LOGGER = ("TotalAcceleration.csv", "Gyroscope.csv", "Accelerometer.csv")
# what to record instead of gravity-free acceleration, per app (the units check names it)
TOTAL_ACCELERATION = {
    "Sensor Logger": "Sensor Logger's Accelerometer.csv has gravity removed: use "
                     "TotalAcceleration.csv (or give the export folder)",
    "phyphox": "phyphox: record 'Acceleration with g', not 'Linear Acceleration'",
    "Physics Toolbox": "Physics Toolbox: record the g-force meter (gFx,gFy,gFz), not linear "
                       "acceleration"}


@dataclass(frozen=True)
class LogFiles:
    """The file(s) of one log: one CSV (or HAPT acc file), or an accelerometer + gyroscope
    pair, and the app that wrote them when it is recognised."""

    path: Path
    gyro: Path | None = None
    app: str | None = None
    gravity: Path | None = None   # ``path`` has gravity removed; this file gives it back


def read_header(path: Path) -> list[str] | None:
    """A CSV's header names (quotes and a trailing comma's empty name dropped), None when the
    file is not readable text."""
    try:
        with open_text(path) as f:
            first = f.readline(65536)
    except (OSError, UnicodeDecodeError):
        return None
    names = [h.strip().strip('"').strip() for h in first.lstrip("\ufeff").strip().split(",")]
    return names[:-1] if len(names) > 1 and names[-1] == "" else names


def is_sensor_logger(header: list[str] | None) -> bool:
    return bool(header) and [h.lower() for h in header[:2]] == ["time", "seconds_elapsed"]


def _classify(path: Path, header: list[str] | None) -> tuple[str | None, str | None]:
    """(which sensors, which app) of a CSV from one pass over its header: ``sensor_of``'s and
    ``_app_of``'s answers."""
    app = "Sensor Logger" if is_sensor_logger(header) else None
    for kind in ("both", "acc", "gyro"):
        try:
            cols = find_columns(header or [], kind, path=path)
        except EdgeharError:
            continue
        app = app or cols.app
        if kind == "both" or cols.app is not None:
            return kind, app
        name = path.name.lower()
        return ("acc" if "acc" in name else "gyro" if "gyr" in name else None), app
    return None, app


def sensor_of(path: Path, header: list[str] | None) -> str | None:
    """"both", "acc", "gyro" or None: which sensors a CSV holds, by its header (plain x,y,z:
    by "acc" / "gyr" in its name)."""
    return _classify(path, header)[0] if header else None


def recording_in(folder: Path) -> LogFiles | None:
    """The recording an app's export ``folder`` is (rules above), else None."""
    names = {p.name for p in folder.iterdir() if p.is_file()}
    if {"TotalAcceleration.csv", "Gyroscope.csv"} <= names:
        return LogFiles(folder / "TotalAcceleration.csv", folder / "Gyroscope.csv",
                        "Sensor Logger")
    if {"Accelerometer.csv", "Gyroscope.csv"} <= names and \
            is_sensor_logger(read_header(folder / "Accelerometer.csv")):
        if "Gravity.csv" in names:   # iOS: acceleration without gravity, and gravity
            return LogFiles(folder / "Accelerometer.csv", folder / "Gyroscope.csv",
                            "Sensor Logger", folder / "Gravity.csv")
        raise EdgeharError(folder, f"a Sensor Logger export without TotalAcceleration.csv "
                                   f"(nor Gravity.csv): {TOTAL_ACCELERATION['Sensor Logger']}; "
                                   f"turn on Total Acceleration (Android) or Gravity (iOS) in "
                                   f"the app's sensors")
    csvs = sorted(folder / n for n in names if n.lower().endswith(".csv") and n not in NOT_LOGS)
    if not 2 <= len(csvs) <= MAX_EXPORT_FILES:
        return None
    kinds: dict[str, list[Path]] = {"both": [], "acc": [], "gyro": []}
    apps = set()
    for p in csvs:
        header = read_header(p)
        kind, app = _classify(p, header) if header else (None, None)
        if kind is not None:
            kinds[kind].append(p)
            apps.add(app)
    if kinds["both"] or len(kinds["acc"]) != 1 or len(kinds["gyro"]) != 1:
        return None
    app = apps.pop() if len(apps) == 1 else None
    return LogFiles(kinds["acc"][0], kinds["gyro"][0], app)


def _app_of(path: Path, header: list[str] | None) -> str | None:
    return _classify(path, header)[1]


def log_files(path: Path, gyro: Path | None = None, mapped: bool = False) -> LogFiles:
    """What ``open_log`` reads for ``path``: a folder is an app export (or refused); a file
    that is one half of an app's pair brings its partner; Sensor Logger's gravity-free
    ``Accelerometer.csv`` is refused. ``mapped`` (``--columns``): the file is taken as given."""
    path = Path(path)
    if path.is_dir():
        if gyro is not None:
            raise EdgeharError(path, "is a directory, not an accelerometer file")
        found = recording_in(path)
        if found is None:
            raise EdgeharError(path, "is a directory that is not a recording (an app's export "
                                     "folder: Sensor Logger's, phyphox's, or one acceleration "
                                     "and one gyroscope CSV); many logs: edgehar replay PATH "
                                     "--out-dir DIR")
        return found
    if gyro is not None:   # a pair given by hand: the app only names its right export
        return LogFiles(path, gyro, None if mapped else _app_of(path, read_header(path)))
    if mapped or HAPT_NAME.search(path.name) or not path.is_file() or \
            is_parquet(path):   # Parquet: one file holds both sensors
        return LogFiles(path)
    header = read_header(path)
    if is_sensor_logger(header) and path.name == "Accelerometer.csv":
        found = recording_in(path.parent)
        if found is None or found.path != path:
            raise EdgeharError(path, TOTAL_ACCELERATION["Sensor Logger"])
        return found
    kind = sensor_of(path, header)
    if kind in ("acc", "gyro"):
        found = recording_in(path.parent)
        if found is not None and path in (found.path, found.gyro):
            return found
        what = "acceleration" if kind == "acc" else "rotation rate"
        raise EdgeharError(path, f"holds only {what}, and its folder is not one recording: "
                                 f"give --acc ACC.csv --gyro GYRO.csv")
    return LogFiles(path, None, _app_of(path, header))


def logs_under(root: Path) -> list[Path]:
    """Every log under ``root`` in path order: app export folders (one log each, nothing
    inside them is another), HAPT ``acc_exp*_user*.txt`` files, the other CSVs and Parquet
    files."""
    root = Path(root)
    try:
        if recording_in(root) is not None:
            return [root]
    except EdgeharError:   # an export refused as a whole: one log that fails with the reason
        return [root]
    found: list[Path] = []
    for p in sorted(root.iterdir()):
        if p.is_dir():
            found += logs_under(p)
        elif p.is_file() and p.name not in NOT_LOGS and (
                p.suffix.lower() == ".csv" or is_parquet(p)
                or (HAPT_NAME.search(p.name) and p.name.startswith("acc_"))):
            found.append(p)
    return found
