"""Data sources, windows and the subject split (needs numpy only)."""

from .sources import Recording, WindowSet, load_hapt_dir, load_package, load_uci_dir
from .windows import SPLITS, TEST_SUBJECTS, VAL_SUBJECTS, Source, split

__all__ = ["Recording", "WindowSet", "load_hapt_dir", "load_package", "load_uci_dir", "SPLITS",
           "TEST_SUBJECTS", "VAL_SUBJECTS", "Source", "split"]
