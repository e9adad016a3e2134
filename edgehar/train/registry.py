"""Model registry: one decorator, a duplicate name is an error (as torchvision does), and a
user's own model named ``package.module:factory``.

It imports no model module (only the error type): ``edgehar.train`` imports the model modules,
which register themselves."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..runtime.errors import EdgeharError

_MODELS: dict[str, Callable] = {}
DEFAULT_MODEL = "resnext1d_small"


@dataclass(frozen=True)
class ModelIO:
    """What every model takes and gives: (batch, window, channels) -> (batch, classes).
    Training passes its data spec's; the defaults (for ``create_model(name)`` alone) are the
    runtime's default WindowSpec, written out because the registry imports nothing."""

    window: int = 128
    channels: int = 9
    classes: int = 6


def register_model(fn: Callable) -> Callable:
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_MODELS)


def is_user_factory(name: str) -> bool:
    return ":" in name


def resolve_factory(name: str) -> Callable:
    """A registered name, or ``package.module:factory`` imported from the installed packages or
    the current directory (as uvicorn and gunicorn resolve ``module:app``)."""
    if not is_user_factory(name):
        if name not in _MODELS:
            raise EdgeharError(None, f"unknown model {name!r}; known: {', '.join(list_models())}"
                                     " (or give your own as package.module:factory)")
        return _MODELS[name]
    module_name, _, attr = name.partition(":")
    if not module_name or not attr.isidentifier():
        raise EdgeharError(None, f"--model {name!r}: give package.module:factory")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:   # for this import only: a local onnx.py must not shadow the real one later
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the user's module: any import error is theirs to read
        raise EdgeharError(None, f"--model {name!r}: cannot import {module_name} "
                                 f"({type(e).__name__}: {e}); run from where it imports") from None
    finally:
        if added:
            sys.path.remove(cwd)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise EdgeharError(None, f"--model {name!r}: {module_name} has no callable {attr!r}")
    return fn


def create_model(name: str, io: ModelIO | None = None, **kwargs):
    """Build ``name`` for ``io``; the factory receives num_classes, in_channels and window when
    its signature takes them, then ``kwargs``. The model is checked on a dummy batch so a wrong
    output shape fails here, not at export."""
    import torch

    io = io or ModelIO()
    fn = resolve_factory(name)
    shape_kw = {"num_classes": io.classes, "in_channels": io.channels, "window": io.window}
    params = inspect.signature(fn).parameters
    takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kw = {k: v for k, v in shape_kw.items() if takes_all or k in params}
    try:
        model = fn(**kw, **kwargs)
    except Exception as e:
        raise EdgeharError(None, f"model {name!r}: the factory failed ({type(e).__name__}: {e})"
                           ) from None
    if not isinstance(model, torch.nn.Module):
        raise EdgeharError(None, f"model {name!r}: the factory returned "
                                 f"{type(model).__name__}, not a torch.nn.Module")
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, io.window, io.channels))
    except Exception as e:
        raise EdgeharError(None, f"model {name!r} fails on a (2, {io.window}, {io.channels}) "
                                 f"window batch ({type(e).__name__}: {e})") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, io.classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise EdgeharError(None, f"model {name!r} must map (batch, {io.window}, {io.channels}) "
                                 f"windows to (batch, {io.classes}) logits; it gave {got}")
    model.train()
    # what the exporter, the MAC counter and the loaders need, whatever the model's own fields
    model.har_io = io
    model.har_factory = {"factory": name, "kwargs": dict(kwargs)}
    return model


def io_of(model) -> ModelIO:
    io = getattr(model, "har_io", None)
    if io is not None:
        return io
    cfg = model.cfg   # a HarResNeXt built directly from its config
    return ModelIO(cfg.window, cfg.in_channels, cfg.num_classes)
