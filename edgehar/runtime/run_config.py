"""A training run's config, typed: the one reader and writer of a run's ``config.json``.

A run (and a bundle, whose manifest carries the same facts, see ``Manifest.run_config``) says
how to rebuild its model, how its inputs are normalized, the window contract it was trained on
(labels in output order, rate, window, hop, channels, filters), the data it was trained on and,
for a run, the recipe and what the training chose. Each fact is stored once: the labels, window
and hop live in the window contract, not again in the data spec.

Schema 1 is the layout before the schema was versioned (no ``schema_version`` key): the labels
also in ``data.spec.classes`` and the data spec also in ``train.data``. It still loads.

The recipe stays a plain mapping of ``train.trainer.TrainConfig`` fields, which that class reads
(``TrainConfig.from_run``): the runtime knows nothing of training beyond these facts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import EdgeharError
from .spec import DataSpec, WindowSpec

RUN_CONFIG = "config.json"
RUN_CONFIG_SCHEMA = 2
READABLE_RUN_SCHEMAS = (1, 2)
NORMALIZATION_KIND = "per_channel_standardize"
# window-contract facts the data spec would repeat: written once, under window_spec
_DATA_FROM_SPEC = ("classes", "window", "hop")


@dataclass(frozen=True)
class Normalization:
    """Per-channel standardization, fitted on training windows, applied before the model."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    # Per-channel clip (in standard deviations) folded into ``std`` and the stem's weights at
    # export, so that every channel spans [-1, 1], the range of the int8 input tensor.
    input_clip: tuple[float, ...] | None = None

    @classmethod
    def identity(cls, channels: int) -> Normalization:
        return cls((0.0,) * channels, (1.0,) * channels)

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalization:
        """From (windows, time, channels) training data; std floored so flat channels pass."""
        return cls(tuple(x.mean((0, 1)).astype(float).tolist()),
                   tuple(np.maximum(x.std((0, 1)), 1e-6).astype(float).tolist()))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
                ).astype(np.float32)

    def to_dict(self) -> dict:
        d = {"kind": NORMALIZATION_KIND, "mean": list(self.mean), "std": list(self.std)}
        if self.input_clip is not None:
            d["input_clip"] = list(self.input_clip)
        return d

    @classmethod
    def from_dict(cls, d: dict | None, channels: int) -> Normalization:
        if not d:
            return cls.identity(channels)
        clip = d.get("input_clip")
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]),
                   None if clip is None else tuple(float(v) for v in clip))


@dataclass(frozen=True)
class Orientation:
    """The training frame's vertical (what ``--orientation auto`` rotates a phone's stream
    into) and whether the model was trained heading-invariant."""

    vertical: tuple[float, float, float]
    heading_invariant: bool | None = None
    # where the vertical came from: "training data" (mean gravity over its active windows) or
    # "init" (kept from the run or bundle a fine-tune started from: too little walking in the
    # new data to measure it); None for runs that predate the record
    vertical_from: str | None = None
    active_windows: int | None = None   # the training windows in which the wearer moved

    def __post_init__(self):
        v = np.asarray(self.vertical, float)
        if v.shape != (3,) or not np.isfinite(v).all() or not np.linalg.norm(v) > 0:
            raise ValueError(f"orientation.vertical must be three finite numbers, not all "
                             f"zero: {self.vertical}")

    def to_dict(self) -> dict:
        d = {"vertical": list(self.vertical), "heading_invariant": self.heading_invariant}
        if self.vertical_from is not None:
            d.update(vertical_from=self.vertical_from, active_windows=self.active_windows)
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> Orientation | None:
        if d is None:
            return None
        return cls(tuple(float(v) for v in d["vertical"]), d.get("heading_invariant"),
                   d.get("vertical_from"), d.get("active_windows"))


@dataclass(frozen=True)
class Selection:
    """Which epoch's weights a run kept, and why."""

    criterion: str
    best_epoch: int
    epochs_run: int

    def to_dict(self) -> dict:
        return {"criterion": self.criterion, "best_epoch": self.best_epoch,
                "epochs_run": self.epochs_run}

    @classmethod
    def from_dict(cls, d: dict | None) -> Selection | None:
        return None if d is None else cls(d["criterion"], int(d["best_epoch"]),
                                          int(d["epochs_run"]))


@dataclass(frozen=True)
class FineTune:
    """A run fine-tuned from another run or bundle."""

    init: str                 # the run or bundle it started from
    init_model: str           # its model name (the architecture carries over)
    head: str                 # "kept" (same labels) or "new"
    frozen: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"init": self.init, "init_model": self.init_model, "head": self.head,
                "frozen": list(self.frozen)}

    @classmethod
    def from_dict(cls, d: dict | None) -> FineTune | None:
        return None if not d else cls(d["init"], d["init_model"], d["head"],
                                      tuple(d.get("frozen", ())))


@dataclass(frozen=True)
class CvFold:
    """A cross-validation fold's model: which subjects it held out (a fold's teacher must
    hold out the same ones)."""

    index: int
    held_out: tuple
    k: int
    fold_seed: int

    def to_dict(self) -> dict:
        return {"index": self.index, "held_out": list(self.held_out), "k": self.k,
                "fold_seed": self.fold_seed}

    @classmethod
    def from_dict(cls, d: dict | None) -> CvFold | None:
        return None if d is None else cls(int(d["index"]), tuple(d["held_out"]), int(d["k"]),
                                          int(d["fold_seed"]))


@dataclass(frozen=True)
class RunConfig:
    model: str                       # registry name or package.module:factory
    model_config: dict               # what rebuilds it (train.checkpoint.build_from_config)
    normalization: Normalization
    spec: WindowSpec                 # the window contract, labels in output order
    data: DataSpec = field(default_factory=DataSpec)  # its classes/window/hop are spec's
    orientation: Orientation | None = None
    # trained on its validation subjects too (--select last, a fold): not to be scored there
    trained_on_val: bool = False
    recipe: dict | None = None       # TrainConfig fields but data (train.trainer reads them)
    subjects: dict | None = None     # {split: subjects}, as resolved
    windows: dict | None = None      # {split: windows}
    selection: Selection | None = None
    fine_tune: FineTune | None = None
    train_seconds: float | None = None
    torch: str | None = None
    cv_fold: CvFold | None = None
    schema_version: int = RUN_CONFIG_SCHEMA

    def __post_init__(self):   # the data spec agrees with the window contract, by construction
        object.__setattr__(self, "data", replace(
            self.data, classes=self.spec.labels, window=self.spec.window, hop=self.spec.hop))

    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    def to_dict(self) -> dict:
        data = {k: v for k, v in self.data.to_dict().items() if k not in _DATA_FROM_SPEC}
        return {"schema_version": RUN_CONFIG_SCHEMA, "model": self.model,
                "model_config": self.model_config,
                "normalization": self.normalization.to_dict(),
                "orientation": self.orientation.to_dict() if self.orientation else None,
                "window_spec": self.spec.to_dict(), "data": data,
                "trained_on_val": self.trained_on_val, "subjects": self.subjects,
                "windows": self.windows, "recipe": self.recipe,
                "selection": self.selection.to_dict() if self.selection else None,
                "fine_tune": self.fine_tune.to_dict() if self.fine_tune else None,
                "train_seconds": self.train_seconds, "torch": self.torch,
                "cv_fold": self.cv_fold.to_dict() if self.cv_fold else None}

    @classmethod
    def from_dict(cls, d: dict, where=RUN_CONFIG) -> RunConfig:
        if not isinstance(d, dict):
            raise EdgeharError(where, "not a run config (expected a JSON object)")
        version = d.get("schema_version", 1)
        if version not in READABLE_RUN_SCHEMAS:
            raise EdgeharError(where, f"unsupported run config schema_version {version!r} (this "
                                      f"edgehar reads {', '.join(map(str, READABLE_RUN_SCHEMAS))})")
        try:
            spec = WindowSpec.from_dict(d["window_spec"])
            if version == 1:
                data, rest = _data_of_schema_1(d)
            else:
                data, rest = DataSpec.from_dict(d.get("data") or {}), d
            return cls(
                model=d["model"], model_config=d["model_config"],
                normalization=Normalization.from_dict(d["normalization"], len(spec.channels)),
                spec=spec, data=data, orientation=Orientation.from_dict(d.get("orientation")),
                trained_on_val=bool(rest.get("trained_on_val", False)),
                recipe=rest.get("recipe"), subjects=rest.get("subjects"),
                windows=rest.get("windows"), selection=Selection.from_dict(d.get("selection")),
                fine_tune=FineTune.from_dict(d.get("fine_tune")),
                train_seconds=d.get("train_seconds"), torch=d.get("torch"),
                cv_fold=CvFold.from_dict(d.get("cv_fold")), schema_version=version)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise EdgeharError(where, f"malformed run config ({type(e).__name__}: {e})") from None

    @classmethod
    def read(cls, run_dir: str | os.PathLike[str]) -> RunConfig:
        path = os.path.join(run_dir, RUN_CONFIG)
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except FileNotFoundError:
            raise EdgeharError(run_dir, f"not a training run ({RUN_CONFIG} missing)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise EdgeharError(path, f"not valid JSON ({e})") from None
        return cls.from_dict(d, path)

    def write(self, run_dir: str | os.PathLike[str]) -> None:
        from .files import write_json

        write_json(os.path.join(run_dir, RUN_CONFIG), self.to_dict())


def _data_of_schema_1(d: dict) -> tuple[DataSpec, dict]:
    """Schema 1: the data spec under data.spec (or only data.source), subjects and windows
    beside it, the recipe under train (with the data spec again), no trained_on_val."""
    data = d.get("data") or {}
    spec = DataSpec.from_dict(data["spec"]) if data.get("spec") else \
        DataSpec(source=data.get("source", "package"))
    recipe = {k: v for k, v in (d.get("train") or {}).items() if k != "data"} or None
    trained_on_val = (recipe or {}).get("select") == "last" or d.get("cv_fold") is not None
    return spec, {"trained_on_val": trained_on_val, "recipe": recipe,
                  "subjects": data.get("subjects"), "windows": data.get("windows")}
