"""Evaluate any artifact on a split: a run dir (torch), a bundle, or one .pt/.onnx/.tflite."""

from __future__ import annotations

from pathlib import Path

from .runtime.errors import EdgeharError
from .runtime.manifest import MANIFEST, read_manifest
from .runtime.metrics import classification_report
from .runtime.model import load_model


def evaluate_path(path: Path, split: str = "test", source: str = "package",
                  backend: str | None = None) -> list[dict]:
    """One metrics dict per evaluated model file."""
    from .data.windows import load_splits

    path = Path(path)
    if not path.exists():
        raise EdgeharError(path, "not found")
    splits = load_splits(source)
    if split not in splits:
        raise EdgeharError(None, f"unknown split {split!r} (train, val, test)")
    ws = splits[split]
    if path.is_dir() and (path / "config.json").is_file():      # a training run
        from .train.checkpoint import load_run
        from .train.evaluate import write_evaluation

        model, norm, config = load_run(path)
        return [{"file": str(path / "weights.pt"), "format": "torch",
                 **write_evaluation(path, model, norm, ws, split, config["model"])}]
    if path.is_dir():                                              # a bundle: every file
        if not (path / MANIFEST).is_file():
            raise EdgeharError(path, "neither a training run nor a model bundle")
        files = [path / f for f in read_manifest(path).model_files()]
        return [_evaluate_file(f, ws, split, None) for f in files]
    return [_evaluate_file(path, ws, split, backend)]


def _evaluate_file(path: Path, ws, split: str, backend: str | None) -> dict:
    model = load_model(path, backend)
    pred = model.logits(ws.x).argmax(1)
    rep = classification_report(ws.y, pred, model.labels)
    return {"file": str(path), "format": model.backend.value, "split": split, **rep}
