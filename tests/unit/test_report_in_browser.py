"""A report as a person opens it: headless Chromium lays the page out; the summary box must be within the first
screen, and no code input, progress bar or warning may be visible anywhere on the page."""

from __future__ import annotations

import json
import shutil
import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from playbook.core.profiles import REPO_ROOT
from playbook.reports.notebook_html import render_report
from playbook.reports.results import parse_day_result
from playbook.reports.summary import summarize_day, summary_box
from tests.support.results import day_metrics, summary

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PROBE = """<script>
const box = document.querySelector(".playbook-summary")?.getBoundingClientRect() || {bottom: -1};
const text = document.body.innerText;
document.title = JSON.stringify({box_bottom: box.bottom, screen: window.innerHeight,
  inputs: document.querySelectorAll('.jp-InputArea-editor').length,
  tqdm: text.includes('it/s]') || text.includes('TqdmWarning'), warning: text.includes('UserWarning')});
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `make test` installs Debian's package where it can")
def test_the_summary_is_on_the_first_screen_and_nothing_else_shows(tmp_path):
    long_output = "\n".join(f"level c={c}: ok" for c in range(200))
    cells = [new_markdown_cell("# Day 7 — load test\n\n" + "Narrative. " * 400),
             new_code_cell("x = 1", outputs=[
                 new_output("stream", name="stdout", text=long_output),
                 new_output("stream", name="stderr", text="c=8: 42%|####| 8/19 [00:03<00:04, 2.71it/s]\n"
                            "UserWarning: TqdmWarning: IProgress not found\n")])]  # fmt: skip
    nbformat.write(new_notebook(cells=cells), str(tmp_path / "notebook.ipynb"))
    result = parse_day_result(day_metrics(7, {"peak": {"status": "ok", "summary": summary(36.0)}}))
    page = render_report(
        tmp_path / "notebook.ipynb", tmp_path / "report.html", "Day 7", summary_box(summarize_day(result))
    )
    found = probe(page, tmp_path)
    assert 0 < found["box_bottom"] <= found["screen"], found
    assert found["inputs"] == 0 and not found["tqdm"] and not found["warning"], found


def probe(page, tmp_path, script: str = PROBE) -> dict:
    """What Chromium lays out of ``page``, as ``script`` reports it in the title (by default: where the summary box
    ends, the screen's height, and what shows)."""
    (tmp_path / "probe.html").write_text(page.read_text().replace("</body>", script, 1))
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                          "--virtual-time-budget=3000", "--dump-dom", (tmp_path / "probe.html").as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    return json.loads(dom.split("<title>", 1)[1].split("</title>", 1)[0].replace("&quot;", '"'))


REFERENCE_REPORTS = sorted((REPO_ROOT / "reference").rglob("day0[1-8]/report.html"))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `make test` installs Debian's package where it can")
def test_every_committed_reference_report_is_in_the_report_form(tmp_path):
    """The references of every date, those rendered before the report form included (re-rendered in place by
    ``playbook index --references reference``): box first, no code, no progress bar or warning, a real title."""
    assert len(REFERENCE_REPORTS) >= 15
    for page in REFERENCE_REPORTS:
        found = probe(page, tmp_path)
        where = page.relative_to(REPO_ROOT)
        assert 0 < found["box_bottom"] <= found["screen"], (where, found)
        assert found["inputs"] == 0 and not found["tqdm"] and not found["warning"], (where, found)
        assert "<title>Notebook</title>" not in page.read_text(), where


COMPARISON_PAGES = sorted(
    [*(REPO_ROOT / "reference").rglob("compare/report.html"), *(REPO_ROOT / "reference").glob("*/compare-days.html")]
)  # Days 3 and 6 overlaid
CHART_PROBE = """<script>
const chart = document.querySelector("img")?.getBoundingClientRect() || {top: -1, height: 0};
document.title = JSON.stringify({chart_top: chart.top, chart_height: chart.height, screen: window.innerHeight});
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `make test` installs Debian's package where it can")
@pytest.mark.parametrize("page", COMPARISON_PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT / "reference")))
def test_a_comparison_page_shows_its_first_chart_on_the_first_screen(page, tmp_path):
    """The engines side by side: the chart that overlays them starts within the first 1280x800 screen."""
    assert len(COMPARISON_PAGES) >= 4  # Day 7: h200-2026-11-30b, -12-04; Days 3/6: h100-2026-11-25, h200-2026-11-30c
    found = probe(page, tmp_path, CHART_PROBE)
    assert 0 <= found["chart_top"] < found["screen"] and found["chart_height"] > 100, found
