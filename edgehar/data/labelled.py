"""A directory of the user's own labelled recordings (DESIGN.md "Labelled recordings").

Searched recursively for logs in any format replay reads: CSVs with a ``label`` column of class
names (empty = unlabelled), and HAPT raw pairs with their ``labels.txt`` (ids 1-12, the HAPT
names). Subjects come from ``subjects.csv`` (``file,subject``), else from the number after
``user`` or ``subject`` in the file name, else from the file's stem. Each log is read by the
runtime's own readers (same resampling, same units check; units are detected per file), and
split at long gaps into separate recordings so no window spans one.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgeharError
from ..runtime.logs import (
    HAPT_NAME,
    LabelVocabulary,
    logs_under,
    open_log,
)
from .sources import Recording

SUBJECT_IN_NAME = re.compile(r"(?:user|subject)[_-]?(\d+)", re.IGNORECASE)


def find_logs(root: Path) -> list[Path]:
    """The logs under ``root`` in path order, as a fleet finds them (``logs_under``: an app's
    export folder is one log)."""
    return logs_under(root)


def _subjects_csv(root: Path) -> dict[str, str]:
    path = root / "subjects.csv"
    if not path.is_file():
        return {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise EdgeharError(path, "not a text file") from None
    if not lines or [c.strip() for c in lines[0].split(",")] != ["file", "subject"]:
        raise EdgeharError(path, "expected the header 'file,subject'")
    out = {}
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 2 or not all(cells):
            raise EdgeharError(path, f"line {i}: expected 'file,subject'")
        out[cells[0]] = cells[1]
    return out


def subjects_of(root: Path, files: list[Path]) -> dict[Path, int | str]:
    """Subject per log; numbers when every subject is a number, else names."""
    table = _subjects_csv(root)
    raw: dict[Path, str] = {}
    for f in files:
        rel = f.relative_to(root).as_posix()
        if rel in table or f.name in table:
            raw[f] = table.get(rel, table.get(f.name))
        elif (m := SUBJECT_IN_NAME.search(f.stem)):
            raw[f] = str(int(m.group(1)))
        else:
            raw[f] = f.stem
    numeric = all(v.isdigit() for v in raw.values())
    return {f: (int(v) if numeric else v) for f, v in raw.items()}


def _segments(path: Path, subject, first_experiment: int, vocab: LabelVocabulary) -> list[Recording]:
    """One recording per stretch without a long gap."""
    labels_txt = None
    if HAPT_NAME.search(path.name):
        labels_txt = path.parent / "labels.txt"
        if not labels_txt.is_file():
            raise EdgeharError(path, "a HAPT raw file needs labels.txt beside it")
    log = open_log(path, acc_units="auto", gyro_units="auto", labels_path=labels_txt,
                   vocab=vocab)
    recs, raw, lab = [], [], []

    def close():
        if raw:
            recs.append(Recording(first_experiment + len(recs), subject, np.concatenate(raw),
                                  np.concatenate(lab).astype(np.int16)))
            raw.clear()
            lab.clear()

    for chunk in log:
        if chunk.new_segment:
            close()
        if chunk.labels is None:
            raise EdgeharError(path, "no 'label' column: a training log needs one (class names "
                                     "per sample, empty where unlabelled)")
        raw.append(chunk.samples)
        lab.append(chunk.labels)
    close()
    return recs


def load_labelled_dir(root: Path) -> tuple[list[Recording], tuple[str, ...], dict]:
    """Recordings with labels as ids into the returned class names, and notes for data info."""
    root = Path(root)
    files = find_logs(root)
    if not files:
        raise EdgeharError(root, "no logs found (CSV files with a 'label' column, or HAPT "
                                 "acc_expXX_userYY.txt with labels.txt)")
    subjects = subjects_of(root, files)
    vocab = LabelVocabulary((), grow=True)
    recs: list[Recording] = []
    for f in files:
        recs += _segments(f, subjects[f], len(recs) + 1, vocab)
    notes = {"files": len(files), "recordings": len(recs),
             "subjects": len(set(subjects.values()))}
    return recs, vocab.names, notes
