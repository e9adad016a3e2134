"""Evaluate any artifact on a split: a run dir (torch), a bundle, or one .pt/.onnx/.tflite.

The windows come from the data the artifact was trained on (its run config or bundle manifest
records the data spec and the split) with the labels in the model's order; ``source`` points
that spec at another copy of the data, ``data`` replaces it."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from .runtime.errors import EdgeharError
from .runtime.manifest import MANIFEST, read_manifest
from .runtime.metrics import classification_report
from .runtime.model import load_model
from .runtime.run_config import RUN_CONFIG, RunConfig
from .runtime.spec import DataSpec


def _trained_on(path: Path) -> tuple[DataSpec, bool]:
    """The data spec the artifact was trained on (labels in its output order, its window grid)
    and whether its validation subjects trained it: from its run config, or its bundle's
    manifest (beside a lone model file), or a lone file's own metadata (the built-in data)."""
    if _is_run(path):
        config = RunConfig.read(path)
        return config.data, config.trained_on_val
    bundle = path if path.is_dir() else path.parent
    if (bundle / MANIFEST).is_file():
        m = read_manifest(bundle)
        return replace(m.dataset or DataSpec(), classes=m.labels, window=m.spec.window,
                       hop=m.spec.hop), m.trained_on_val
    spec = load_model(path).spec      # a lone .onnx carries its window contract in its metadata
    return DataSpec(classes=spec.labels, window=spec.window, hop=spec.hop), False


def _is_run(path: Path) -> bool:
    return path.is_dir() and (path / RUN_CONFIG).is_file()


def evaluate_path(path: Path, split: str = "test", source: str | None = None,
                  backend: str | None = None, data: dict | None = None) -> list[dict]:
    """One metrics dict per evaluated model file. ``data``: DataSpec fields that replace the
    artifact's own (another split, other subjects)."""
    from .data.windows import dataset_of_run

    path = Path(path)
    if not path.exists():
        raise EdgeharError(path, "not found")
    trained_on, trained_on_val = _trained_on(path)
    if split == "val" and trained_on_val and not (data or {}).get("val_subjects"):
        raise EdgeharError(path, "this model trained on its validation subjects (--select "
                                 "last): score it on test, or name other --val-subjects")
    ds = dataset_of_run(trained_on, source, overrides=data)
    if split not in ds.splits:
        raise EdgeharError(None, f"unknown split {split!r} (train, val, test)")
    ws = ds.splits[split]
    if _is_run(path):                                              # a training run
        from .train.checkpoint import WEIGHTS, load_run
        from .train.evaluate import write_evaluation

        model, norm, config = load_run(path)
        return [{"file": str(path / WEIGHTS), "format": "torch",
                 **write_evaluation(path, model, norm, ws, split, config.model, ds.classes,
                                   latency=False)}]
    if path.is_dir():                                              # a bundle: every file
        if not (path / MANIFEST).is_file():
            raise EdgeharError(path, "neither a training run nor a model bundle")
        files = [path / f for f in read_manifest(path).model_files()]
        return [_evaluate_file(f, ws, split, None) for f in files]
    if os.path.splitext(path)[1] == ".pt":
        raise EdgeharError(path, "evaluate the run or bundle directory that holds weights.pt")
    return [_evaluate_file(path, ws, split, backend)]


def _evaluate_file(path: Path, ws, split: str, backend: str | None) -> dict:
    model = load_model(path, backend)
    pred = model.logits(ws.x).argmax(1)
    rep = classification_report(ws.y, pred, model.labels)
    return {"file": str(path), "format": model.backend.value, "split": split, **rep}
