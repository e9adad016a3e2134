"""Training side: model registry, training loop, metrics and reports (needs torch)."""

from . import models  # noqa: F401  (registers the built-in variants)
