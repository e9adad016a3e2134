"""The accuracy-drop chain: every step scored on the test windows through its real runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..runtime.metrics import classification_report


@dataclass
class ChainRow:
    step: str
    file: str
    accuracy: float
    macro_f1: float
    drop_vs_torch_pp: float
    drop_vs_previous_pp: float
    previous: str
    agreement_top1: float
    max_abs_logit_diff: float | None   # float steps only (INT8 logits differ by design)
    passed: bool = True
    confusion: list | None = None      # rows: true class, columns: predicted


@dataclass
class Chain:
    y_true: np.ndarray
    reference_logits: np.ndarray
    max_drop_pp: float
    labels: tuple[str, ...]
    rows: list[ChainRow] = field(default_factory=list)
    _preds: dict = field(default_factory=dict)

    def add(self, step: str, file: str, logits: np.ndarray, previous: str, is_float: bool
            ) -> ChainRow:
        pred = logits.argmax(1)
        rep = classification_report(self.y_true, pred, self.labels)
        self._preds[step] = rep["accuracy"]
        torch_acc = self._preds.get("torch_fp32", rep["accuracy"])
        prev_acc = self._preds.get(previous, torch_acc)
        drop = 100 * (torch_acc - rep["accuracy"])
        row = ChainRow(
            step, file, rep["accuracy"], rep["macro_f1"], round(drop, 4),
            round(100 * (prev_acc - rep["accuracy"]), 4), previous or "-",
            float((pred == self.reference_logits.argmax(1)).mean()),
            float(np.abs(logits - self.reference_logits).max()) if is_float else None,
            confusion=rep["confusion"],
        )
        row.passed = drop <= self.max_drop_pp + 1e-9
        self.rows.append(row)
        return row

    @property
    def failed(self) -> list[ChainRow]:
        return [r for r in self.rows if not r.passed]

    def to_json(self) -> list[dict]:
        return [asdict(r) for r in self.rows]

    def table(self) -> str:
        from ..report.markdown import chain_table

        return chain_table(self.to_json())
