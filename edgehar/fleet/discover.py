"""Which files a fleet replay reads: paths, directories and globs -> logs."""

from __future__ import annotations

import glob
from pathlib import Path

from ..runtime.errors import EdgeharError
from ..runtime.logs import HAPT_NAME, logs_under
from ..runtime.logs.apps import NOT_LOGS
from ..runtime.logs.formats import is_parquet


def _is_log(p: Path) -> bool:
    if p.name in NOT_LOGS or not p.is_file():
        return False
    if p.suffix.lower() == ".csv" or is_parquet(p):
        return True
    # a HAPT pair is named by its accelerometer file; the gyro_ partner is found by name
    return bool(HAPT_NAME.search(p.name)) and p.name.startswith("acc_")


def find_logs(paths: list[str | Path]) -> list[Path]:
    """Logs in the order given (directories and globs sorted), each once. A directory is
    searched recursively (``logs_under``): an app's export folder is one log, the other logs
    are HAPT ``acc_exp*_user*.txt`` files, ``*.csv`` and ``*.parquet`` files."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found += logs_under(p)
        elif p.is_file():
            found.append(p)
        elif glob.has_magic(str(raw)):
            hits = []
            for h in sorted(Path(h) for h in glob.glob(str(raw), recursive=True)):
                hits += logs_under(h) if h.is_dir() else ([h] if _is_log(h) else [])
            if not hits:
                raise EdgeharError(raw, "the pattern matches no log")
            found += hits
        else:
            raise EdgeharError(p, "no such log, directory or pattern")
    seen, logs = set(), []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            logs.append(p)
    if not logs:
        raise EdgeharError(None, "no logs found (HAPT acc_exp*_user*.txt, *.csv or *.parquet)")
    return logs


def jsonl_name(log: Path, taken: set[str]) -> str:
    """``<log name>.jsonl``, made unique when two directories hold logs of the same name."""
    stem = log.name[:-len(log.suffix)] if log.suffix and not log.is_dir() else log.name
    name, i = f"{stem}.jsonl", 2
    while name.casefold() in taken:   # case-insensitive file systems (macOS, Windows)
        name, i = f"{stem}-{i}.jsonl", i + 1
    taken.add(name.casefold())
    return name
