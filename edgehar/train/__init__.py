"""Training side: model registry, training loop, metrics and reports (needs torch)."""
