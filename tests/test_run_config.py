"""The typed run config: the one reader and writer of a run's config.json; runs written by the
0.1.0 release (no schema_version, the labels and the data spec stored twice) still load."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from edgehar.runtime.errors import EdgeharError
from edgehar.runtime.run_config import RUN_CONFIG, RUN_CONFIG_SCHEMA, CvFold, RunConfig

# config.json of a 1-epoch resnext1d_tiny run (300 windows per split) as the 0.1.0 trainer
# wrote it
RELEASE_RUN = Path(__file__).parent / "fixtures" / "release_v1" / "run_config.json"


@pytest.fixture()
def release_dict() -> dict:
    return json.loads(RELEASE_RUN.read_text())


def test_a_released_run_config_loads_with_the_same_facts(release_dict, tmp_path):
    old = release_dict
    shutil.copy(RELEASE_RUN, tmp_path / RUN_CONFIG)
    c = RunConfig.read(tmp_path)
    assert c.schema_version == 1
    assert c.model == old["model"] == "resnext1d_tiny" and c.model_config == old["model_config"]
    assert c.normalization.to_dict() == old["normalization"]
    assert c.orientation.to_dict() == old["orientation"]
    assert c.spec.to_dict() == old["window_spec"]
    assert c.labels == tuple(old["window_spec"]["labels"]) == c.data.classes
    assert (c.data.window, c.data.hop) == (old["window_spec"]["window"], old["window_spec"]["hop"])
    spec = old["data"]["spec"]
    assert c.data.source == old["data"]["source"] == spec["source"]
    assert list(c.data.test_subjects) == spec["test_subjects"]
    assert list(c.data.val_subjects) == spec["val_subjects"]
    assert (c.data.task, c.data.split_seed) == (spec["task"], spec["split_seed"])
    assert c.subjects == old["data"]["subjects"] and c.windows == old["data"]["windows"]
    assert c.recipe == {k: v for k, v in old["train"].items() if k != "data"}
    assert c.selection.to_dict() == old["selection"] and c.fine_tune is None
    assert (c.train_seconds, c.torch, c.cv_fold) == (old["train_seconds"], old["torch"], None)
    assert not c.trained_on_val   # trained with select=val_loss


def test_todays_layout_round_trips_and_stores_each_fact_once(release_dict, tmp_path):
    c = RunConfig.from_dict(release_dict)
    c.write(tmp_path)
    d = json.loads((tmp_path / RUN_CONFIG).read_text())
    assert d["schema_version"] == RUN_CONFIG_SCHEMA == 2
    again = RunConfig.read(tmp_path)
    assert again == replace(c, schema_version=RUN_CONFIG_SCHEMA) and again.to_dict() == d
    assert not {"classes", "window", "hop"} & set(d["data"])   # the window contract's
    assert "train" not in d and "data" not in d["recipe"]      # the data spec once
    assert d["data"]["source"] == "package" and d["window_spec"]["labels"][0] == "WALKING"


def test_a_fold_model_of_the_release_says_what_it_held_out(release_dict):
    fold = {**{k: release_dict[k] for k in ("model", "model_config", "normalization",
                                            "orientation", "window_spec")},
            "data": {"source": "package", "spec": release_dict["data"]["spec"]},
            "cv_fold": {"index": 1, "held_out": [5, 7], "k": 5, "fold_seed": 0}}
    c = RunConfig.from_dict(fold)
    assert c.cv_fold == CvFold(1, (5, 7), 5, 0)
    assert c.trained_on_val and c.recipe is None and c.subjects is None


def test_the_recipe_reads_back_into_a_train_config(release_dict):
    pytest.importorskip("torch")
    from edgehar.train.trainer import TrainConfig

    c = RunConfig.from_dict(release_dict)
    cfg = TrainConfig.from_run(c)
    assert (cfg.model, cfg.epochs, cfg.seed, cfg.select) == ("resnext1d_tiny", 1, 0, "val_loss")
    assert cfg.data == c.data and cfg.recipe() == c.recipe


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(schema_version=99), "unsupported run config schema_version 99"),
    (lambda d: d.pop("window_spec"), "malformed run config"),
    (lambda d: d["normalization"].pop("std"), "malformed run config"),
    (lambda d: d.update(orientation={"vertical": [0, 0, 0]}), "malformed run config"),
])
def test_bad_run_configs_are_one_clear_error(release_dict, tmp_path, mutate, message):
    mutate(release_dict)
    (tmp_path / RUN_CONFIG).write_text(json.dumps(release_dict))
    with pytest.raises(EdgeharError, match=message) as e:
        RunConfig.read(tmp_path)
    assert str(tmp_path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00garbage", b"[1, 2, 3]"])
def test_a_run_config_that_is_not_a_json_object_is_refused(tmp_path, content):
    (tmp_path / RUN_CONFIG).write_bytes(content)
    with pytest.raises(EdgeharError):
        RunConfig.read(tmp_path)
    with pytest.raises(EdgeharError, match="missing"):
        RunConfig.read(tmp_path / "nowhere")


def test_where_the_vertical_came_from_round_trips_and_older_layouts_stay_as_they_were():
    from edgehar.runtime.run_config import Orientation

    kept = Orientation((0.976739, -0.192174, -0.095129), True, "init", 0)
    assert Orientation.from_dict(kept.to_dict()) == kept
    assert kept.to_dict()["vertical_from"] == "init" and kept.to_dict()["active_windows"] == 0
    old = {"vertical": [1.0, 0.0, 0.0], "heading_invariant": True}
    assert Orientation.from_dict(old).to_dict() == old
