"""The edgehar runtime: numpy plus one inference backend (LiteRT or ONNX Runtime).

Everything a device needs to turn accelerometer + gyroscope samples into activity predictions:
the one preprocessing (causal filters with carried state, sliding windows), model loading with
manifest checks, a streaming engine and log replay. Nothing here imports torch or onnx.
"""

from .engine import Predictions, StreamEngine
from .errors import EdgeharError
from .manifest import Manifest, read_manifest
from .model import Backend, Model, load_model
from .preprocess import Preprocessor, Windower, iter_windows, windows_of
from .sinks import MajorityVote
from .spec import CHANNELS, LABELS, WindowSpec

__all__ = ["Backend", "CHANNELS", "EdgeharError", "LABELS", "MajorityVote", "Manifest", "Model",
           "Predictions", "Preprocessor", "StreamEngine", "Windower", "WindowSpec", "iter_windows",
           "load_model", "read_manifest", "windows_of"]
