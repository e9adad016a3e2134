"""Evaluate any artifact on a split: a run dir (torch), a bundle, or one .pt/.onnx/.tflite.

The windows come from the data the artifact was trained on (its run config or bundle manifest
records the data spec and the split) with the labels in the model's order; ``source`` points
that spec at another copy of the data, ``data`` replaces it."""

from __future__ import annotations

import os
from pathlib import Path

from .runtime.errors import EdgeharError
from .runtime.manifest import MANIFEST, read_manifest
from .runtime.metrics import classification_report
from .runtime.model import load_model


def _config_of(path: Path) -> dict:
    """Run config, or the same facts from a bundle manifest (beside a lone model file)."""
    if path.is_dir() and (path / "config.json").is_file():
        import json

        return json.loads((path / "config.json").read_text())
    bundle = path if path.is_dir() else path.parent
    if (bundle / MANIFEST).is_file():
        return read_manifest(bundle).run_config()
    model = load_model(path)          # a lone .onnx carries its labels in its metadata
    return {"window_spec": model.spec.to_dict(), "data": {"source": "package"}}


def evaluate_path(path: Path, split: str = "test", source: str | None = None,
                  backend: str | None = None, data: dict | None = None) -> list[dict]:
    """One metrics dict per evaluated model file. ``data``: DataSpec fields that replace the
    artifact's own (another split, other subjects)."""
    from .data.windows import dataset_of_run, trained_on_val

    path = Path(path)
    if not path.exists():
        raise EdgeharError(path, "not found")
    config = _config_of(path)
    if split == "val" and trained_on_val(config) and not (data or {}).get("val_subjects"):
        raise EdgeharError(path, "this model trained on its validation subjects (--select "
                                 "last): score it on test, or name other --val-subjects")
    ds = dataset_of_run(config, source, overrides=data)
    if split not in ds.splits:
        raise EdgeharError(None, f"unknown split {split!r} (train, val, test)")
    ws = ds.splits[split]
    if path.is_dir() and (path / "config.json").is_file():      # a training run
        from .train.checkpoint import load_run
        from .train.evaluate import write_evaluation

        model, norm, config = load_run(path)
        return [{"file": str(path / "weights.pt"), "format": "torch",
                 **write_evaluation(path, model, norm, ws, split, config["model"], ds.classes)}]
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
