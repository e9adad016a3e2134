"""Replay many logs: one JSON Lines file per log and ``fleet.json`` (DESIGN.md "Fleet replay").

Each log is replayed whole by one worker, offline: big pushes through the same preprocessing
as live replay, and the bundle's fixed-batch INT8 file (``model_int8_b64.tflite``, outputs
identical to the batch-1 file's) for inference. Logs are independent and every worker runs the
same deterministic code with one inference thread, so the predictions do not depend on the
engine or the number of workers.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgeharError, one_line
from ..runtime.files import check_output_dir, write_json
from ..runtime.logs import HAPT_NAME, check_options
from ..runtime.memory import keep_freed_memory, peak_rss_mb
from ..runtime.options import LogOptions
from .discover import find_logs, jsonl_name

ENGINES = ("local", "ray")
OFFLINE_PUSH = 16384     # samples per push offline: 256 windows (fastest of 4k-64k, measured)
FLEET_JSON = "fleet.json"
BASELINE_DIR = "baseline"   # --baseline: its predictions in DIR/baseline/<log>.jsonl
MOST_DISAGREEING = 5        # logs listed where the two bundles agree least
# DIR/.done/<log>.json: a complete log's fleet.json entry, the sha256 of its outputs and the
# key of what made them (bundle, options, the log file); written after the outputs, so a run
# killed at any moment leaves no record of an output that is not whole (--resume)
DONE_DIR = ".done"
# reader "auto" in a fleet: pyarrow from 32 KB (500 rows) on, not 2 MB: a worker pays its
# import once for all its logs, and below this size a pyarrow call costs more than the text
# parser even once imported
ARROW_MIN_BYTES = 1 << 15


@dataclass(kw_only=True)
class FleetOptions(LogOptions):
    """Many logs: the shared ``LogOptions`` (``labels``: HAPT labels.txt for every HAPT log;
    default: a labels.txt beside each log) and what only a fleet has."""

    paths: list[str]
    out_dir: Path
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    engine: str = "local"
    ray_address: str | None = None
    baseline: Path | None = None   # a second bundle every log is also replayed through
    resume: bool = False           # skip logs whose outputs are complete for the same key


@dataclass(frozen=True)
class LogTask:
    log: str
    jsonl: str          # file name inside out_dir
    size: int = 0       # bytes: the engines start the largest logs first
    key: str = ""       # what its outputs depend on (``resume_key``): recorded with them


def load_offline_model(opts: FleetOptions, bundle=None):
    """The bundle's fixed-batch file for offline replay (``bundle``: another than --model)."""
    from ..runtime.assets import PRETRAINED
    from ..runtime.backends import Backend
    from ..runtime.model import load_model

    keep_freed_memory()   # big pushes: no page faults on every numpy temporary
    return load_model(bundle or opts.model or PRETRAINED,
                      Backend(opts.backend) if opts.backend else None, threads=1, batched=True)


@dataclass
class Models:
    """What a worker holds: the bundle replayed, and the --baseline bundle when compared."""

    model: object
    baseline: object | None = None


def load_models(opts: FleetOptions) -> Models:
    model = load_offline_model(opts)
    if opts.baseline is None:
        return Models(model)
    return Models(model, load_offline_model(opts, opts.baseline))


def check_comparable(models: Models, baseline: Path) -> None:
    """A baseline cuts the same windows from the stream and knows the same classes (in any
    order): otherwise there is no window-by-window agreement to measure."""
    a, b = models.model.spec, models.baseline.spec
    for key in ("sample_rate", "window", "hop"):
        if getattr(a, key) != getattr(b, key):
            raise EdgeharError(baseline, f"--baseline has {key} {getattr(b, key)}, the model "
                                         f"{getattr(a, key)}: their windows cannot be compared")
    if set(a.labels) != set(b.labels):
        raise EdgeharError(baseline, "--baseline has other classes than the model "
                                     f"({', '.join(b.labels)} vs {', '.join(a.labels)})")


class TopOne:
    """A sink keeping each window's top-1 class (one byte a window)."""

    def __init__(self):
        self.parts: list[np.ndarray] = []

    def __call__(self, batch) -> None:
        if len(batch):
            self.parts.append(batch.probs.argmax(1).astype(np.int8))

    def classes(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, np.int8)


@dataclass
class LogReplay:
    windows: int
    score: dict
    quality: dict
    orientation: dict
    top1: np.ndarray


def _replay_log(model, log: Path, opts: FleetOptions, out: Path) -> LogReplay:
    """One log through one model into ``out`` (written whole or not at all); raises on bad
    input. ``quality`` is set on the error too, once the log could be opened."""
    from ..runtime.engine import StreamEngine
    from ..runtime.replay import jsonl_file, open_replayed_log, replay_into
    from ..runtime.sinks import Scorer
    from ..runtime.whole_log import whole_log

    labels = None   # a CSV log carries its own label column
    if HAPT_NAME.search(log.name):
        labels = opts.labels
        if labels is None and (log.parent / "labels.txt").is_file():
            labels = log.parent / "labels.txt"
    reader = opts.reader
    if reader == "auto":
        reader = "arrow" if _log_bytes(log) >= ARROW_MIN_BYTES else "text"
    # auto: one rotation for the whole log, from a first pass over it (as one-log replay)
    chunks, orientation = whole_log(open_replayed_log(log, opts, labels, model, reader=reader),
                                    model, opts.orientation, log)
    try:
        engine = StreamEngine(model, orientation)
        scorer, top1 = Scorer(model.labels), TopOne()
        with jsonl_file(out, model.spec) as sink:
            windows = replay_into(engine, chunks, log, [sink, scorer, top1], OFFLINE_PUSH)
    except Exception as e:
        e.quality = chunks.quality.to_dict()
        raise
    return LogReplay(windows, scorer.summary(), chunks.quality.to_dict(),
                     engine.orientation_state(), top1.classes())


def _why(e: Exception) -> str:
    if isinstance(e, EdgeharError):
        return str(e)
    return f"internal error ({type(e).__name__}: {one_line(e)})"


def replay_one(models: Models, task: LogTask, opts: FleetOptions) -> dict:
    """One log -> its JSON Lines file (written whole or not at all) and its fleet.json entry;
    with a baseline, the same log through it too, and their agreement."""
    log = Path(task.log)
    out = Path(opts.out_dir) / task.jsonl
    base_out = Path(opts.out_dir) / BASELINE_DIR / task.jsonl
    t0 = time.perf_counter()
    r = b = None
    try:
        r = _replay_log(models.model, log, opts, out)
        if models.baseline is not None:
            b = _replay_log(models.baseline, log, opts, base_out)
    except Exception as e:  # bad input (EdgeharError) or a bug: this log's one line, the rest go on
        why = _why(e) if r is None else f"through the --baseline bundle: {_why(e)}"
        _done_path(Path(opts.out_dir), task).unlink(missing_ok=True)
        out.unlink(missing_ok=True)   # no earlier run's file, no half of a comparison
        base_out.unlink(missing_ok=True)
        return failed_entry(task, why, getattr(e, "quality", {}), time.perf_counter() - t0)
    entry = {"log": str(log), "jsonl": task.jsonl, "windows": r.windows}
    if r.score:
        entry["accuracy"], entry["macro_f1"] = r.score["accuracy"], r.score["macro_f1"]
        entry["scored_windows"] = r.score["scored_windows"]
        entry["_confusion"] = r.score["confusion"]   # summed into the totals, then dropped
    if b is not None:
        entry["baseline"] = _compared(models, r, b, opts.baseline, task.jsonl)
    entry["data_quality"] = r.quality
    entry["orientation"] = r.orientation
    entry["seconds"] = round(time.perf_counter() - t0, 4)
    entry["worker_peak_rss_mb"] = round(peak_rss_mb(), 1)   # memory stays flat over a fleet
    record_done(Path(opts.out_dir), task, entry)
    return entry


# --- resume: a record per complete log


def _done_path(out_dir: Path, task: LogTask) -> Path:
    return out_dir / DONE_DIR / f"{task.jsonl}.json"


def _outputs(entry: dict) -> list[str]:
    """A log's output files, relative to the out dir."""
    return [entry["jsonl"]] + ([entry["baseline"]["jsonl"]] if "baseline" in entry else [])


def record_done(out_dir: Path, task: LogTask, entry: dict) -> None:
    """After the log's outputs are in place (each renamed whole): their record."""
    from ..runtime.files import sha256

    write_json(_done_path(out_dir, task),
               {"key": task.key, "outputs": {name: sha256(out_dir / name)
                                             for name in _outputs(entry)}, "entry": entry})


def completed(out_dir: Path, task: LogTask) -> dict | None:
    """The entry of a log whose outputs are complete for ``task.key``, else None."""
    import json

    from ..runtime.files import sha256

    try:
        record = json.loads(_done_path(out_dir, task).read_text())
        if record["key"] != task.key:
            return None
        for name, digest in record["outputs"].items():
            if sha256(out_dir / name) != digest:
                return None
        return record["entry"]
    except (OSError, ValueError, KeyError, TypeError):   # none, or not ours: replay the log
        return None


def _bundle_sha256(model) -> str:
    """What a bundle's predictions depend on: its manifest (normalization, labels, the sha256
    of every file) and the model file replayed."""
    import hashlib

    from ..runtime.files import sha256
    from ..runtime.manifest import MANIFEST

    h = hashlib.sha256(sha256(model.path).encode())
    manifest = Path(model.path).parent / MANIFEST
    if manifest.is_file():
        h.update(manifest.read_bytes())
    return h.hexdigest()


def resume_key(opts: FleetOptions, models: Models) -> str:
    """The bundle(s) and the log options; not the engine, the workers or the paths given."""
    import hashlib
    import json

    from ..runtime.files import sha256

    key = {"bundle": _bundle_sha256(models.model),
           "baseline": _bundle_sha256(models.baseline) if models.baseline is not None else None,
           "options": {k: (str(v) if isinstance(v, Path) else v)
                       for k, v in asdict(opts.log_options()).items() if k != "model"}}
    if opts.labels is not None:
        key["labels_sha256"] = sha256(opts.labels)
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _log_key(run_key: str, log: Path) -> str:
    """The run's key and the log as it is on disk (each file's size and modification time)."""
    import hashlib

    files = sorted(log.iterdir()) if log.is_dir() else [log]
    if HAPT_NAME.search(log.name):   # the gyro_ partner and labels.txt beside it count too
        files += [log.with_name(log.name.replace("acc_", "gyro_", 1)),
                  log.parent / "labels.txt"]
    stats = []
    for f in files:
        try:
            st = f.stat()
            stats.append(f"{f}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            stats.append(f"{f}:-")
    return hashlib.sha256("\n".join([run_key, str(log), *stats]).encode()).hexdigest()


def _clean_temp_files(out_dir: Path) -> None:
    """Temp files a killed run left (``atomic_path``'s ``.<name>.<random>.tmp``)."""
    for folder in (out_dir, out_dir / BASELINE_DIR, out_dir / DONE_DIR):
        if folder.is_dir():
            for p in folder.glob(".*.tmp"):
                p.unlink(missing_ok=True)


def _compared(models: Models, r: LogReplay, b: LogReplay, bundle, jsonl: str) -> dict:
    """A log's ``baseline`` object: top-1 agreement window by window (classes matched by
    name), and the baseline's own scores."""
    names = models.model.labels
    to_model = np.array([names.index(n) for n in models.baseline.labels], np.int8)
    same = int((r.top1 == to_model[b.top1]).sum()) if r.windows == b.windows else 0
    out = {"bundle": str(bundle), "jsonl": f"{BASELINE_DIR}/{jsonl}", "windows": b.windows,
           "agreement": round(same / max(r.windows, 1), 6), "agreeing_windows": same}
    if b.score:
        out["accuracy"], out["macro_f1"] = b.score["accuracy"], b.score["macro_f1"]
        out["_confusion"] = _reordered(b.score["confusion"], models)
    return out


def _reordered(cm: list, models: Models) -> list:
    """The baseline's confusion matrix in the model's class order (pooled with others)."""
    order = [models.baseline.labels.index(n) for n in models.model.labels]
    return np.asarray(cm)[np.ix_(order, order)].tolist()


def failed_entry(task: LogTask, why: str, quality: dict | None = None,
                 seconds: float = 0.0) -> dict:
    return {"log": task.log, "windows": 0, "failed": one_line(why) or "failed",
            "data_quality": quality or {}, "seconds": round(seconds, 4)}


# --- engines: each runs the tasks and returns the entries in task order


@dataclass
class EngineRun:
    entries: list[dict]       # in task order
    startup_s: float          # until the workers were ready: a local Ray starts a whole cluster
    stop_s: float = 0.0       # from the last log's entry to the workers gone (Ray: its shutdown)
    nodes: dict[str, int] | None = None   # Ray: windows replayed on each node (by node id)


_worker_model = None


def _worker_init(opts: FleetOptions) -> None:
    import signal

    global _worker_model
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle
    _worker_model = load_models(opts)


def _worker_task(args: tuple[LogTask, FleetOptions]) -> dict:
    task, opts = args
    return replay_one(_worker_model, task, opts)


def run_local(tasks: list[LogTask], opts: FleetOptions) -> EngineRun:
    t0 = time.perf_counter()
    if opts.workers == 1:
        models = load_models(opts)
        ready = time.perf_counter() - t0
        return EngineRun([replay_one(models, t, opts) for t in tasks], ready)
    import multiprocessing
    import sys
    import threading
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # fork where it is safe (Linux, and this process runs no other thread): workers start in
    # milliseconds with numpy and LiteRT already imported; else spawn
    fork = sys.platform == "linux" and threading.active_count() == 1
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    # largest logs first, so that no long log starts last while the other workers idle
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].size)
    entries: list = [None] * len(tasks)
    with ProcessPoolExecutor(min(opts.workers, len(tasks)), mp_context=ctx,
                             initializer=_worker_init, initargs=(opts,)) as pool:
        ready = time.perf_counter() - t0   # workers start with the first tasks
        futures = [pool.submit(_worker_task, (tasks[i], opts)) for i in order]
        for i, fut in zip(order, futures):
            try:
                entries[i] = fut.result()
            except BrokenProcessPool:   # a worker died (out of memory, a crash in a library)
                entries[i] = failed_entry(tasks[i], "the worker replaying it died (killed or "
                                                    "crashed); the logs after it were not run")
        done = time.perf_counter()
    return EngineRun(entries, ready, time.perf_counter() - done)


RAY_CHUNK = 16   # logs per Ray call


def ray_init_options(opts: FleetOptions) -> dict:
    """``ray.init`` keywords: connect to ``--ray-address``, or start a local Ray of --workers CPUs.

    Ray starts its workers at nice 15, so beside any other busy process (a training, a second
    replay) they starve: 50 logs replayed in 30.9 s instead of 3.0 s (bench/ray_priority.py).
    The local Ray we start runs them at the priority the local pool's workers have; a
    cluster's own setting is left alone."""
    common = {"log_to_driver": False, "configure_logging": False}
    if opts.ray_address:
        return common | {"address": opts.ray_address}
    return common | {"num_cpus": opts.workers, "include_dashboard": False,
                     "_system_config": {"worker_niceness": 0}}


def run_ray(tasks: list[LogTask], opts: FleetOptions) -> EngineRun:
    """One Ray actor per worker, each holding the model; every log is queued on an actor up
    front. Logs and --out-dir must be on a file system every node sees."""
    try:
        import ray
    except ImportError:
        raise EdgeharError(None, "--engine ray needs Ray: pip install 'edgehar[fleet]'") from None
    t0 = time.perf_counter()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(**ray_init_options(opts))
        except Exception as e:  # unreachable address, a cluster that refuses us
            raise EdgeharError(None, f"cannot start or reach Ray ({one_line(e)})") from None
    try:
        @ray.remote(num_cpus=1)
        class Worker:
            def __init__(self, o: FleetOptions):
                self.models = load_models(o)

            def replay(self, chunk: list[LogTask], o: FleetOptions) -> list[dict]:
                return [replay_one(self.models, t, o) for t in chunk]

            def node(self) -> str:
                return ray.get_runtime_context().get_node_id()

        # SPREAD: the actors over the cluster's nodes (on one node: all there)
        actors = [Worker.options(scheduling_strategy="SPREAD").remote(opts)
                  for _ in range(opts.workers)]
        # the cluster up and every model loaded; the node each actor landed on
        node_of = ray.get([a.node.remote() for a in actors])
        ready = time.perf_counter() - t0
        # Every log queued on an actor up front (no round trip between logs), largest files
        # first, each to the actor with the fewest bytes so far: the queues end together.
        queues: list[list[int]] = [[] for _ in actors]
        load = [0] * len(actors)
        for i in sorted(range(len(tasks)), key=lambda i: -tasks[i].size):
            a = min(range(len(actors)), key=load.__getitem__)
            load[a] += tasks[i].size
            queues[a].append(i)
        # A few logs per call: each call costs the driver, the raylet and the actor a round of
        # scheduling and serialization, which on a small machine shares the workers' cores.
        calls = [(a, q[j:j + RAY_CHUNK]) for a, q in enumerate(queues)
                 for j in range(0, len(q), RAY_CHUNK)]
        refs = [actors[a].replay.remote([tasks[i] for i in chunk], opts) for a, chunk in calls]
        entries: list = [None] * len(tasks)
        nodes = dict.fromkeys(node_of, 0)
        for (a, chunk), ref in zip(calls, refs):
            try:
                for i, entry in zip(chunk, ray.get(ref), strict=True):
                    entries[i] = entry
                    nodes[node_of[a]] += entry["windows"]
            except ray.exceptions.RayError as e:   # the actor died, or its node
                for i in chunk:
                    entries[i] = failed_entry(tasks[i], f"the Ray worker replaying it failed "
                                                        f"({type(e).__name__})")
    finally:
        done = time.perf_counter()
        if started:
            ray.shutdown()
    return EngineRun(entries, ready, time.perf_counter() - done, nodes)


def _pooled_scores(confusions: list, labels) -> dict:
    """Accuracy and macro-F1 over every scored window of the fleet (one confusion matrix)."""
    from ..runtime.metrics import report_from_confusion

    cms = [np.asarray(c) for c in confusions if c is not None]
    if not cms:
        return {}
    rep = report_from_confusion(sum(cms), labels)
    return {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "scored_windows": rep["n"]}


def _baseline_totals(entries: list[dict], bundle: Path, labels) -> dict:
    """The fleet's ``baseline`` object: agreement over every window of the logs both bundles
    replayed, the baseline's pooled scores, and the logs where the two agree least."""
    compared = [e for e in entries if "baseline" in e]
    windows = sum(e["windows"] for e in compared)
    same = sum(e["baseline"]["agreeing_windows"] for e in compared)
    out = {"bundle": str(bundle), "logs": len(compared), "windows": windows,
           "agreement": round(same / windows, 6) if windows else None,
           **_pooled_scores([e["baseline"].pop("_confusion", None) for e in compared], labels)}
    worst = sorted(compared, key=lambda e: (e["baseline"]["agreement"], e["log"]))
    out["least_agreement"] = [{"log": e["log"], "agreement": e["baseline"]["agreement"],
                               "windows": e["windows"]} for e in worst[:MOST_DISAGREEING]]
    return out


def _check_options(opts: FleetOptions) -> None:
    """Options that apply to every log are checked once: a bad one means nothing can run."""
    if opts.backend == "stream":
        raise EdgeharError(None, "--backend stream replays one log (the fleet runs the "
                                 "bundle's batched INT8 file)")
    check_options(opts.acc_units, opts.gyro_units, opts.max_gap, reader=opts.reader,
                  columns=opts.columns)
    if opts.labels is not None and not Path(opts.labels).is_file():
        raise EdgeharError(opts.labels, "labels file not found")


def _log_bytes(log: Path) -> int:
    """A log's size (an export folder's: its files')."""
    try:
        if log.is_dir():
            return sum(p.stat().st_size for p in log.iterdir() if p.is_file())
        return log.stat().st_size
    except OSError:
        return 0


def run_fleet(opts: FleetOptions) -> dict:
    """Replay every log; write the JSON Lines files and fleet.json; return fleet.json's data."""
    if opts.engine not in ENGINES:
        raise EdgeharError(None, f"--engine must be one of {', '.join(ENGINES)}")
    if opts.workers < 1:
        raise EdgeharError(None, "--workers must be >= 1")
    out_dir = Path(opts.out_dir)
    check_output_dir(out_dir, "--out-dir")
    _check_options(opts)
    logs = find_logs(opts.paths)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeharError(out_dir, f"cannot create --out-dir ({e.strerror})") from None
    # absolute: Ray workers on other nodes (or in other directories) open the same paths
    opts = replace(opts, out_dir=out_dir.resolve())
    # a bad --model or --baseline fails here, once, before any worker starts
    models = load_models(opts)
    if models.baseline is not None:
        check_comparable(models, opts.baseline)
        opts = replace(opts, baseline=Path(opts.baseline).resolve())
        (out_dir / BASELINE_DIR).mkdir(exist_ok=True)
    taken: set[str] = {FLEET_JSON, BASELINE_DIR, DONE_DIR}
    run_key = resume_key(opts, models)
    tasks = [LogTask(str(p.resolve()), jsonl_name(p, taken), _log_bytes(p),
                     _log_key(run_key, p.resolve())) for p in logs]
    _clean_temp_files(out_dir)
    (out_dir / DONE_DIR).mkdir(exist_ok=True)
    t0 = time.perf_counter()
    done = {i: e for i, t in enumerate(tasks)
            for e in [completed(out_dir, t) if opts.resume else None] if e is not None}
    todo = [i for i in range(len(tasks)) if i not in done]
    run = EngineRun([], 0.0)
    if todo:
        run = (run_ray if opts.engine == "ray" else run_local)([tasks[i] for i in todo], opts)
    wall = time.perf_counter() - t0
    fresh = dict(zip(todo, run.entries, strict=True))
    entries = [done[i] if i in done else fresh[i] for i in range(len(tasks))]
    windows = sum(e["windows"] for e in entries)
    failed = sum(1 for e in entries if "failed" in e)
    totals = {"logs": len(entries), "failed": failed, "windows": windows,
              **_pooled_scores([e.pop("_confusion", None) for e in entries], models.model.labels),
              "wall_s": round(wall, 3),
              # the windows replayed now (--resume: not those of the logs already complete)
              "windows_per_s": round(sum(e["windows"] for e in fresh.values()) / wall, 1)
              if wall > 0 and fresh else None,
              # engine start and stop: a local Ray starts and stops a whole cluster; a pool
              # forks and joins
              "startup_s": round(run.startup_s, 3), "stop_s": round(run.stop_s, 3)}
    if opts.baseline is not None:
        totals["baseline"] = _baseline_totals(entries, opts.baseline, models.model.labels)
    fleet = {"engine": opts.engine, "workers": opts.workers, "logs": entries, "totals": totals,
             **({"nodes": run.nodes} if run.nodes is not None else {}),
             "options": {k: (str(v) if isinstance(v, Path) else v)
                         for k, v in asdict(opts).items()
                         if k not in ("paths", "out_dir", "resume")}}
    write_json(out_dir / FLEET_JSON, fleet)
    fleet["resumed"] = len(done)   # said on the terminal; fleet.json is the same either way
    return fleet
