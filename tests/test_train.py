"""Registry, deterministic training on a real slice, run-dir outputs."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from edgehar.runtime.errors import EdgeharError
from edgehar.runtime.run_config import RunConfig
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


def test_the_registry_default_shape_is_the_default_window_contract():
    from edgehar.runtime.spec import WindowSpec
    from edgehar.train.registry import ModelIO

    spec = WindowSpec()
    assert ModelIO() == ModelIO(spec.window, len(spec.channels), len(spec.labels))


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
    cfg = RunConfig.read(tmp_path / "a")
    assert cfg.subjects == {"train": [1], "val": [3], "test": [2]}   # as trained
    assert len(cfg.normalization.mean) == 9 and cfg.recipe["epochs"] == 4
    assert not cfg.trained_on_val and cfg.selection.epochs_run == 4
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert {"accuracy", "macro_f1", "macro_precision", "macro_recall", "per_class_accuracy",
            "confusion", "params", "macs", "latency_ms"} <= set(m)
    assert np.array(m["confusion"]).sum() == m["n"]
    # four epochs on 600 windows already beat chance (1/6) by far, heading augmentation and all
    assert a["accuracy"] > 0.3


def test_normalization_comes_from_train_windows_only(tiny_splits, tmp_path):
    _train(tiny_splits, tmp_path / "r")
    cfg = RunConfig.read(tmp_path / "r")
    from edgehar.data.windows import cap_windows

    tr = cap_windows(tiny_splits["train"], 600, 0)
    np.testing.assert_allclose(cfg.normalization.mean, tr.x.mean((0, 1)), rtol=1e-5)


def test_cross_validation_folds_cover_the_training_subjects_only(tmp_path):
    from edgehar.train.cv import cross_validate, folds_of
    from edgehar.train.trainer import TrainConfig

    folds = folds_of(list(range(1, 22)), 5)
    assert sorted(s for f in folds for s in f) == list(range(1, 22))
    assert {len(f) for f in folds} == {4, 5}
    with pytest.raises(EdgeharError, match="at least"):
        folds_of([1, 2], 3)
    cfg = TrainConfig(model="resnext1d_tiny", epochs=1, max_windows=400, select="last")
    res = cross_validate(cfg, 3, out=tmp_path / "cv.json", save_models=tmp_path / "m",
                         log=lambda *_: None)
    held = [s for f in res["folds"] for s in f["subjects"]]
    test_subjects = {2, 4, 9, 10, 12, 13, 18, 20, 24}
    assert len(held) == len(set(held)) and not set(held) & test_subjects
    assert json.loads((tmp_path / "cv.json").read_text())["k"] == 3
    fold = RunConfig.read(tmp_path / "m" / "fold0")
    assert list(fold.cv_fold.held_out) == res["folds"][0]["subjects"] and fold.trained_on_val
    assert 0 < res["mean_accuracy"] <= 1 and res["folds"][0]["windows"] > 0
    # a teacher trained on every subject would have seen the held-out fold
    leaky = TrainConfig(model="resnext1d_tiny", epochs=1, max_windows=400, select="last",
                        teachers=(str(tmp_path / "m" / "fold0"),))
    with pytest.raises(EdgeharError, match="fold's own"):
        cross_validate(leaky, 3, log=lambda *_: None)
    # the fold's own teacher (saved above) distils without leaking
    kd = TrainConfig(model="resnext1d_tiny", epochs=1, max_windows=400, select="last",
                     teachers=(str(tmp_path / "m" / "fold{fold}"),))
    assert cross_validate(kd, 3, log=lambda *_: None)["k"] == 3
    # another split of the subjects: the fold models saved above held out other subjects
    with pytest.raises(EdgeharError, match="would leak"):
        cross_validate(kd, 3, fold_seed=1, log=lambda *_: None)
    with pytest.raises(EdgeharError, match="keeps each fold's last epoch"):
        cross_validate(TrainConfig(model="resnext1d_tiny", epochs=1), 3, log=lambda *_: None)


def test_last_epoch_recipe_trains_on_validation_subjects_with_an_ema(tiny_splits, tmp_path):
    from edgehar.train.checkpoint import load_run
    from edgehar.train.trainer import TrainConfig, train

    cfg = TrainConfig(model="resnext1d_tiny", epochs=2, max_windows=600, ema=0.9, select="last")
    train(cfg, tmp_path / "r", splits=tiny_splits, progress=False)
    config = RunConfig.read(tmp_path / "r")
    assert config.subjects["train"] == [1, 3] and config.subjects["val"] == []
    assert config.selection.best_epoch == 2 and "last epoch" in config.selection.criterion
    assert config.trained_on_val
    model, _, _ = load_run(tmp_path / "r")   # the average, BatchNorm buffers included, reloads
    assert model(torch.zeros(2, 128, 9)).shape == (2, 6)
    from edgehar.evaluate_any import evaluate_path

    with pytest.raises(EdgeharError, match="trained on its validation subjects"):
        evaluate_path(tmp_path / "r", "val")
    with pytest.raises(EdgeharError, match="--ema"):
        train(TrainConfig(model="resnext1d_tiny", ema=1.0), tmp_path / "bad", splits=tiny_splits)
    assert not (tmp_path / "bad").exists()


def test_mixup_blends_windows_and_labels_deterministically(tiny_splits, tmp_path):
    from edgehar.train.trainer import TrainConfig, _blend, _mixup_draw, train

    lam, other = _mixup_draw(1000, 0.2, np.random.default_rng(0))
    assert lam.min() >= 0.5 and lam.max() <= 1 and sorted(other.tolist()) == list(range(1000))
    x = torch.arange(6.0).reshape(3, 2, 1)
    mixed = _blend(x, torch.tensor([1.0, 0.5, 0.75]), torch.tensor([2, 0, 1]))
    np.testing.assert_allclose(mixed[:, 0, 0].numpy(), [0, 1, 3.5])   # 4*.75 + 2*.25 = 3.5
    cfg = TrainConfig(model="resnext1d_tiny", epochs=2, max_windows=600, mixup_alpha=0.2)
    a = train(cfg, tmp_path / "a", splits=tiny_splits, progress=False)
    b = train(cfg, tmp_path / "b", splits=tiny_splits, progress=False)
    assert a["confusion"] == b["confusion"]
    wa = torch.load(tmp_path / "a" / "weights.pt", weights_only=True)
    wb = torch.load(tmp_path / "b" / "weights.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    from dataclasses import replace

    train(replace(cfg, mixup_alpha=0.0), tmp_path / "off", splits=tiny_splits, progress=False)
    woff = torch.load(tmp_path / "off" / "weights.pt", weights_only=True)
    assert not all(torch.equal(wa[k], woff[k]) for k in wa)
    with pytest.raises(EdgeharError, match="mixup_alpha"):
        train(replace(cfg, mixup_alpha=-1.0), tmp_path / "bad", splits=tiny_splits)
    train(replace(cfg, mixup_alpha=0.0, aug_shift=True), tmp_path / "shift", splits=tiny_splits,
          progress=False)
    wshift = torch.load(tmp_path / "shift" / "weights.pt", weights_only=True)
    assert not all(torch.equal(wshift[k], woff[k]) for k in wa)


def test_time_shift_cuts_windows_from_the_stream_between_the_grid():
    """A shifted window is the recording's samples from its new start, never across a label
    change, another recording or a gap; windows without a successor stay where they are."""
    from edgehar.data.sources import WindowSet
    from edgehar.train.trainer import shift_windows, successors

    stream = np.arange(1000.0, dtype=np.float32)[:, None].repeat(9, 1)
    starts = np.array([0, 64, 128, 192, 256, 320, 448, 0, 64])
    x = np.stack([stream[s:s + 128] for s in starts]) + np.repeat([0, 5000], [7, 2])[:, None, None]
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0])              # a label change after window 2
    exp = np.array([1] * 7 + [2] * 2)                      # a second recording
    ws = WindowSet(x, y, np.ones(9, np.int64), exp, starts)
    nxt, gap = successors(ws)
    assert nxt.tolist() == [1, 2, -1, 4, 5, -1, -1, 8, -1]  # 320 -> 448 leaves a gap
    assert gap[nxt >= 0].tolist() == [64] * 5
    seen = set()
    xt = torch.from_numpy(x)
    for k in range(50):
        idx = torch.arange(9)
        out = shift_windows(xt, idx, nxt, gap, np.random.default_rng(k)).numpy()
        d = out[:, 0, 0] - x[:, 0, 0]                      # how far each window moved
        np.testing.assert_array_equal(out, x[:, :1, :] + d[:, None, None]
                                      + np.arange(128.0)[None, :, None])
        assert (d[nxt < 0] == 0).all() and d.min() >= 0 and d.max() < 64
        seen |= set(d[nxt >= 0].tolist())
    assert len(seen) > 55                                  # every start in between is drawn


def test_time_warp_changes_speed_about_the_centre():
    from edgehar.train.trainer import time_warp

    gen = torch.Generator().manual_seed(0)
    ramp = torch.arange(128.0).reshape(1, 128, 1).repeat(64, 1, 3)
    assert torch.equal(time_warp(ramp, 0.0, gen), ramp)
    warped = time_warp(ramp, 0.2, gen)
    slope = warped[:, 64, 0] - warped[:, 63, 0]            # the speed each window got
    assert 0.8 <= slope.min() < 0.9 and 1.1 < slope.max() <= 1.2
    np.testing.assert_allclose((warped[:, 63, 0] + warped[:, 64, 0]) / 2, 63.5, atol=1e-4)
    assert torch.equal(warped[..., 0], warped[..., 2])     # every channel alike
    assert warped.min() >= 0 and warped.max() <= 127       # edges repeat, never extrapolate


def test_weight_averaging_runs_its_last_epochs_at_a_constant_rate(tiny_splits, tmp_path):
    from edgehar.train.trainer import TrainConfig, train

    cfg = TrainConfig(model="resnext1d_tiny", epochs=3, max_windows=600, select="last",
                      swa_epochs=2, swa_lr=5e-4)
    res = train(cfg, tmp_path / "swa", splits=tiny_splits, progress=False)
    history = json.loads((tmp_path / "swa" / "history.json").read_text())
    # the one-cycle schedule ends within epoch 1 (near zero), then the constant rate
    assert [round(h["lr"], 8) for h in history] == [round(history[0]["lr"], 8), 5e-4, 5e-4]
    assert history[0]["lr"] < 5e-4
    assert res["accuracy"] > 0.3   # the average (BatchNorm re-estimated) is a working model
    from dataclasses import replace

    for bad in ({"ema": 0.99}, {"select": "val_loss"}, {"swa_epochs": 3}):
        with pytest.raises(EdgeharError, match="swa_epochs"):
            train(replace(cfg, **bad), tmp_path / "bad", splits=tiny_splits)
    assert not (tmp_path / "bad").exists()


def test_one_progress_line_per_epoch_at_a_terminal_none_elsewhere(tiny_splits, capsys,
                                                                  monkeypatch):
    """A person at a terminal sees every epoch (loss, accuracy, time left); a script's stderr
    (here pytest's capture, not a terminal) gets nothing."""
    import os
    import pty

    from edgehar.data.windows import cap_windows
    from edgehar.train.trainer import TrainConfig, fit

    tr = cap_windows(tiny_splits["train"], 200, 0)
    va = cap_windows(tiny_splits["val"], 100, 0)
    cfg = TrainConfig(model="resnext1d_tiny", epochs=2)
    fit(cfg, tr, va, ("a",) * 6, progress=True)
    assert capsys.readouterr().err == ""

    leader, follower = pty.openpty()   # a real terminal for stderr
    with open(follower, "w", closefd=True) as tty:
        monkeypatch.setattr("sys.stderr", tty)
        fit(cfg, tr, va, ("a",) * 6, progress=True)
        fit(cfg, tr, va, ("a",) * 6, progress=False)   # asked for none: none
    text = os.read(leader, 65536).decode()
    os.close(leader)
    lines = text.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("training resnext1d_tiny on 200 windows")
    for k, line in enumerate(lines[1:], 1):
        assert line.startswith(f"epoch {k}/2: loss ") and "val loss" in line
        assert "acc" in line and line.endswith("left")
