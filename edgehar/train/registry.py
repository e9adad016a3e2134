"""Model registry: one decorator, a duplicate name is an error (as torchvision does).

It imports nothing: ``edgehar.train`` imports the model modules, which register themselves."""

from __future__ import annotations

from collections.abc import Callable

_MODELS: dict[str, Callable] = {}
DEFAULT_MODEL = "resnext1d_small"


def register_model(fn: Callable) -> Callable:
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, **overrides):
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}")
    return _MODELS[name](**overrides)
