"""Pictures for people: the replay timeline PNG and the bundle's self-contained report.html,
rendered by a real headless Chromium where one is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("click")
from click.testing import CliRunner  # noqa: E402

from edgehar.cli import main  # noqa: E402
from edgehar.runtime.assets import SAMPLE_LOG  # noqa: E402


def _png_is_a_picture(path) -> tuple[float, float]:
    """(share of non-white pixels, pixel std): a blank render has ~0 of both."""
    import matplotlib.image as mpimg

    img = mpimg.imread(str(path))[..., :3]
    return float((img.mean(axis=2) < 0.95).mean()), float(img.std())


@pytest.fixture(scope="module")
def sample_predictions(tmp_path_factory):
    from edgehar.runtime.replay import ReplayOptions, run_replay

    d = tmp_path_factory.mktemp("pred")
    run_replay(ReplayOptions(log=SAMPLE_LOG, out=d / "pred_sample.jsonl",
                             summary=d / "replay_sample.json", quiet=True))
    return d / "pred_sample.jsonl"


def test_timeline_plot_with_truth_from_the_log(sample_predictions, tmp_path):
    out = tmp_path / "t.png"
    r = CliRunner().invoke(main, ["plot", str(sample_predictions), "--labels", str(SAMPLE_LOG),
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    ink, std = _png_is_a_picture(out)
    assert ink > 0.05 and std > 0.1
    from edgehar.report.timeline import read_binned, truth_from

    truth, names = truth_from(SAMPLE_LOG, sample_predictions, None)
    b = read_binned(sample_predictions, truth, names)
    lines = sample_predictions.read_text().splitlines()
    assert b.windows == len(lines) and b.pred.sum() == len(lines)
    assert b.truth.sum() == len(lines)
    # the mismatch count is the replay's own error count on the scored windows
    s = json.loads((sample_predictions.parent / "replay_sample.json").read_text())
    assert b.scored == s["scored_windows"]
    assert b.mismatches == round((1 - s["accuracy"]) * s["scored_windows"])


@pytest.mark.parametrize("content,message", [
    (b"not json at all\n", "line 1 is not a prediction"),
    (b"", "empty prediction file"),
    (b'{"start": 64, "end": 192, "t": 3.84, "label": "A", "confidence": 0.5}\n'
     b'{"start": 0, "end": 128, "t": 2.56, "label": "A", "confidence": 0.5}\n', "out of order"),
    (b'{"start": 0}\n', "is not a prediction"),
    (b"\xff\xfe\x00\x01", "not"),
])
def test_plot_refuses_what_is_not_a_prediction_file(tmp_path, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    r = CliRunner().invoke(main, ["plot", str(bad), "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and message in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()


# Attributes that make a browser fetch (or navigate to) what they name.
URL_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "data", "poster", "background",
                  "codebase", "cite", "longdesc", "manifest", "ping", "xlink:href", "xmlns:xlink"}
CSS_REFERENCE = re.compile(r"url\s*\(|@import|image-set\s*\(", re.I)


class _References(HTMLParser):
    """Every reference an HTML page makes outside itself: URL attributes (other than in-page
    #fragments and data: URIs), url(), @import and image-set() in <style> and style="",
    <meta http-equiv=refresh>, and elements that embed another document."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        if tag in ("iframe", "frame", "object", "embed", "base", "link", "script") and (
                tag != "script" or any(k == "src" for k, _ in attrs)):
            self.found.append(f"<{tag}>")
        for key, value in attrs:
            value = (value or "").strip()
            if key in URL_ATTRIBUTES and value and not value.startswith(("#", "data:")):
                self.found.append(f"<{tag} {key}={value!r}>")
            if key == "style" and CSS_REFERENCE.search(value):
                self.found.append(f"<{tag} style={value!r}>")
            if tag == "meta" and key == "http-equiv" and value.lower() == "refresh":
                self.found.append("<meta http-equiv=refresh>")
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style and CSS_REFERENCE.search(data):
            self.found.append(f"<style> {CSS_REFERENCE.search(data).group(0)}")


def external_references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser.found


def test_the_reference_finder_finds_references():
    """The checker itself: each kind of outside reference is found, in-page ones are not."""
    for html in ('<img src="x.png">', '<a href="//cdn.example/x">', '<link rel=stylesheet href=a>',
                 '<script src="https://x/y.js"></script>', '<style>@import "a.css";</style>',
                 "<style>body{background:url(x.png)}</style>", '<p style="background:url(a)">',
                 '<meta http-equiv="refresh" content="0;url=http://x">', '<iframe></iframe>',
                 '<svg><image xlink:href="x.png"/></svg>', '<img srcset="a.png 2x">'):
        assert external_references(html), html
    assert external_references('<a href="#top">t</a><img src="data:image/png;base64,AA">'
                               "<style>td{color:red}</style><script>let a=1</script>") == []


def test_report_html_is_self_contained_and_complete(shipped_bundle, tmp_path):
    """The shipped report.html and one rendered now reference nothing outside themselves."""
    from edgehar.report.bundle import render_reports

    for name in ("manifest.json", "report.json"):
        shutil.copy(shipped_bundle / name, tmp_path / name)
    render_reports(tmp_path)
    for path in (shipped_bundle / "report.html", tmp_path / "report.html"):
        assert external_references(path.read_text()) == [], path
    text = (shipped_bundle / "report.html").read_text()
    report = json.loads((shipped_bundle / "report.json").read_text())
    for row in report["chain"]:
        assert f"<caption>{row['step']}</caption>" in text     # a confusion matrix per step
        assert f"{100 * row['accuracy']:.2f}" in text
        assert np.asarray(row["confusion"]).sum() == report["test_windows"]
    for name in json.loads((shipped_bundle / "manifest.json").read_text())["files"]:
        assert name in text


def test_reports_render_from_report_json_and_the_manifest(shipped_bundle, tmp_path):
    """report.md and report.html come from report.json and manifest.json alone (edgehar.report,
    not export): re-rendered from the shipped bundle's two files, they are its shipped reports."""
    from edgehar.report.bundle import render_reports
    from edgehar.runtime.errors import EdgeharError

    for name in ("manifest.json", "report.json"):
        shutil.copy(shipped_bundle / name, tmp_path / name)
    render_reports(tmp_path)
    assert (tmp_path / "report.md").read_text() == (shipped_bundle / "report.md").read_text()
    assert (tmp_path / "report.html").read_text() == (shipped_bundle / "report.html").read_text()
    (tmp_path / "report.json").write_text("[1, 2]")
    with pytest.raises(EdgeharError, match="not an export report"):
        render_reports(tmp_path)


@pytest.mark.slow   # starts headless Chromium
def test_report_html_renders_in_a_real_browser(shipped_bundle, tmp_path):
    from stream_interpreters import find_browser  # skips without one

    browser = find_browser()
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,1500", f"--screenshot={shot}",
                    (shipped_bundle / "report.html").resolve().as_uri()],
                   capture_output=True, timeout=120, check=True)
    ink, std = _png_is_a_picture(shot)
    assert ink > 0.05 and std > 0.05, (ink, std)


def test_progress_shows_when_asked_and_never_in_scripts_otherwise(tmp_path):
    import sys

    base = [sys.executable, "-m", "edgehar.runtime", "replay", "--sample", "--out",
            str(tmp_path / "p.jsonl")]
    asked = subprocess.run(base + ["--progress"], capture_output=True, text=True)
    assert asked.returncode == 0, asked.stderr
    assert "replay sample_user02.csv:" in asked.stderr and "s of log" in asked.stderr
    assert "ETA" in asked.stderr
    plain = subprocess.run(base, capture_output=True, text=True)   # stdout piped: a script
    assert plain.returncode == 0 and "s of log" not in plain.stderr


def test_progress_line_is_rate_limited_and_estimates_the_end():
    import io

    from edgehar.runtime.progress import ProgressLine

    out = io.StringIO()
    now = [0.0]
    bar = ProgressLine("replay x", " s", every=0.5, out=out, clock=lambda: now[0])
    bar.update(10, 100)            # shows at once
    now[0] = 0.2
    bar.update(20, 100)            # too soon: nothing
    now[0] = 1.0
    bar.update(50, 100)
    bar.close()
    lines = [ln for ln in out.getvalue().split("\r") if ln.strip()]
    assert len(lines) == 2 and "50 %" in lines[1] and "ETA 1 s" in lines[1]


def test_timeline_legend_lists_only_the_models_classes(sample_predictions, tmp_path):
    """The legend's classes are the bundle's, in its order; a truth the model has no class
    for is one grey entry, not a class the model seems to output."""
    from edgehar.report.timeline import plot_timeline
    from edgehar.runtime.assets import PRETRAINED
    from edgehar.runtime.manifest import read_manifest

    labels = list(read_manifest(PRETRAINED).labels)
    r = plot_timeline(sample_predictions, tmp_path / "t.png", SAMPLE_LOG)
    assert r["legend"] == labels
    # the same log with its first 20 s relabelled as a postural transition the model lacks
    rows = SAMPLE_LOG.read_text().splitlines()
    rows[1:1001] = [row.rsplit(",", 1)[0] + ",STAND_TO_SIT" for row in rows[1:1001]]
    relabelled = tmp_path / "relabelled.csv"
    relabelled.write_text("\n".join(rows) + "\n")
    r = plot_timeline(sample_predictions, tmp_path / "t2.png", relabelled)
    assert "STAND_TO_SIT" in r["labels"]            # drawn in the truth band ...
    assert r["legend"] == [*labels, "truth without a model class"]   # ... not as a class


def test_report_html_says_what_exported_it_and_lists_the_mcu_kit(shipped_bundle):
    from dataclasses import replace

    from edgehar.report.bundle import read_report
    from edgehar.report.html import render_report_html
    from edgehar.runtime.manifest import ExportedWith, read_manifest

    m = read_manifest(shipped_bundle)
    old = render_report_html(m, read_report(shipped_bundle))
    assert "Exported by edgehar" not in old    # its manifest recorded the Python version only
    m = replace(m, exported_with=ExportedWith("3.11.7", "0.2.0", "2.13.0", "0.10.0", "1.31.1",
                                              "2026-12-03T16:00:00+00:00"))
    text = render_report_html(m, read_report(shipped_bundle))
    assert ("Exported by edgehar 0.2.0 on 2026-12-03 16:00:00 UTC (torch 2.13.0, litert-torch "
            "0.10.0, onnxruntime 1.31.1, Python 3.11.7)") in text
    kit = text[text.index("<h2>Microcontroller kit"):]
    for entry in m.files.values():
        if entry.mcu is not None:
            assert all(f"<code>{f}</code>" in kit for f in entry.mcu.files)
            assert f"{entry.mcu.arena_bytes:,}" in kit
    assert "mcu/model_int8.cc" in kit and "mcu/model_stream.cc" in kit
