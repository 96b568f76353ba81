"""A day's report shows what the day measured, not the machinery: no code inputs, no papermill cell, no
progress bars or warnings; errors stay; the page has a real title. The executed notebook keeps the code."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from playbook.reports.notebook_html import render_report


def executed_notebook():
    injected = new_code_cell("profile = '/home/someone/secret-path.yaml'", metadata={"tags": ["injected-parameters"]})
    measured = new_code_cell("print(summary)", outputs=[
        new_output("stream", name="stdout", text="1000/1000 ok, TTFT P99 5955 ms\n"),
        new_output("stream", name="stderr", text="TqdmWarning: IProgress not found\n 42%|####      | 420/1000\n"),
    ])  # fmt: skip
    failed = new_code_cell("ctx.finish()", outputs=[new_output("error", ename="ValidationFailed", evalue="gate FAIL",
                                                               traceback=["ValidationFailed: gate FAIL"])])  # fmt: skip
    return new_notebook(cells=[new_markdown_cell("# Day 7 — load test"), injected, measured, failed])


def test_the_report_hides_the_machinery_and_keeps_the_results(tmp_path):
    notebook = tmp_path / "notebook.ipynb"
    nbformat.write(executed_notebook(), str(notebook))
    page = render_report(notebook, tmp_path / "report.html", "Day 7: Load test · cpu-smollm2 · 2026-11-30").read_text()
    assert "<title>Day 7: Load test · cpu-smollm2 · 2026-11-30</title>" in page
    assert "1000/1000 ok, TTFT P99 5955 ms" in page and "Day 7 — load test" in page
    assert "ValidationFailed: gate FAIL" in page  # a failure is part of the result
    for hidden in ("print(summary)", "secret-path.yaml", "TqdmWarning", "420/1000", 'class="jp-InputArea-editor'):
        assert hidden not in page, hidden
    assert "print(summary)" in notebook.read_text()  # the code stays in the notebook beside the report


def test_progress_bars_are_off_in_the_notebooks_the_runner_executes(tmp_path, monkeypatch):
    """The runner sets TQDM_DISABLE for its kernels (tqdm reads TQDM_* as defaults): the load generator's bar
    never reaches a report, while a terminal outside the runner keeps it."""
    import os
    import subprocess
    import sys

    from playbook.run import runner

    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: None)
    monkeypatch.setattr(runner, "render_html", lambda *a, **k: None)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    runner.execute_day(runner.DAYS[1], tmp_path, {"profile": "cpu-smollm2", "overrides": []}, None)
    assert os.environ["TQDM_DISABLE"] == "1"
    probe = "from tqdm import tqdm; print(tqdm(range(2)).disable)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "True"
