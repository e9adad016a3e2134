"""The window contract shared by training, export and the runtime (DESIGN.md), and the data
spec it flows from: a run's window and hop are chosen with its data and travel from there to
its windows, its run config, its bundle's manifest and replay's windowing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

LABELS: tuple[str, ...] = (
    "WALKING",
    "WALKING_UPSTAIRS",
    "WALKING_DOWNSTAIRS",
    "SITTING",
    "STANDING",
    "LAYING",
)
# HAPT's labels.txt ids 1..12 (the HAPT data set's activity_labels.txt): the six activities
# above, then the postural transitions
HAPT_LABELS: tuple[str, ...] = LABELS + ("STAND_TO_SIT", "SIT_TO_STAND", "SIT_TO_LIE",
                                         "LIE_TO_SIT", "STAND_TO_LIE", "LIE_TO_STAND")
CHANNELS: tuple[str, ...] = (
    "body_acc_x", "body_acc_y", "body_acc_z",
    "body_gyro_x", "body_gyro_y", "body_gyro_z",
    "total_acc_x", "total_acc_y", "total_acc_z",
)
RAW_CHANNELS: tuple[str, ...] = ("ax", "ay", "az", "gx", "gy", "gz")
SAMPLE_RATE = 50
WINDOW = 128
HOP = 64
STANDARD_GRAVITY = 9.80665


@dataclass(frozen=True)
class IIRCoefficients:
    """One transfer function b/a (a[0] == 1), designed once with scipy and stored here so the
    runtime needs only numpy. tests/test_preprocess.py re-derives them with scipy."""

    kind: str
    order: int
    cutoff_hz: float
    b: tuple[float, ...]
    a: tuple[float, ...]

    @classmethod
    def from_dict(cls, c: dict) -> IIRCoefficients:
        return cls(c["kind"], int(c["order"]), float(c["cutoff_hz"]), tuple(c["b"]), tuple(c["a"]))


# UCI-HAR: 3rd-order Butterworth low-pass at 20 Hz against noise (its median filter is left
# out: it is not linear and buys nothing measurable for a CNN).
NOISE_LOWPASS = IIRCoefficients(
    "butterworth_lowpass", 3, 20.0,
    (0.5276243825019431, 1.5828731475058293, 1.5828731475058293, 0.5276243825019431),
    (1.0, 1.7600418803431688, 1.1828932620378305, 0.2780599176345464),
)
# UCI-HAR: gravity is the 0.3 Hz 3rd-order Butterworth low-pass of total acceleration.
GRAVITY_LOWPASS = IIRCoefficients(
    "butterworth_lowpass", 3, 0.3,
    (6.4518491290909294e-06, 1.9355547387272787e-05, 1.9355547387272787e-05,
     6.4518491290909294e-06),
    (1.0, -2.9246062354506974, 2.852027818593894, -0.9273699683501638),
)


@dataclass(frozen=True)
class WindowSpec:
    sample_rate: int = SAMPLE_RATE
    window: int = WINDOW
    hop: int = HOP
    channels: tuple[str, ...] = CHANNELS
    labels: tuple[str, ...] = LABELS
    noise_filter: IIRCoefficients = field(default=NOISE_LOWPASS)
    gravity_filter: IIRCoefficients = field(default=GRAVITY_LOWPASS)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["labels"] = list(self.labels)
        for f in ("noise_filter", "gravity_filter"):   # plain JSON types, so dicts compare equal
            d[f]["b"], d[f]["a"] = list(d[f]["b"]), list(d[f]["a"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> WindowSpec:
        return cls(int(d["sample_rate"]), int(d["window"]), int(d["hop"]),
                   tuple(d["channels"]), tuple(d["labels"]),
                   IIRCoefficients.from_dict(d["noise_filter"]),
                   IIRCoefficients.from_dict(d["gravity_filter"]))


@dataclass(frozen=True)
class DataSpec:
    """What a run trains on: a source, a label set, a subject split and the window grid.

    Sources: ``package`` (the embedded HAPT recordings), an official HAPT or UCI HAR directory,
    or a directory of the user's own labelled recordings. ``task`` is the label set of the
    built-in data (``uci6``, ``hapt12``); ``classes`` picks and orders classes (None: all).
    Subjects: given lists, else UCI-HAR's for the built-in data, else seeded fractions.
    ``window`` and ``hop`` are in samples at the fixed rate (every log is resampled to it)."""

    source: str = "package"
    task: str = "uci6"
    classes: tuple[str, ...] | None = None
    test_subjects: tuple | None = None
    val_subjects: tuple | None = None
    test_fraction: float = 0.25
    val_fraction: float = 0.15
    split_seed: int = 0
    window: int = WINDOW
    hop: int = HOP

    def window_spec(self, labels: tuple[str, ...]) -> WindowSpec:
        return WindowSpec(window=self.window, hop=self.hop, labels=tuple(labels))

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("classes", "test_subjects", "val_subjects"):
            d[k] = None if d[k] is None else list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("classes", "test_subjects", "val_subjects"):
            if known.get(k) is not None:
                known[k] = tuple(known[k])
        for k in ("window", "hop", "split_seed"):
            if k in known:
                known[k] = int(known[k])
        return cls(**known)
