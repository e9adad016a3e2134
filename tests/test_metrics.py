"""edgehar.runtime.metrics against scikit-learn, and the latency histogram against numpy."""

import numpy as np
import pytest

from edgehar.runtime.metrics import (
    LatencyHistogram,
    classification_report,
    confusion,
    report_from_confusion,
)


@pytest.fixture(scope="module")
def skm():
    return pytest.importorskip("sklearn.metrics")


def _names(k: int) -> list[str]:
    return [f"class{c}" for c in range(k)]


def assert_matches_sklearn(skm, y: np.ndarray, p: np.ndarray, k: int) -> None:
    everything = list(range(k))
    r = classification_report(y, p, _names(k))
    assert r["n"] == len(y)
    np.testing.assert_array_equal(confusion(y, p, k), skm.confusion_matrix(y, p, labels=everything))
    np.testing.assert_array_equal(r["confusion"], skm.confusion_matrix(y, p, labels=everything))
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    # Per class over all k classes: a class never predicted has precision 0, a class absent from
    # y_true recall 0 (zero_division=0, as edgehar defines them).
    prec, rec, f1, _ = skm.precision_recall_fscore_support(y, p, labels=everything, average=None,
                                                           zero_division=0)
    np.testing.assert_allclose(list(r["per_class_accuracy"].values()), rec, atol=1e-12)
    np.testing.assert_allclose(list(r["per_class_f1"].values()), f1, atol=1e-12)
    assert list(r["per_class_f1"]) == _names(k)
    # edgehar's macro averages over the classes present in y_true (a class the test split lacks
    # must not pull the mean down), so sklearn gets labels= those classes: its per-class counts
    # do not depend on `labels`, only which classes enter the mean.
    present = np.unique(y).tolist()
    mp, mr, mf, _ = skm.precision_recall_fscore_support(y, p, labels=present, average="macro",
                                                        zero_division=0)
    assert r["macro_precision"] == pytest.approx(mp, abs=1e-12)
    assert r["macro_recall"] == pytest.approx(mr, abs=1e-12)
    assert r["macro_f1"] == pytest.approx(mf, abs=1e-12)
    assert r["macro_f1"] == pytest.approx(
        skm.f1_score(y, p, labels=present, average="macro", zero_division=0), abs=1e-12)
    assert r == report_from_confusion(skm.confusion_matrix(y, p, labels=everything), _names(k))


@pytest.mark.parametrize("seed", range(20))
def test_random_labels_match_sklearn(skm, seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 9))
    n = int(rng.integers(1, 400))
    y = rng.integers(0, k, n)
    # 0 %, some or most predictions right, so precision/recall vary over the whole range
    p = np.where(rng.random(n) < rng.choice([0.0, 0.5, 0.9]), y, rng.integers(0, k, n))
    assert_matches_sklearn(skm, y, p, k)


@pytest.mark.parametrize("y,p,k", [
    pytest.param([0, 1, 2, 0, 1, 2], [0, 1, 1, 0, 1, 1], 3, id="class-never-predicted"),
    pytest.param([0, 0, 1, 1, 1], [0, 2, 1, 1, 2], 3, id="predicted-class-absent-from-y_true"),
    pytest.param([0, 1, 4, 4], [0, 1, 4, 3], 6, id="several-classes-absent-from-both"),
    pytest.param([3, 3, 3, 3], [3, 3, 3, 3], 6, id="one-class-all-right"),
    pytest.param([3, 3, 3, 3], [0, 1, 2, 5], 6, id="one-class-all-wrong"),
    pytest.param([1, 0, 1, 0], [0, 1, 0, 1], 2, id="every-prediction-wrong"),
    pytest.param([5], [5], 6, id="single-window-right"),
    pytest.param([5], [2], 6, id="single-window-wrong"),
    pytest.param(list(range(6)) * 50, list(range(6)) * 50, 6, id="perfect"),
])
def test_edge_cases_match_sklearn(skm, y, p, k):
    assert_matches_sklearn(skm, np.array(y), np.array(p), k)


def test_any_labels_match_sklearn(skm):
    """Hypothesis searches small label lists, where zero divisions and absent classes hide."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    cases = st.integers(2, 7).flatmap(lambda k: st.tuples(
        st.just(k), st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)),
                             min_size=1, max_size=40)))

    @hypothesis.settings(max_examples=150, deadline=None, database=None)
    @hypothesis.given(cases)
    def check(case):
        k, pairs = case
        y, p = np.array(pairs).T
        assert_matches_sklearn(skm, y, p, k)

    check()


def test_streamed_confusion_gives_the_report_of_all_labels(skm, rng):
    """A replay adds one confusion per chunk; the sum scores like all labels at once."""
    y = rng.integers(0, 6, 1000)
    p = np.where(rng.random(1000) < 0.8, y, rng.integers(0, 6, 1000))
    cm = sum(confusion(y[i:i + 77], p[i:i + 77], 6) for i in range(0, 1000, 77))
    assert report_from_confusion(cm, _names(6)) == classification_report(y, p, _names(6))
    assert report_from_confusion(cm, _names(6))["macro_f1"] == pytest.approx(
        skm.f1_score(y, p, average="macro"), abs=1e-12)


def test_latency_histogram_percentiles_within_half_a_percent(rng):
    x = rng.lognormal(0.0, 1.0, 20000)
    h = LatencyHistogram()
    for v in x:
        h.add(float(v))
    for q in (50, 90, 99):
        assert abs(h.percentile(q) / np.percentile(x, q) - 1) < 0.005, q
