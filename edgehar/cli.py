"""The ``edgehar`` command line. Heavy imports (torch, onnx, litert) happen inside commands.

Every command ends under the runtime's one error policy (``runtime.entry``): any failure is one
line on stderr and an exit code from ``runtime.errors``; click's own usage errors too."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from .runtime.entry import UsageError, run_main
from .runtime.errors import EXIT_BAD_INPUT, EdgeharError
from .runtime.files import STDOUT, check_output_dir, check_output_file, write_json
from .runtime.spec import HOP, SAMPLE_RATE, WINDOW

_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())   # click >= 8.2


class _Edgehar(click.Group):
    """The top-level group: click runs without its own error handling (``standalone_mode=False``)
    inside ``run_main``, whose one line and exit code end the process."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        def invoke():
            try:
                return super(_Edgehar, self).main(args, prog_name or "edgehar", complete_var,
                                                  standalone_mode=False, **extra)
            except _NO_ARGS_IS_HELP as e:   # bare `edgehar`: the help
                click.echo(e.ctx.get_help(), err=True)
                return EXIT_BAD_INPUT
            except click.UsageError as e:
                where = f"{e.ctx.command_path}: " if e.ctx is not None else ""
                raise UsageError(where + e.format_message()) from None
            except click.ClickException as e:   # a file click could not open, ...
                raise EdgeharError(None, e.format_message()) from None
            except click.Abort:   # click's form of Ctrl-C
                raise KeyboardInterrupt from None

        code = run_main(invoke)
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=_Edgehar, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgehar")
def main():
    """edgehar: train, export, INT8-quantize and replay a HAR ResNeXt on edge devices."""


def data_options(source_default: str | None = "package"):
    """--source and the label-set / split options, shared by data info, train, evaluate and
    pipeline; the command receives them as one ``data`` argument (a DataSpec). With
    ``source_default=None`` (evaluate) it receives ``source`` and, as ``data``, only the fields
    given on the command line (None when none): they replace the artifact's own data spec."""

    def subjects(value):
        return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())

    def decorate(fn):
        @click.option("--source", default=source_default, show_default=bool(source_default),
                      help="'package' (embedded HAPT), an official HAPT / UCI HAR directory, or a "
                           "directory of your own labelled recordings (CSV logs with a label "
                           "column, HAPT pairs with labels.txt)" + (
                               "" if source_default else
                               "  [default: the data the model was trained on]"))
        @click.option("--task", default=None, type=click.Choice(["uci6", "hapt12"]),
                      help="label set of the built-in data: the six activities (default) or "
                           "the twelve HAPT classes with the postural transitions")
        @click.option("--classes", default=None, help="comma-separated classes to keep, in "
                                                      "output order (default: all present)")
        @click.option("--test-subjects", default=None,
                      help="comma-separated test subjects (default: the built-in data's UCI-HAR "
                           "split; your own recordings: drawn by --test-fraction)")
        @click.option("--val-subjects", default=None,
                      help="comma-separated validation subjects (default: the built-in data's "
                           "split; your own recordings: drawn by --val-fraction)")
        @click.option("--test-fraction", default=0.25, show_default=True, type=float,
                      help="share of subjects drawn for test when no list is given")
        @click.option("--val-fraction", default=0.15, show_default=True, type=float,
                      help="share of the remaining subjects drawn for validation when no list "
                           "is given")
        @click.option("--split-seed", default=0, show_default=True, type=int,
                      help="seed of the subject draws")
        @functools.wraps(fn)
        def wrapper(*args, source, task, classes, test_subjects, val_subjects, test_fraction,
                    val_fraction, split_seed, **kwargs):
            from .data.dataset import DataSpec

            for name, f in (("--test-fraction", test_fraction), ("--val-fraction", val_fraction)):
                if not 0 < f < 1:
                    raise EdgeharError(None, f"{name} must be between 0 and 1, got {f}")
            if source_default is None:   # evaluate: the artifact's own data, with what was given
                ctx = click.get_current_context()
                given = {k: v for k, v in (("task", task), ("classes", subjects(classes)),
                                           ("test_subjects", subjects(test_subjects)),
                                           ("val_subjects", subjects(val_subjects)),
                                           ("test_fraction", test_fraction),
                                           ("val_fraction", val_fraction),
                                           ("split_seed", split_seed))
                         if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}
                return fn(*args, data=given or None, source=source, **kwargs)
            return fn(*args, data=DataSpec(source or "package", task or "uci6",
                                           subjects(classes), subjects(test_subjects),
                                           subjects(val_subjects), test_fraction, val_fraction,
                                           split_seed), **kwargs)

        return wrapper

    return decorate


def _checked_output_file(ctx, param, value):
    """An output file option's callback: a path that could not be written fails as the command
    line is read, before any work (``runtime.files.check_output_file``); ``--json -`` is
    stdout."""
    check_output_file(value, param.opts[0], stdout_ok=param.name == "json_out")
    return value


def _checked_output_dir(ctx, param, value):
    check_output_dir(value, param.opts[0])
    return value


json_option = click.option(
    "--json", "json_out", type=click.Path(path_type=Path, allow_dash=True), default=None,
    metavar="FILE", callback=_checked_output_file,
    help="also write the results as JSON to FILE ('-': the JSON alone, on stdout)  "
         "[default: text only]")


def _results(json_out: Path | None, obj, text: list[str] | str) -> None:
    """A command's results: the JSON alone on stdout for ``--json -``; else the text, and the
    JSON file when ``--json FILE`` asks for one."""
    if json_out is not None and str(json_out) == STDOUT:
        click.echo(json.dumps(obj, indent=2))
        return
    click.echo(text if isinstance(text, str) else "\n".join(text))
    if json_out is not None:
        write_json(json_out, obj)


@main.group()
def data():
    """Inspect the training data, or write it out as a labelled CSV directory."""


@data.command("info")
@data_options()
@json_option
def data_info(data, json_out: Path | None):
    """Windows per split and class, subjects per split, sample rate, channels."""
    import numpy as np

    from .data.dataset import subject_key
    from .data.windows import load_dataset

    ds = load_dataset(data)
    spec = ds.window_spec()
    info = {
        "source": data.source, "kind": ds.kind, "task": data.task,
        "sample_rate": spec.sample_rate, "window": spec.window, "hop": spec.hop,
        "channels": list(spec.channels), "labels": list(ds.classes),
        "splits": {name: {
            "windows": int(len(ws.y)),
            "subjects": sorted(np.unique(ws.subject).tolist(), key=subject_key),
            "per_class": {lab: int((ws.y == i).sum()) for i, lab in enumerate(ds.classes)},
        } for name, ws in ds.splits.items()},
        "split_definition": ds.subjects,
        **({"notes": ds.notes} if ds.notes else {}),
    }
    text = [f"source {data.source} ({ds.kind}): {spec.sample_rate} Hz, window {spec.window}, "
            f"hop {spec.hop}, {len(ds.classes)} classes",
            f"channels: {', '.join(spec.channels)}",
            "windows per class (columns: splits)"]
    names = list(info["splits"])
    width = max(len(lab) for lab in ds.classes)
    text.append(f"  {'':<{width}} " + " ".join(f"{n:>7}" for n in names))
    for lab in ds.classes:
        text.append(f"  {lab:<{width}} " + " ".join(
            f"{info['splits'][n]['per_class'][lab]:>7}" for n in names))
    text.append(f"  {'all':<{width}} " + " ".join(f"{info['splits'][n]['windows']:>7}"
                                                  for n in names))
    text += [f"{n} subjects ({len(s['subjects'])}): {s['subjects']}"
             for n, s in info["splits"].items()]
    _results(json_out, info, text)


@data.command("export-csv")
@click.argument("out_dir", type=click.Path(path_type=Path), callback=_checked_output_dir)
@click.option("--source", default="package", show_default=True,
              help="'package' or an official HAPT directory")
@click.option("--task", default="uci6", show_default=True, type=click.Choice(["uci6", "hapt12"]))
@click.option("--format", "fmt", default="csv", show_default=True,
              type=click.Choice(["csv", "parquet", "both"]),
              help="parquet: the same columns, the values the CSV's text parses to (pyarrow)")
def data_export_csv(out_dir: Path, source: str, task: str, fmt: str):
    """Write the built-in recordings as a labelled CSV directory (one CSV per recording, 50 Hz,
    g and rad/s, a label column, subjects.csv): the layout `--source DIR` reads."""
    from .data.export_csv import export_csv

    n = export_csv(source, task, out_dir, fmt)
    click.echo(f"{n} recordings -> {out_dir} (train from it: edgehar train --source {out_dir})")


def _progress_log(flag: bool | None):
    """Progress lines to stderr: --progress forces them, --quiet stops them, by default only
    a person at a terminal sees them."""
    from .runtime.progress import wanted

    if flag if flag is not None else wanted():
        return lambda m: click.echo(m, err=True)
    return lambda m: None


def _next_run_dir(model: str) -> Path:
    """runs/<model>, then runs/<model>-2, ... (as ultralytics numbers runs/train, train2)."""
    base = Path("runs") / model
    if not base.exists():
        return base
    k = 2
    while (Path("runs") / f"{model}-{k}").exists():
        k += 1
    return Path("runs") / f"{model}-{k}"


# The recipe's defaults as --help states them: (the recipe, fine-tuning with --init), that is
# trainer.default_recipe() and TrainConfig(), written out because the CLI imports no torch at
# start (test_cli checks them against the trainer).
RECIPE_DEFAULTS = {"model": "resnext1d_small", "epochs": (60, 40), "lr": (3e-3, 1e-3),
                   "ema": (0.999, 0), "select": ("last", "val_loss")}


def _default_help(name: str) -> str:
    value = RECIPE_DEFAULTS[name]
    return f"[default: {value[0]}; {value[1]} when fine-tuning with --init]"


def recipe_options(fn):
    """The training recipe, shared by train and cv."""
    options = [
        click.option("--model", "model_name", default=None,
                     help="registered model (see train --list) or your own as "
                          f"package.module:factory  [default: {RECIPE_DEFAULTS['model']}]"),
        click.option("--epochs", default=None, type=int,
                     help=f"epochs  {_default_help('epochs')}"),
        click.option("--seed", default=0, show_default=True),
        click.option("--lr", default=None, type=float,
                     help=f"peak learning rate  {_default_help('lr')}"),
        click.option("--ema", default=None, type=float,
                     help="keep an exponential moving average of the weights with this decay "
                          f"per step (0: off)  {_default_help('ema')}"),
        click.option("--select", type=click.Choice(["val_loss", "last"]), default=None,
                     help="val_loss: the epoch with the lowest validation loss; last: the last "
                          f"epoch, validation subjects trained on  {_default_help('select')}"),
        click.option("--teacher", "teachers", multiple=True,
                     help="distil from this run or bundle (repeat for an ensemble)  "
                          "[default: none]"),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _recipe(model_name, epochs, seed, lr, ema, select, teachers, **extra):
    """A TrainConfig from the recipe options: the default model's recipe where not given."""
    from dataclasses import replace

    from .train.registry import DEFAULT_MODEL, resolve_factory
    from .train.trainer import TrainConfig, check_config, default_recipe

    model_name = model_name or DEFAULT_MODEL
    resolve_factory(model_name)   # an unknown name or a broken factory fails before any work
    for t in teachers:
        if "{fold}" not in t and not Path(t).exists():
            raise EdgeharError(t, "--teacher: run or bundle not found")
    base = default_recipe() if extra.get("init") is None else TrainConfig()
    given = {"epochs": epochs, "lr": lr, "ema": ema, "select": select}
    cfg = replace(base, model=model_name, seed=seed, teachers=tuple(teachers),
                  **{k: v for k, v in given.items() if v is not None}, **extra)
    check_config(cfg)   # before the data is read
    return cfg


@main.command()
@recipe_options
@data_options()
@click.option("--init", "init", type=click.Path(path_type=Path), default=None,
              help="fine-tune from this run or bundle (a new head when the labels differ)  "
                   "[default: none: train from scratch]")
@click.option("--freeze", default="", help="comma-separated module prefixes kept fixed when "
                                           "fine-tuning (e.g. stem,stages.0)  [default: none]")
@click.option("--out", type=click.Path(path_type=Path), callback=_checked_output_dir,
              help="run directory (default: runs/<model>, runs/<model>-2, ...)")
@click.option("--list", "list_only", is_flag=True, help="list registered models and exit")
@click.option("--window", default=WINDOW, show_default=True, type=click.IntRange(min=2),
              help=f"window length in samples at {SAMPLE_RATE} Hz (every log is resampled to it)")
@click.option("--hop", default=HOP, show_default=True, type=click.IntRange(min=1),
              help="samples between window starts")
def train(model_name, epochs, seed, lr, ema, select, teachers, data, init, freeze, out,
          list_only, window, hop):
    """Train a model (see the recipe in docs/benchmarks.md; validation picks nothing with
    --select last)."""
    from dataclasses import replace

    from .train.registry import list_models

    data = replace(data, window=window, hop=hop)   # flows to the windows, run config, bundle

    if list_only:
        click.echo("\n".join(list_models()))
        return
    if init is not None and not init.exists():
        raise EdgeharError(init, "--init: run or bundle not found")
    from .train.trainer import train as run_train

    if init is not None:   # fine-tuning keeps the architecture of what it starts from
        from .train.checkpoint import run_config

        model_name = run_config(init).model
    if any("{fold}" in t for t in teachers):
        raise EdgeharError(None, "--teacher with {fold} names cross-validation fold models: "
                                 "use it with `edgehar cv`")
    freeze_t = tuple(m.strip() for m in freeze.split(",") if m.strip())
    cfg = _recipe(model_name, epochs, seed, lr or (1e-3 if init else None), ema, select,
                  teachers, data=data, init=str(init) if init else None, freeze=freeze_t)
    out = out or _next_run_dir(cfg.model.replace(":", "."))
    check_output_dir(out, "--out")
    m = run_train(cfg, out)
    click.echo(f"{cfg.model}: test accuracy {100 * m['accuracy']:.2f}%, macro-F1 "
               f"{100 * m['macro_f1']:.2f}%, {m['params']:,} params, {m['macs'] / 1e6:.2f} M MACs"
               f" -> {out}")


@main.command()
@recipe_options
@data_options()
@click.option("--folds", default=5, show_default=True, type=click.IntRange(min=2),
              help="subject groups (k)")
@click.option("--fold-seed", default=0, show_default=True)
@json_option
def cv(model_name, epochs, seed, lr, ema, select, teachers, data, folds, fold_seed, json_out):
    """Subject-wise k-fold cross-validation of a recipe on the training subjects (the test
    subjects never enter): how to choose recipes and hyper-parameters."""
    from .train.cv import cross_validate

    cfg = _recipe(model_name, epochs, seed, lr, ema, select, teachers, data=data)
    to_stdout = json_out is not None and str(json_out) == STDOUT
    res = cross_validate(cfg, folds, fold_seed,
                         log=lambda m: click.echo(m, err=to_stdout))   # stdout: the JSON alone
    _results(json_out, res, f"{cfg.model}: {folds}-fold accuracy {100 * res['mean_accuracy']:.2f}"
                            f" +- {100 * res['sd_accuracy']:.2f} % (pooled "
                            f"{100 * res['pooled_accuracy']:.2f} %, macro-F1 "
                            f"{100 * res['pooled_macro_f1']:.2f} %)")


@main.command()
@click.argument("model_path", type=click.Path(path_type=Path))
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@data_options(source_default=None)
@click.option("--backend", type=click.Choice(["tflite", "onnx"]), default=None,
              help="inference library for a lone model file (default: by its extension)")
@json_option
def evaluate(model_path, split, data, source, backend, json_out):
    """Evaluate a run dir, a bundle, or one .tflite/.onnx file on a split (default: the data
    and split it was trained on). Accuracy only: latency is `edgehar bench`'s."""
    from .evaluate_any import evaluate_path

    results = evaluate_path(model_path, split, source, backend, data)
    text = []
    for r in results:
        size = f"  params {r['params']:,}  MACs {r['macs'] / 1e6:.2f} M" if "params" in r else ""
        text += [f"{r['file']}: {split} accuracy {100 * r['accuracy']:.2f}%  macro-F1 "
                 f"{100 * r['macro_f1']:.2f}%  (n={r['n']}){size}",
                 f"  macro precision {100 * r['macro_precision']:.2f}%  macro recall "
                 f"{100 * r['macro_recall']:.2f}%",
                 "  per class: " + ", ".join(f"{k} {100 * v:.1f}%"
                                              for k, v in r["per_class_accuracy"].items()),
                 *confusion_lines(list(r["per_class_accuracy"]), r["confusion"])]
    text.append("latency: not measured here (it depends on what else runs); the benchmark is "
                "`edgehar bench --model BUNDLE`")
    _results(json_out, results, text)


def confusion_lines(labels: list[str], confusion: list[list[int]]) -> list[str]:
    """The confusion matrix with numbered columns: column ``k`` counts predictions of row
    ``k``'s class, so every class keeps its full name and no column is cut to fit."""
    width = max(5, len(str(max(max(row) for row in confusion))) + 1)
    name = max(len(lab) for lab in labels)
    num = len(str(len(labels)))
    lines = ["  confusion (rows: true class; columns: predicted, numbered as the rows)",
             f"    {'':>{num}} {'':<{name}} " + "".join(f"{k:>{width}}"
                                                     for k in range(1, len(labels) + 1))]
    for k, (lab, row) in enumerate(zip(labels, confusion), 1):
        lines.append(f"    {k:>{num}} {lab:<{name}} " + "".join(f"{v:>{width}}" for v in row))
    return lines


def _newest_run(root: Path = Path("runs")) -> Path | None:
    """The most recently trained run under ./runs (a directory with config.json + weights.pt)."""
    runs = [p.parent for p in root.glob("*/config.json") if (p.parent / "weights.pt").is_file()]
    return max(runs, key=lambda p: (p / "weights.pt").stat().st_mtime) if runs else None


def _export_options(int8, max_drop, calib_windows, formats, float_modules, float_atol,
                    chain_split, mcu=False):
    from .export.bundle import ExportOptions
    from .export.formats import Format

    try:
        fmts = frozenset(Format(f.strip()) for f in formats.split(",") if f.strip())
    except ValueError:
        raise EdgeharError(None, f"--formats takes onnx and/or tflite, got {formats!r}") from None
    if not fmts or Format.TORCH in fmts:
        raise EdgeharError(None, f"--formats takes onnx and/or tflite, got {formats!r}")
    floats = tuple(m.strip() for m in float_modules.split(",") if m.strip())
    return ExportOptions(int8=int8 or mcu, max_drop_pp=max_drop, calib_windows=calib_windows,
                         formats=fmts, float_modules=floats, float_atol=float_atol,
                         chain_split=chain_split, mcu=mcu)


def _run_export(run_dir: Path, out: Path, opts, progress) -> None:
    from .export.bundle import export_bundle

    _report_export(export_bundle(run_dir, out, opts, log=_progress_log(progress)), out, opts)


def _size(n: int) -> str:
    return (f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB" if n < 1024 ** 2
            else f"{n / 1024 ** 2:.1f} MB")


def bundle_files(out: Path) -> list[str]:
    """The bundle's files with their sizes, as export ends with them (like `yolo export`)."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    sizes = [p.stat().st_size for p in files]
    names = [p.relative_to(out).as_posix() for p in files]
    width = max((len(n) for n in names), default=0)
    return [f"  {n:<{width}}  {_size(b):>9}" for n, b in zip(names, sizes)] + [
        f"  {'':<{width}}  {_size(sum(sizes)):>9} in {len(files)} files"]


def next_commands(out: Path) -> list[str]:
    """What a user runs after export, with this bundle."""
    import shlex

    b = shlex.quote(str(out))
    cmds = [(f"edgehar evaluate {b}", "accuracy of every model file on the test split"),
            (f"edgehar replay --model {b} --sample", "replay the shipped sample recording"),
            (f"edgehar bench --model {b}", "size, latency, memory per model file")]
    width = max(len(c) for c, _ in cmds)
    return ["next:"] + [f"  {c:<{width}}  # {why}" for c, why in cmds]


def _report_export(res, out: Path, opts) -> None:
    click.echo(res.chain.table())
    click.echo(f"bundle: {out}")
    click.echo("\n".join(bundle_files(out)))
    if res.ok:
        click.echo("\n".join(next_commands(out)))
    else:
        worst = max(res.chain.failed, key=lambda r: r.drop_vs_torch_pp)
        names = ", ".join(f"{r.step} ({r.drop_vs_torch_pp:+.2f} pp)" for r in res.chain.failed)
        from .export.bundle import ExportFailed

        raise ExportFailed(None, f"accuracy drop exceeds --max-drop {opts.max_drop_pp} pp at "
                                 f"{names}; worst {worst.step}. Files written so far are valid "
                                 f"and listed in {out}/report.md")


max_drop_option = click.option(
    "--max-drop", default=1.0, show_default=True, type=click.FloatRange(min=0),
    help="max accuracy drop (percentage points against torch FP32) a conversion step may show")


def _int8_options(fn):
    for opt in reversed([
        max_drop_option,
        click.option("--calib-windows", default=512, show_default=True,
                     type=click.IntRange(min=1),
                     help="training windows the INT8 ranges are calibrated on"),
        click.option("--float-modules", default="", show_default=True,
                     help="diagnosis: comma-separated modules left in float inside the INT8 "
                          "models (hybrid files, not integer-only)"),
        click.option("--mcu", is_flag=True,
                     help="microcontroller kit: model_int8.h/.cc, the op resolver lines, the "
                          "TFLM arena size, a TFLM row in the chain (export: implies --int8; "
                          "needs pip install tflite-micro)"),
        click.option("--progress/--quiet", "progress", default=None,
                     help="per-step progress on stderr (default: only when stdout is a terminal)"),
    ]):
        fn = opt(fn)
    return fn


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path), required=False)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              callback=_checked_output_dir, help="bundle directory (default: RUN_DIR/bundle)")
@click.option("--int8", is_flag=True, help="also write INT8 ONNX and TFLite models")
@_int8_options
@click.option("--formats", default="onnx,tflite", show_default=True)
@click.option("--float-atol", default=1e-3, show_default=True, type=click.FloatRange(min=0),
              help="max |logit diff| a float conversion may show against torch")
@click.option("--chain-split", default="test", show_default=True,
              type=click.Choice(["val", "test"]),
              help="split the chain is scored on; use val when making choices")
def export(run_dir, out, int8, max_drop, calib_windows, float_modules, mcu, progress, formats,
           float_atol, chain_split):
    """Convert a training run into a model bundle with the accuracy-drop chain.

    Without RUN_DIR: the newest run under ./runs, else the shipped pretrained weights."""
    from .runtime.assets import PRETRAINED

    if run_dir is None:
        run_dir = _newest_run()
        if run_dir is None:
            run_dir, out = PRETRAINED, out or Path("runs") / "pretrained" / "bundle"
            click.echo(f"no run under ./runs: exporting the shipped pretrained weights "
                       f"({run_dir})")
        else:
            click.echo(f"exporting the newest run: {run_dir}")
    opts = _export_options(int8, max_drop, calib_windows, formats, float_modules, float_atol,
                           chain_split, mcu)
    out = Path(out or Path(run_dir) / "bundle")
    check_output_dir(out, "--out")   # the default too (RUN_DIR/bundle)
    _run_export(Path(run_dir), out, opts, progress)


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@_int8_options
def quantize(bundle, max_drop, calib_windows, float_modules, mcu, progress):
    """Add the INT8 files, chain rows, manifest entries and golden outputs to a bundle.

    The INT8 half of `export --int8`, from the bundle's own weights and data spec. The float
    steps run again to score the chain in one pass; they come out byte-identical."""
    from .export.bundle import quantize_bundle

    opts = _export_options(True, max_drop, calib_windows, "onnx,tflite", float_modules, 1e-3,
                           "test", mcu)
    res = quantize_bundle(Path(bundle), opts, log=_progress_log(progress))
    _report_export(res, Path(bundle), opts)


@main.command(add_help_option=False,  # --help goes through to the replay parser
              context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def replay(ctx):
    """Replay a sensor log (same options as `python -m edgehar.runtime replay`), or many:
    PATH [PATH ...] --out-dir DIR [--workers N] [--engine local|ray]."""
    from .fleet.cli import replay as run_replay_command

    return run_replay_command(ctx.args)


@main.command()
@click.option("--model", "model_name", default=None,
              help=f"registered model  [default: {RECIPE_DEFAULTS['model']}]")
@click.option("--epochs", default=None, type=int,
              help=f"epochs  [default: {RECIPE_DEFAULTS['epochs'][0]}, the recipe's]")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              callback=_checked_output_dir, help="directory for the run, bundle and replay")
@max_drop_option
@data_options()
def pipeline(model_name, epochs, seed, out, max_drop, data):
    """The main job: train -> export --int8 (drop chain) -> replay a test subject's recording."""
    from .pipeline import run_pipeline

    ok = run_pipeline(model_name, epochs, seed, out, max_drop, echo=click.echo, data=data)
    return 0 if ok else 1


@main.command()
@click.argument("pred", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="PNG to write",
              callback=_checked_output_file)
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="truth: the labelled CSV log that was replayed, or HAPT labels.txt  "
                   "[default: none, no truth band]")
@click.option("--experiment", type=int, default=None,
              help="experiment in labels.txt (default: the expNN in the prediction file name)")
@click.option("--summary", type=click.Path(path_type=Path), default=None,
              help="replay summary JSON (default: replay_X.json beside pred_X.jsonl)")
@click.option("--compare", type=click.Path(path_type=Path), default=None, metavar="PRED2.jsonl",
              help="a second replay of the same log (e.g. a fleet's baseline/<log>.jsonl): "
                   "the two timelines one above the other, where they differ marked")
def plot(pred, out, labels, experiment, summary, compare):
    """Timeline picture of a replay's predictions: activity bands, truth, confidence, gaps."""
    from .report.timeline import plot_compare, plot_timeline

    if compare is not None:
        r = plot_compare(pred, compare, out, labels, experiment)
        click.echo(f"top-1 agreement {100 * r['agreement']:.1f} % of {r['common_windows']} "
                   f"windows, {r['seconds'] / 60:.1f} min -> {out}")
        return
    r = plot_timeline(pred, out, labels, summary, experiment)
    click.echo(f"{r['windows']} windows, {r['seconds'] / 60:.1f} min -> {out}")


@main.command()
@click.option("--model", "bundle", type=click.Path(path_type=Path), default=None,
              help="bundle dir with model_stream.tflite (default: the shipped pretrained bundle)")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="0.0.0.0: reachable from a phone on the same network")
@click.option("--tls", nargs=2, type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="CERT KEY", help="serve HTTPS (phones give motion sensors only to secure "
                                       "contexts); docs/web.md makes a self-signed pair")
@click.option("--litertjs", "litertjs_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="LiteRT.js directory holding core/ and wasm-utils/ (default: "
                                 "$EDGEHAR_LITERTJS, else the npm cache docs/web.md installs)")
def web(bundle, port, host, tls, litertjs_dir):
    """Serve a page that runs model_stream.tflite in the browser: drop a log, or classify live."""
    from .web.server import serve_forever

    serve_forever(bundle, host, port, tuple(map(str, tls)) if tls else None, litertjs_dir,
                  echo=click.echo)


@main.command()
@click.option("--model", "bundle", type=click.Path(path_type=Path), default=None,
              help="bundle dir (default: the shipped pretrained bundle)")
@json_option
@click.option("--repeats", default=1200, show_default=True, type=click.IntRange(min=1),
              help="Timed single-window runs per model file and thread count.")
def bench(bundle, json_out, repeats):
    """Size, latency (1 thread and all cores), throughput, cold start and RSS per model file."""
    from .benchmark import render, run_bench

    results = run_bench(bundle, None, repeats, echo=lambda *_: None)
    _results(json_out, results, render(results))


if __name__ == "__main__":
    main()
