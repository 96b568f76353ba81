"""A day's executed notebook as the report a team reads: outputs only, no machinery.

The executed ``notebook.ipynb`` stays beside the report for whoever wants the code; the HTML
shows what the day measured and concluded. Hidden: code inputs and prompts, the cell papermill
injects (machine paths), and stderr streams (tqdm bars, library warnings). Errors stay: a failed
cell's traceback is part of the result.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from playbook.reports.paths import scrub_html


def report_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without papermill's injected cell and without stderr streams."""
    copy = nbformat.from_dict(notebook)
    copy.cells = [c for c in copy.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o for o in cell.get("outputs", []) if not (o.output_type == "stream" and o.name == "stderr")
            ]
    return copy


def _is_stderr(output: nbformat.NotebookNode) -> bool:
    return output.output_type == "stream" and output.name == "stderr"


def render_report(notebook_path: Path, html_path: Path, title: str, summary_html: str | None = None) -> Path:
    """``notebook_path`` rendered to ``html_path`` under ``title`` (the browser tab), with ``summary_html`` (the
    day's summary box) first in the page."""
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    notebook = report_notebook(nbformat.read(str(notebook_path), as_version=4))
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    if summary_html:
        body = body.replace("<main>", "<main>\n" + summary_html, 1)
    html_path.write_text(scrub_html(body, run_dir=html_path.parent.parent))  # machine paths: see reports.paths
    return html_path


def rerender_html(html_path: Path, title: str, summary_html: str | None = None) -> Path:
    """A report written before the report form (every code cell shown, stderr blocks, the tab titled "Notebook"),
    cleaned in place the same way :func:`render_report` renders: for committed references whose executed
    notebook was not kept, so re-executing is the only other way, and that needs the GPU run again.

    Removed: papermill's injected cell, code inputs and prompts, code cells without output, stderr outputs. Kept:
    markdown, every other output (errors included). The summary box goes first in ``<main>``."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html_path.read_text(), "html.parser")
    for cell in soup.select(".jp-CodeCell"):
        classes = cell.get("class", [])
        if "celltag_injected-parameters" in classes or "jp-mod-noOutputs" in classes:
            cell.decompose()
            continue
        for node in cell.select(".jp-Cell-inputWrapper, .jp-OutputPrompt"):
            node.decompose()
        for node in cell.select('[data-mime-type="application/vnd.jupyter.stderr"]'):
            (node.find_parent(class_="jp-OutputArea-child") or node).decompose()
    if soup.title is not None:
        soup.title.string = title
    main = soup.find("main")
    if summary_html and main is not None:
        main.insert(0, BeautifulSoup(summary_html, "html.parser"))
    html_path.write_text(scrub_html(str(soup), run_dir=html_path.parent.parent))
    return html_path
