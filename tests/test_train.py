"""Registry, deterministic training on a real slice, run-dir outputs."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from edgehar.runtime.errors import EdgeharError
from edgehar.train.models import count_macs, count_params
from edgehar.train.registry import create_model, list_models, register_model

pytestmark = pytest.mark.slow


def test_registry_rejects_duplicates_and_unknown_names():
    with pytest.raises(ValueError, match="already registered"):
        @register_model
        def resnext1d_small():  # noqa: F811 - the point is the clash
            pass
    with pytest.raises(EdgeharError, match="unknown model"):
        create_model("nope")


def test_variants_shapes_and_sizes():
    names = list_models()
    assert {"resnext1d_tiny", "resnext1d_small", "resnext2d_seed"} <= set(names)
    for name in names:
        m = create_model(name).eval()
        assert m(torch.zeros(3, 128, 9)).shape == (3, 6)
    assert count_params(create_model("resnext1d_tiny")) < 100_000
    seed = create_model("resnext2d_seed")
    assert 400_000 < count_params(seed) < 1_100_000 and count_macs(seed) > 40e6
    grouped = [m for m in create_model("resnext1d_small").modules()
               if isinstance(m, torch.nn.Conv1d) and m.groups > 1]
    assert grouped and all(m.groups == 8 for m in grouped)


@pytest.fixture(scope="module")
def tiny_splits(recordings):
    from edgehar.data.windows import split, windows_from_recordings

    picks = [r for r in recordings if r.user in (1, 3, 2)]   # train, val, test subjects
    return split(windows_from_recordings(picks))


def _train(tiny_splits, out, seed=0):
    from edgehar.train.trainer import TrainConfig, train

    cfg = TrainConfig(model="resnext1d_tiny", epochs=4, seed=seed, max_windows=600)
    return train(cfg, out, splits=tiny_splits, progress=False)


def test_same_seed_same_metrics_and_run_dir(tiny_splits, tmp_path):
    a = _train(tiny_splits, tmp_path / "a")
    b = _train(tiny_splits, tmp_path / "b")
    assert a["accuracy"] == b["accuracy"] and a["confusion"] == b["confusion"]
    wa = torch.load(tmp_path / "a" / "weights.pt", weights_only=True)
    wb = torch.load(tmp_path / "b" / "weights.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    for f in ("weights.pt", "config.json", "metrics.json", "confusion.png", "curves.png"):
        assert (tmp_path / "a" / f).stat().st_size > 0
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["data"]["subjects"] == {"train": [1], "val": [3], "test": [2]}   # as trained
    assert len(cfg["normalization"]["mean"]) == 9
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert {"accuracy", "macro_f1", "macro_precision", "macro_recall", "per_class_accuracy",
            "confusion", "params", "macs", "latency_ms"} <= set(m)
    assert np.array(m["confusion"]).sum() == m["n"]
    # four epochs on 600 windows already beat chance (1/6) by far, heading augmentation and all
    assert a["accuracy"] > 0.3


def test_normalization_comes_from_train_windows_only(tiny_splits, tmp_path):
    _train(tiny_splits, tmp_path / "r")
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    from edgehar.data.windows import cap_windows

    tr = cap_windows(tiny_splits["train"], 600, 0)
    np.testing.assert_allclose(cfg["normalization"]["mean"], tr.x.mean((0, 1)), rtol=1e-5)
