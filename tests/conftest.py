import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def recordings():
    """All 61 HAPT recordings from the embedded package (real data, ~2 s)."""
    from edgehar.data.sources import load_package

    return load_package()


@pytest.fixture(scope="session")
def small_recordings(recordings):
    """Two train-subject and one test-subject recordings, cut to ~4 minutes each."""
    from edgehar.data.sources import Recording

    picks = [r for r in recordings if r.user in (1, 2, 5)][:3]
    return [Recording(r.experiment, r.user, r.raw[:12000], r.labels[:12000]) for r in picks]


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
