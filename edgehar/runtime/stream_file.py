"""``model_stream.tflite`` run from raw samples: the state a host carries, held for it.

The file's one signature ``step(samples [1, hop, 6], state [1, S]) -> (probs, ready, state)``
holds the whole pipe (DESIGN.md "Streaming model"); this class is the host loop around it, the
same loop an app, a browser page or a microcontroller writes:

    stream = StreamFile.open("bundle")          # or StreamFile(path, manifest.files[...].stream)
    for hop_samples in sensor:                  # (hop, 6): ax ay az (g), gx gy gz (rad/s)
        probs, ready = stream.step(hop_samples)
        if ready:
            ...                                 # probs: the manifest's label order
    stream.restart_after_gap()                  # after a gap: keep only the orientation estimate
    stream.reset()                              # a new stream: all-zero state

numpy and the LiteRT interpreter only.
"""

from __future__ import annotations

import os
import time

import numpy as np

from .errors import EdgeharError, one_line
from .files import sha256
from .manifest import StreamInfo, read_manifest
from .quiet import silenced_fds

STREAM_FILENAME = "model_stream.tflite"


class StreamFile:
    """One stream through a stream file: ``step`` feeds one hop, the state stays here."""

    def __init__(self, path: str | os.PathLike[str], info: StreamInfo, threads: int = 1,
                 kernels: str = "default"):
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError:
            raise EdgeharError(path, "the stream file needs: pip install ai-edge-litert") from None
        resolver = {"default": OpResolverType.AUTO,
                    "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                    "reference": OpResolverType.BUILTIN_REF}[kernels]
        try:
            with silenced_fds():
                it = Interpreter(model_path=os.fspath(path), num_threads=threads,
                                 experimental_op_resolver_type=resolver)
            self._run = it.get_signature_runner(info.signature)
        except (ValueError, RuntimeError) as e:
            raise EdgeharError(path, f"not a valid stream file ({one_line(e)})") from None
        self.path, self.info = os.fspath(path), info
        self.hop, self.state_size = info.hop, info.state_size
        self.state = np.zeros((1, self.state_size), np.float32)

    @classmethod
    def open(cls, bundle: str | os.PathLike[str], threads: int = 1, kernels: str = "default",
             verify: bool = True) -> StreamFile:
        """The stream file of a bundle directory, checked against its manifest."""
        manifest = read_manifest(bundle)
        entry = manifest.files.get(STREAM_FILENAME)
        path = os.path.join(os.fspath(bundle), STREAM_FILENAME)
        if entry is None or entry.stream is None or not os.path.isfile(path):
            raise EdgeharError(bundle, f"no {STREAM_FILENAME} in this bundle (export --int8 "
                                       "writes it)")
        if verify and sha256(path) != entry.sha256:
            raise EdgeharError(path, "sha256 does not match manifest.json (corrupt or replaced)")
        return cls(path, entry.stream, threads, kernels)

    def step(self, samples: np.ndarray) -> tuple[np.ndarray, bool]:
        """One hop of raw samples (hop, 6) -> (probs (classes,), ready). ``probs`` is a real
        window's only when ``ready`` (from the second step of a stream on)."""
        x = np.asarray(samples, np.float32).reshape(1, self.hop, 6)
        out = self._run(samples=x, state=self.state)
        self.state = out["state"]
        return out["probs"][0], bool(out["ready"][0] > 0.5)

    def restart_after_gap(self) -> None:
        """Zero the state except the orientation estimate, as the runtime restarts its filters
        and windows after a gap and keeps its estimate (the file clears the estimate's recent
        activity flags itself on the next step, as ``WalkingRule.after_gap`` does).

        The file knows no stream index: its windows after the restart start at the first
        sample fed. The runtime's windows start at the first multiple of hop after the gap and
        the samples before that only warm its filters, so a host that wants the runtime's
        window grid feeds from that multiple (the first windows after the gap then differ
        slightly: the filters start in steady state there, not warmed up)."""
        kept = np.zeros_like(self.state)
        if self.info.orientation_slice is not None:
            a, b = self.info.orientation_slice
            kept[:, a:b] = self.state[:, a:b]
        self.state = kept

    def reset(self) -> None:
        """A new stream: the all-zero state."""
        self.state = np.zeros((1, self.state_size), np.float32)


class StreamFileEngine:
    """``StreamEngine``'s interface on a stream file, for ``replay --backend stream``: raw
    samples pushed in chunks of any size go to the file one hop at a time; a window's
    prediction comes out when the file says ``ready``.

    Windows sit on the runtime's grid (starts at multiples of hop): after a restart at stream
    index ``at`` the file is fed from the first multiple of hop from there (the runtime feeds
    the samples before it to its filters only; the first windows after a gap differ by that
    warm-up). Orientation is the file's own (the running estimate, or none for a fixed build)."""

    def __init__(self, stream: StreamFile, model):
        self.stream, self.model = stream, model   # model: the bundle's spec and labels
        self.hop = stream.hop
        self.windower = self                      # predict_log reads windower.next_start
        self.samples_processed = 0
        self.restart(0, keep_orientation=False)

    def restart(self, at: int, keep_orientation: bool = True) -> None:
        if keep_orientation:
            self.stream.restart_after_gap()
        else:
            self.stream.reset()
        self.samples_seen = at
        self._feed_from = -(-at // self.hop) * self.hop
        self._buf = np.empty((0, 6), np.float32)
        self._steps = 0

    def reset(self) -> None:
        self.samples_processed = 0
        self.restart(0, keep_orientation=False)

    @property
    def next_start(self) -> int:
        """Where the next window starts: nothing before it is needed again."""
        return self._feed_from + max(self._steps - 1, 0) * self.hop

    def orientation_state(self) -> dict:
        mode = "running" if self.stream.info.orientation == "auto" else "fixed"
        return {"mode": mode, "settled_at_s": None, "rotation": None,
                "in": "model_stream.tflite (its own state)"}

    def push(self, raw: np.ndarray):
        from .engine import Predictions

        t = time.perf_counter()
        raw = np.asarray(raw, np.float32)
        skip = max(self._feed_from - self.samples_seen, 0)   # before the grid: not fed
        self._buf = np.concatenate([self._buf, raw[skip:]]) if len(self._buf) else raw[skip:]
        starts, probs = [], []
        while len(self._buf) >= self.hop:
            p, ready = self.stream.step(self._buf[:self.hop])
            self._buf = self._buf[self.hop:]
            if ready:
                starts.append(self._feed_from + (self._steps - 1) * self.hop)
                probs.append(p)
            self._steps += 1
        self.samples_seen += len(raw)
        self.samples_processed += len(raw)
        classes = len(self.model.labels)
        return Predictions(np.asarray(starts, np.int64),
                           np.asarray(probs, np.float32).reshape(-1, classes),
                           (time.perf_counter() - t) * 1e3)
