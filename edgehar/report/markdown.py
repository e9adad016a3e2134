"""``report.md``: the bundle's export report as Markdown, rendered from report.json and the
manifest (``report.bundle.render_reports``)."""

from __future__ import annotations


def chain_table(chain: list[dict]) -> str:
    """The accuracy-drop chain (report.json's ``chain`` rows) as a Markdown table."""
    head = ("| step | accuracy % | macro-F1 % | drop vs torch (pp) | drop vs previous (pp) "
            "| top-1 agreement % | max abs logit diff | within max-drop |")
    lines = [head, "|" + "---|" * 8]
    for r in chain:
        diff = "-" if r["max_abs_logit_diff"] is None else f"{r['max_abs_logit_diff']:.2e}"
        lines.append(
            f"| {r['step']} | {100 * r['accuracy']:.2f} | {100 * r['macro_f1']:.2f} | "
            f"{r['drop_vs_torch_pp']:+.2f} | {r['drop_vs_previous_pp']:+.2f} ({r['previous']}) | "
            f"{100 * r['agreement_top1']:.2f} | {diff} | {'yes' if r['passed'] else 'NO'} |")
    return "\n".join(lines)


def render_report_md(manifest, report: dict) -> str:
    m = manifest.model
    lines = [
        f"# Export report: {m.name}",
        "",
        f"{m.params:,} parameters, {m.macs / 1e6:.2f} M MACs per window. Scored on "
        f"{report['test_windows']} {report['split']}-subject windows; max drop {report['max_drop_pp']} pp.",
        "",
        chain_table(report["chain"]),
        "",
    ]
    if not manifest.complete:
        lines += [f"**Incomplete export:** {manifest.failure}", ""]
    if report["failed_steps"]:
        lines += [f"**Failed:** {', '.join(report['failed_steps'])} exceeded the max drop.", ""]
    if report["int8_layer_sqnr"]:
        lines += ["## Where INT8 loses accuracy (ONNX QDQ graph, lowest SQNR first)", "",
                  "| tensor | SQNR vs float (dB) | SQNR across its own QDQ (dB) |", "|---|---|---|"]
        lines += [f"| {r['tensor']} | {r['sqnr_db']:.1f} | {r['qdq_sqnr_db']:.1f} |"
                  for r in report["int8_layer_sqnr"]]
        lines.append("")
    lines += ["## Files", "", "| file | format | precision | size | sha256 | converted from |",
              "|---|---|---|---|---|---|"]
    for name, f in manifest.files.items():
        lines.append(f"| {name} | {f.format} | {f.precision} | "
                     f"{f.size_bytes or '-'} | {f.sha256[:12]} | {f.parent or '-'} |")
    return "\n".join(lines) + "\n"
