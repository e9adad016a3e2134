"""``report.html``: the bundle's export report for people, one self-contained file.

No network and no images to fetch: styles inline, confusion matrices as shaded HTML tables.
It shows the accuracy-drop chain, a confusion matrix per step, the per-layer SQNR table when
an INT8 step was analysed, each file's size, lineage and latency, the microcontroller kit
(``mcu/``, the TFLM arena) when export wrote one, the manifest's essentials, and what exported
the bundle (edgehar and its tools' versions, the date) where the manifest records it.
"""

from __future__ import annotations

import html

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;
border-bottom:1px solid #ddd;padding-bottom:.2em}table{border-collapse:collapse;margin:.6em 0;
font-size:.9em}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left}.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.muted{color:#666}.cms{display:flex;flex-wrap:wrap;gap:1.2em}
.cm td{width:2.4em;text-align:center;padding:.2em .3em}.cm th{font-size:.8em;padding:.2em .3em}
.cm caption{font-weight:600;margin-bottom:.3em}.banner{padding:.6em 1em;border-radius:6px;
margin:1em 0}.banner.bad{background:#ffebe9}.banner.ok{background:#dafbe1}code{background:#f4f4f4;
padding:0 .2em}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _listed(subjects) -> list | None:
    """A subject tuple as the manifest's JSON shows it."""
    return None if subjects is None else list(subjects)


def _table(head: list[str] | None, rows: list[list], left: int = 1) -> str:
    th = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>'
                 for i, h in enumerate(head or []))
    th = f"<tr>{th}</tr>" if head else ""
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table>{th}{body}</table>"


def _confusion(step: str, cm: list[list[int]], labels: list[str]) -> str:
    short = [lab.replace("WALKING_", "")[:10] for lab in labels]
    rows = []
    for i, row in enumerate(cm):
        total = max(sum(row), 1)
        cells = []
        for j, v in enumerate(row):
            share = v / total
            colour = (f"rgba(31,119,180,{share:.2f})" if i == j else
                      f"rgba(214,39,40,{min(1.0, 3 * share):.2f})")
            text = "#fff" if share > 0.55 else "#222"
            cells.append(f'<td style="background:{colour};color:{text}" '
                         f'title="{_e(labels[i])} as {_e(labels[j])}: {v}">{v}</td>')
        rows.append(f'<tr><th class="l">{_e(short[i])}</th>{"".join(cells)}</tr>')
    head = "".join(f"<th>{_e(s)}</th>" for s in short)
    return (f'<table class="cm"><caption>{_e(step)}</caption><tr><th class="l">true \\ '
            f"predicted</th>{head}</tr>{''.join(rows)}</table>")


def _exported_by(w) -> list[str]:
    """edgehar's version, the date and the tools; nothing for a bundle exported before
    edgehar recorded them (its manifest holds the Python version only)."""
    if w.edgehar is None:
        return []
    tools = ", ".join(f"{name} {v}" for name, v in (
        ("torch", w.torch), ("litert-torch", w.litert_torch), ("onnxruntime", w.onnxruntime),
        ("Python", w.python)) if v)
    date = f" on {_e(w.date.replace('T', ' ').replace('+00:00', ' UTC'))}" if w.date else ""
    return [f'<p class="muted">Exported by edgehar {_e(w.edgehar)}{date} ({_e(tools)}).</p>']


def mcu_section(m) -> list[str]:
    """``export --mcu``'s kit: per model file its files under ``mcu/``, the TFLM arena it
    needs and its ops; nothing when the bundle has no kit."""
    rows = [[_e(name), "<br>".join(f"<code>{_e(f)}</code>" for f in e.mcu.files),
             f"{e.mcu.arena_bytes:,}", _e(", ".join(e.mcu.ops)), _e(e.mcu.interpreter)]
            for name, e in m.files.items() if e.mcu is not None]
    if not rows:
        return []
    return ["<h2>Microcontroller kit (TFLM)</h2>",
            _table(["model file", "kit files", "TFLM arena (bytes)", "ops (op resolver)",
                    "arena measured with"], rows, left=2)]


def render_report_html(manifest, report: dict) -> str:
    m = manifest
    labels = list(m.labels)
    chain = report["chain"]
    failed = report["failed_steps"]
    status = (f'<div class="banner bad">Incomplete export: {_e(m.failure)}</div>'
              if not m.complete else
              f'<div class="banner bad">Over the max drop ({report["max_drop_pp"]} pp): '
              f'{_e(", ".join(failed))}</div>' if failed else
              f'<div class="banner ok">Every step within the max drop '
              f'({report["max_drop_pp"]} pp).</div>')
    rows = []
    for r in chain:
        diff = "-" if r["max_abs_logit_diff"] is None else f'{r["max_abs_logit_diff"]:.2e}'
        ok = '<span class="ok">yes</span>' if r["passed"] else '<span class="bad">NO</span>'
        rows.append([_e(r["step"]), f'{100 * r["accuracy"]:.2f}', f'{100 * r["macro_f1"]:.2f}',
                     f'{r["drop_vs_torch_pp"]:+.2f}',
                     f'{r["drop_vs_previous_pp"]:+.2f} ({_e(r["previous"])})',
                     f'{100 * r["agreement_top1"]:.2f}', diff, ok])
    parts = [f"<h1>Export report: {_e(m.model.name if m.model else 'model')}</h1>",
             f'<p class="muted">{len(labels)} classes; scored on {report["test_windows"]:,} '
             f'{_e(report["split"])}-subject windows.</p>', *_exported_by(m.exported_with),
             status,
             "<h2>Accuracy-drop chain</h2>",
             _table(["step", "accuracy %", "macro-F1 %", "drop vs torch (pp)",
                     "drop vs previous (pp)", "top-1 agreement %", "max |logit diff|",
                     "within max-drop"], rows)]
    cms = [_confusion(r["step"], r["confusion"], labels) for r in chain if r.get("confusion")]
    if cms:
        parts += ["<h2>Confusion matrices (rows: true class)</h2>",
                  f'<div class="cms">{"".join(cms)}</div>']
    if report.get("int8_layer_sqnr"):
        parts += ["<h2>Where INT8 loses accuracy (ONNX QDQ graph, lowest SQNR first)</h2>",
                  _table(["tensor", "SQNR vs float (dB)", "SQNR across its own QDQ (dB)"],
                         [[_e(r["tensor"]), f'{r["sqnr_db"]:.1f}', f'{r["qdq_sqnr_db"]:.1f}']
                          for r in report["int8_layer_sqnr"]])]
    lat = report.get("latency_ms", {})
    frows = []
    for name, f in m.files.items():
        lt = lat.get(name)
        frows.append([_e(name), _e(f.format), _e(f.precision),
                      f"{f.size_bytes:,}" if f.size_bytes else "-",
                      f'{lt["p50"]:.3f} / {lt["p99"]:.3f}' if lt else "-",
                      f"<code>{_e(f.sha256[:12])}</code>", _e(f.parent or "-")])
    parts += ["<h2>Files</h2>",
              _table(["file", "format", "precision", "bytes", "latency p50 / p99 ms (1 thread, "
                      "batch 1, export machine)", "sha256", "converted from"], frows)]
    parts += mcu_section(m)
    spec = m.spec
    info = [["labels", _e(", ".join(labels))],
            ["window", f"{spec.window} samples at {spec.sample_rate} Hz, hop {spec.hop}"],
            ["channels", _e(", ".join(spec.channels))],
            ["filters", f"noise: {_e(spec.noise_filter.kind)} {spec.noise_filter.cutoff_hz} Hz; "
                        f"gravity: {_e(spec.gravity_filter.kind)} {spec.gravity_filter.cutoff_hz} Hz"],
            ["normalization", "per-channel (x - mean) / std, applied by the runtime"]]
    if m.model:
        info.append(["model", f"{_e(m.model.name)}: {m.model.params:,} parameters, "
                              f"{m.model.macs / 1e6:.2f} M MACs per window"])
    if m.calibration:
        info.append(["calibration", f"{m.calibration.windows} windows, seed {m.calibration.seed}"])
    if m.quantization:
        info.append(["float modules in INT8",
                     _e(", ".join(m.quantization.float_modules) or "none")])
    if m.orientation:
        info.append(["orientation", f"vertical {list(m.orientation.vertical)}; heading-invariant: "
                                    f"{m.orientation.heading_invariant}"])
    if m.dataset:
        d = m.dataset
        info.append(["data", f"{_e(d.source)}; test subjects {_e(_listed(d.test_subjects))}"
                             f"; validation subjects {_e(_listed(d.val_subjects))}"])
    parts += ["<h2>Manifest essentials</h2>", _table(None, info, left=2)]
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>edgehar export '
            f'report</title><style>{CSS}</style></head><body>{"".join(parts)}</body></html>\n')
