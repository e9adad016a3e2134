"""Device orientation: bring a stream from the phone's frame into the training frame.

Rotation commutes with the linear per-channel filters, so rotating the three 3-vectors of a
preprocessed window (body_acc, body_gyro, total_acc) equals preprocessing a rotated stream.
``auto`` estimates, per stream, the rotation that takes gravity *while the wearer moves* (walking
is upright by definition, so that gravity is the body's vertical) onto the training data's
vertical. The heading about the vertical is left free: the shipped model is trained with
random rotations about the vertical, so it does not depend on it. Gravity alone tells LAYING
from STANDING once the vertical is known, which one window under an unknown rotation cannot.

Modes (``MODES``):
- ``fixed``: windows as recorded.
- ``running``: ``RunningOrientation``, the estimate from the walking seen so far, used once it
  has settled; the windows before that are classified in the phone's frame. What a live stream
  can do (it has no future), so ``auto`` on a stream (``StreamEngine``) means ``running``.
- ``auto`` on a log on disk (one-log and fleet replay): ``WholeLogOrientation``, one rotation
  from ALL of the log's walking windows, applied to every window from the first
  (``runtime/whole_log.py`` reads the log twice to know it before the first window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spec import HOP, SAMPLE_RATE, WINDOW

# std of |total acc| (g) inside one window above which the wearer is moving; standing, sitting
# and laying windows of the UCI-HAR subjects stay under 0.02 g, walking is above 0.1 g.
ACTIVE_STD_G = 0.08
SETTLE_WINDOWS = 8       # walking windows (~10 s) before the estimate is used
# Training-frame vertical of the UCI-HAR recordings (mean gravity over the train subjects'
# active windows): the fallback for bundles whose manifest does not state their own.
UCI_VERTICAL = (0.9764, -0.1933, -0.0963)
MODES = ("fixed", "auto", "running")
# auto, by measurement on the validation subjects: it costs upright recordings next to nothing
# and brings randomly rotated ones from chance to the upright accuracy (docs/experiments/, "Field logs")
DEFAULT_ORIENTATION = "auto"


def active_windows(windows: np.ndarray) -> np.ndarray:
    """(n, t, 9) preprocessed windows -> (n,) bool: the wearer moves in this window."""
    return moving(windows[..., 6:9])


def moving(total: np.ndarray) -> np.ndarray:
    """(n, t, 3) total acceleration windows (g) -> (n,) bool: the wearer moves in this window."""
    return np.sqrt(np.einsum("ntc,ntc->nt", total, total)).std(axis=1) > ACTIVE_STD_G


class WalkingRule:
    """Walking = sustained motion: a window and the two before it active (a postural transition
    or a stumble lasts one or two windows, and its gravity is not the body's vertical). The
    windows before a gap in the stream do not count for the ones after it."""

    def __init__(self):
        self.after_gap()

    def after_gap(self) -> None:
        self.recent = [False, False]    # activity of the two windows before the next one

    def __call__(self, act: np.ndarray) -> np.ndarray:
        ext = np.concatenate([self.recent, act])
        self.recent = [bool(v) for v in ext[-2:]]
        return act & ext[1:-1] & ext[:-2]


def vertical_of(windows: np.ndarray) -> np.ndarray:
    """Unit mean gravity over the active windows (all windows if none is active)."""
    act = active_windows(windows)
    g = windows[act if act.any() else slice(None)][..., 6:9].mean(axis=(0, 1))
    return g / np.linalg.norm(g)


def rotations_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 3, 3): for each row of ``a`` (n, 3), the smallest rotation R with R @ a == b."""
    a = np.asarray(a, float)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = np.asarray(b, float) / np.linalg.norm(b)
    v, c = np.cross(a, b), a @ b
    zero = np.zeros(len(a))
    k = np.stack([np.stack([zero, -v[:, 2], v[:, 1]], 1),
                  np.stack([v[:, 2], zero, -v[:, 0]], 1),
                  np.stack([-v[:, 1], v[:, 0], zero], 1)], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rots = np.eye(3) + k + (k @ k) / (1 + c)[:, None, None]
    for i in np.flatnonzero(c < -1 + 1e-9):   # opposite: half a turn about an orthogonal axis
        axis = np.cross(a[i], [1.0, 0.0, 0.0] if abs(a[i, 0]) < 0.9 else [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        rots[i] = 2 * np.outer(axis, axis) - np.eye(3)
    return rots


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation R with R @ a == b for unit vectors a, b."""
    return rotations_between(np.asarray(a, float)[None], b)[0]


def rotate_windows(windows: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Apply one (3, 3) rotation, or one per window (n, 3, 3), to each sensor triple."""
    rt = np.swapaxes(rot, -1, -2).astype(np.float32)
    n, t, c = windows.shape
    triples = np.ascontiguousarray(windows).reshape(n, t * (c // 3), 3)   # rows: one 3-vector
    return (triples @ rt).reshape(n, t, c)


@dataclass
class OrientationState:
    mode: str
    settled_at_s: float | None
    rotation: list[list[float]]
    walking_windows: int

    def to_dict(self) -> dict:
        return {"mode": self.mode, "settled_at_s": self.settled_at_s, "rotation": self.rotation,
                "walking_windows": self.walking_windows}


class RunningOrientation:
    """Running estimate of the device-to-training-frame rotation of one stream (``running``).

    A window counts as walking by ``WalkingRule``. After ``settle`` such windows (about 10 s of
    walking) the estimate is
    used and keeps improving with every further walking window; until then the stream is used
    as recorded. Both choices were made on the validation subjects: estimates from fewer
    windows, or a provisional one from all windows before settling, cost accuracy on upright
    recordings (docs/experiments/, "Field logs"). Each window is rotated by the estimate as it
    stood at that window, so the result does not depend on how the stream was chunked."""

    def __init__(self, vertical: tuple[float, ...] = UCI_VERTICAL, rate: int = SAMPLE_RATE,
                 hop: int = HOP, window: int = WINDOW, settle: int = SETTLE_WINDOWS):
        self.vertical = np.asarray(vertical, float) / np.linalg.norm(vertical)
        self.rate, self.hop, self.window, self.settle = rate, hop, window, settle
        self.reset()

    def reset(self) -> None:
        self._sum = np.zeros(3)
        self._count = 0
        self._walking = WalkingRule()
        self._rot = np.eye(3)
        self.settled_at_s: float | None = None
        self._settled_start: int | None = None

    def after_gap(self) -> None:
        """The stream was split: windows before the gap do not make the next one 'sustained'."""
        self._walking.after_gap()

    def __call__(self, windows: np.ndarray, starts: np.ndarray) -> np.ndarray:
        if not len(windows):
            return windows
        walking = self._walking(active_windows(windows))
        g = windows[..., 6:9].mean(axis=1).astype(float) * walking[:, None]
        sums = self._sum + np.cumsum(g, axis=0)
        counts = self._count + np.cumsum(walking)
        # the estimate is updated at each settled walking window and held in between
        update = np.flatnonzero(walking & (counts >= self.settle))
        held = np.concatenate([self._rot[None], rotations_between(sums[update], self.vertical)])
        rots = held[np.searchsorted(update, np.arange(len(windows)), side="right")]
        if len(update):
            self._rot = held[-1]
            if self.settled_at_s is None:
                first = int(starts[update[0]])
                self.settled_at_s = (first + self.window) / self.rate
                self._settled_start = first
        self._sum, self._count = sums[-1], int(counts[-1])
        return rotate_windows(windows, rots)

    def settled_window_start(self) -> int | None:
        """Start of the window at which the estimate settled (later windows are 'settled')."""
        return self._settled_start

    def state(self) -> dict:
        return OrientationState("running", self.settled_at_s,
                                np.round(self._rot, 6).tolist(), self._count).to_dict()


AutoOrientation = RunningOrientation   # its name before whole-log ``auto`` (stream-model code)


class WholeLogOrientation:
    """One rotation for every window of a log (``auto`` on a log on disk).

    ``fit`` takes what the first pass over the log gathered: the summed mean gravity of all its
    walking windows (``WalkingRule``, ``moving``: the same windows ``RunningOrientation`` would
    have used; its final rotation is this one), their count and the first one's start. With
    fewer than ``settle`` walking windows (~10 s) the log is replayed as recorded and the state
    says why. ``known`` builds one from a rotation already estimated (to replay a log again with
    it, or a stream whose device frame is known)."""

    mode = "auto"

    def __init__(self, vertical: tuple[float, ...] = UCI_VERTICAL, rate: int = SAMPLE_RATE,
                 hop: int = HOP, settle: int = SETTLE_WINDOWS):
        self.vertical = np.asarray(vertical, float) / np.linalg.norm(vertical)
        self.rate, self.hop, self.settle = rate, hop, settle
        self.rotation: np.ndarray | None = None     # None: replayed as recorded
        self.walking_windows = 0
        self.first_walking_start: int | None = None
        self.fitted = False

    @classmethod
    def known(cls, rotation: np.ndarray) -> WholeLogOrientation:
        o = cls()
        o.rotation, o.fitted = np.asarray(rotation, float), True
        return o

    def fit(self, gravity_sum: np.ndarray, walking_windows: int,
            first_walking_start: int | None) -> None:
        self.walking_windows, self.first_walking_start = walking_windows, first_walking_start
        self.fitted = True
        if walking_windows >= self.settle:
            self.rotation = rotation_between(np.asarray(gravity_sum, float), self.vertical)

    @property
    def walking_s(self) -> float:
        """Seconds of walking behind the estimate: each walking window adds one hop."""
        return self.walking_windows * self.hop / self.rate

    def not_estimated(self) -> str | None:
        """Why the log is replayed as recorded (None when it is not)."""
        if self.rotation is not None:
            return None
        need = self.settle * self.hop / self.rate
        return f"{self.walking_s:.0f} s of walking, need ~{need:.0f} s"

    def reset(self) -> None:
        """Nothing to forget: the rotation belongs to the log, not to a stream position."""

    def after_gap(self) -> None:
        """The phone is still where it was: the same rotation after a gap."""

    def settled_window_start(self) -> int | None:
        return None   # every window is in the estimated frame: none is "before settling"

    def __call__(self, windows: np.ndarray, starts: np.ndarray) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError("WholeLogOrientation used before the first pass fitted it")
        if self.rotation is None or not len(windows):
            return windows
        return rotate_windows(windows, self.rotation)

    def state(self) -> dict:
        """Summary key ``orientation``. ``settled_at_s``: the start (s) of the first walking
        window that fed the estimate, where the walking that fixed it began."""
        est = self.rotation is not None
        first = self.first_walking_start
        out = {"mode": self.mode, "estimated": est,
               "settled_at_s": first / self.rate if est and first is not None else None,
               "rotation": np.round(self.rotation, 6).tolist() if est else None,
               "walking_windows": self.walking_windows,
               "walking_s": round(self.walking_s, 2)}
        if not est:
            out["reason"] = f"not estimated ({self.not_estimated()}): replayed as recorded"
        return out
