import numpy as np

from edgehar.runtime.metrics import LatencyHistogram, classification_report, confusion
from edgehar.runtime.spec import LABELS


def test_latency_histogram_percentiles_within_half_a_percent(rng):
    x = rng.lognormal(0.0, 1.0, 20000)
    h = LatencyHistogram()
    for v in x:
        h.add(float(v))
    for q in (50, 90, 99):
        assert abs(h.percentile(q) / np.percentile(x, q) - 1) < 0.01


def test_report_from_confusion_matches_labels(rng):
    y = rng.integers(0, 6, 500)
    p = np.where(rng.random(500) < 0.8, y, rng.integers(0, 6, 500))
    r = classification_report(y, p, LABELS)
    assert r["n"] == 500 and abs(r["accuracy"] - (y == p).mean()) < 1e-12
    assert np.array_equal(np.array(r["confusion"]), confusion(y, p, 6))
    f1 = []
    for c in range(6):
        tp = ((p == c) & (y == c)).sum()
        prec, rec = tp / max((p == c).sum(), 1), tp / max((y == c).sum(), 1)
        f1.append(0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    assert abs(r["macro_f1"] - np.mean(f1)) < 1e-12
