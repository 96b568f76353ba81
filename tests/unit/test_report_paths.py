"""Reports travel without the machine that wrote them: no absolute path of that machine in any committed page,
and the renderer makes every one portable (``playbook.reports.paths``)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from playbook.reports.legacy import leftovers
from playbook.reports.notebook_html import render_report
from playbook.reports.paths import machine_paths, scrub_text

REFERENCE = Path(__file__).resolve().parents[2] / "reference"
RUN = Path("/root/gpu-outputs/2026-12-03/run-0001")


@pytest.mark.parametrize("page", sorted(REFERENCE.rglob("*.html")), ids=lambda p: str(p.relative_to(REFERENCE)))
def test_no_committed_page_names_a_machine_path_a_python_repr_or_a_stray_pass_line(page):
    """Every committed page, the worked CPU week's included: what a team lead forwards carries no machine path, no
    Python dict or list repr and no ``PASS:`` line outside its Checks section (``reports.legacy`` tidied the
    older ones)."""
    text = page.read_text()
    assert machine_paths(text) == [] and leftovers(text) == []


def test_tidying_an_older_page_makes_tables_and_moves_checks():
    from playbook.reports.legacy import tidy

    page = (
        "<html><body><main><div class='jp-OutputArea-child'><pre>{'engine': 'vllm', 'argv': ['python', '-m', "
        "'x']}</pre></div><div class='jp-OutputArea-child'><pre>PASS: c=1: 8/8 ok\n</pre></div>"
        "<div class='jp-RenderedMarkdown'><pre>quant_config={'w_bit': 4}</pre></div></main></body></html>"
    )
    assert len(leftovers(page)) == 3  # the PASS line, the dict, the list inside it (not the quoted markdown)
    tidied, tables, moved, _ = tidy(page)
    assert (tables, moved) == (1, 1) and leftovers(tidied) == []
    assert "<td>python -m x</td>" in tidied and "c=1: 8/8 ok" in tidied and "quant_config={'w_bit': 4}" in tidied
    assert tidy(tidied)[1:3] == (0, 0)  # idempotent


@pytest.mark.parametrize(
    ("text", "portable"),
    [
        ("log: /root/gpu-outputs/2026-12-03/run-0001/day03/server.log", "log: day03/server.log"),
        ("log: /root/gpu-outputs/2026-11-30/run-0002/day05/x.log", "log: day05/x.log"),  # another run folder
        ("--model /root/playbook-cache/models/qwen-1a2b --x", "--model $PLAYBOOK_CACHE/models/qwen-1a2b --x"),
        ("acme=/home/me/.cache/playbook/adapters/acme-9f", "acme=$PLAYBOOK_CACHE/adapters/acme-9f"),
        ("['/opt/torch/.venv/bin/python3', '-m']", "['python', '-m']"),
        ("see /work/main/reference/h200/x.html", "see reference/h200/x.html"),
        ("PYTHONPATH=/work/main/lib:/tmp/vllm", "PYTHONPATH=…/main/lib:…/tmp/vllm"),
        (
            "POST /v1/chat/completions to http://127.0.0.1:8000/v1",
            "POST /v1/chat/completions to http://127.0.0.1:8000/v1",
        ),
        ("data:image/png;base64,iVBO+/tmp/abc==", "data:image/png;base64,iVBO+/tmp/abc=="),
    ],
)
def test_paths_become_portable_and_nothing_else_changes(text, portable):
    assert scrub_text(text, RUN) == portable
    assert scrub_text(portable, RUN) == portable  # idempotent: a committed page can be scrubbed again


def test_a_rendered_report_keeps_no_machine_path(tmp_path):
    day = tmp_path / "run-0001" / "day01"
    day.mkdir(parents=True)
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(...)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"metrics in {day}/metrics.json\n"
                                           "model /root/.cache/playbook/models/smollm2-abc\n")]  # fmt: skip
    notebook.cells = [cell]
    nbformat.write(notebook, day / "notebook.ipynb")
    page = render_report(day / "notebook.ipynb", day / "report.html", "Day 1").read_text()
    assert machine_paths(page) == []
    assert "metrics in day01/metrics.json" in page and "$PLAYBOOK_CACHE/models/smollm2-abc" in page


def test_a_command_line_and_a_logged_mapping_become_rows_without_machine_paths():
    from playbook.reports.tables import argv_rows, mapping_rows

    argv = ["/work/main/.venv/bin/python", "-m", "vllm.entrypoints.openai.api_server", "--model",
            "/root/.cache/playbook/models/smollm2-abc", "--enforce-eager", "--port", "8000"]  # fmt: skip
    assert argv_rows(argv) == [
        {"argument": "command", "value": "python -m vllm.entrypoints.openai.api_server"},
        {"argument": "--model", "value": "$PLAYBOOK_CACHE/models/smollm2-abc"},
        {"argument": "--enforce-eager", "value": "(set)"},
        {"argument": "--port", "value": "8000"},
    ]
    logged = "{'host': '127.0.0.1', 'model': '/root/playbook-cache/models/x', 'enforce_eager': True}"
    assert mapping_rows(logged) == [{"setting": "host", "value": "127.0.0.1"},
                                    {"setting": "model", "value": "$PLAYBOOK_CACHE/models/x"},
                                    {"setting": "enforce_eager", "value": "True"}]  # fmt: skip
    assert mapping_rows("not a dict {") == [{"setting": "(as logged)", "value": "not a dict {"}]
