"""Training side: model registry, training loop, metrics and reports (needs torch)."""

from . import models, peers  # noqa: F401  (register the built-in models)
