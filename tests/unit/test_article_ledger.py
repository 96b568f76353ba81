"""The article ledger covers every command, code block, number, table row and rule of the source article; each
entry's quote is on its lines, its "where" exists, and removing any entry is caught. Its page fills measured
entries from a real run's results (a committed reference)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from playbook.reports import ledger as L

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT.parent / "shared" / "seed" / "source-article.zh.txt"


@pytest.fixture(scope="module")
def book() -> L.Ledger:
    return L.load_ledger()


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return L.article_lines()


def test_the_ledger_covers_the_article_and_everything_it_points_to_exists(book, lines):
    assert L.problems(book, lines) == []
    assert L.article_changed(book) is None


@pytest.mark.skipif(not SEED.exists(), reason="the shared seed folder is not beside this checkout")
def test_the_committed_article_is_the_seed():
    assert L.ARTICLE.read_bytes() == SEED.read_bytes()


def test_removing_any_entry_is_caught(book, lines):
    for entry in book.entries:
        if entry.lines is None:
            continue
        fewer = book.model_copy(update={"entries": [e for e in book.entries if e is not entry]})
        assert any("has no ledger entry" in p for p in L.problems(fewer, lines)), f"{entry.id} covers nothing required"


def test_every_command_and_code_line_is_required(lines):
    kinds = L.required_lines(lines)
    assert kinds[20] == "code"  # pip install vllm>=0.8.0
    assert kinds[107] == "code"  # --lora-modules=...
    assert kinds[159] == "table row"
    assert kinds[169] == "rule"
    assert 2 not in kinds  # a heading of plain prose


@pytest.mark.parametrize(
    ("quote", "status"),
    [
        ("pip install vllm>=0.8.0", "corrected"),
        ("--lora-modules=module_a=/path/to/lora_a,module_b=/path/to/lora_b", "corrected"),
        ("Llama-3.2-1B-Instruct/Qwen2.5-1.5B-Instruct", "corrected"),
        ("--enable-cache-report", "corrected"),
        ("max-model-len 不要超过 32768", "corrected"),
        ("apiVersion: serving.kserve.io/v1alpha1", "corrected"),
        ("CUDA_VISIBLE_DEVICES", "runs-as-shown"),
        ("编译 70B 模型耗时 6+ 小时", "not-reproducible"),
        ("AMD GPU 支持", "not-reproducible"),
        ("偶发 hang 问题", "not-reproducible"),
        ("pip install vllm --index-url https://wheels.vllm.ai/rocm", "not-reproducible"),
        ("+10~30%(structured) | +20~50%(特定场景)", "measured"),
        ("社区活跃度", "opinion"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "corrected"),
    ],
)
def test_the_items_the_review_found_have_entries(book, quote, status):
    entry = next((e for e in book.entries if e.quote == quote), None)
    assert entry is not None, f"no entry quotes {quote!r}"
    assert entry.status == status


def test_the_kserve_entry_names_the_missing_port(book):
    entry = next(e for e in book.entries if e.id == "kserve-manifest")
    assert "port" in entry.why and "8000" in entry.why


def test_chunked_prefill_is_in_the_cache_flags_entry(book, lines):
    entry = next(e for e in book.entries if e.id == "sglang-cache-flags")
    covered = "\n".join(lines[entry.lines[0] - 1 : entry.lines[1]])
    assert "--chunked-prefill-size 2048" in covered and "chunked" in entry.why


def test_measured_entries_name_a_measurement(book):
    assert [e.id for e in book.entries if e.status == "measured" and not e.measure] == []


def test_a_pointer_to_nothing_is_a_problem():
    assert "no cell tagged" in L.where_problem("notebook:day1_serve_validate.ipynb#no-such-tag")
    assert "records no step" in L.where_problem("report:day07.no_such_step")
    assert "has no heading" in L.where_problem("readme:#no-such-heading")
    assert "has no" in L.where_problem("code:playbook.days.selection:NO_SUCH_NAME")
    assert L.where_problem("report:day07.peak") is None


def test_a_quote_not_on_its_lines_is_a_problem(book, lines):
    moved = [e.model_copy(update={"lines": (1, 1)}) if e.id == "pip-install-vllm" else e for e in book.entries]
    found = L.problems(book.model_copy(update={"entries": moved}), lines)
    assert any("pip-install-vllm: the quote" in p for p in found)


def test_the_page_fills_measurements_from_a_real_run(tmp_path, book):
    run = tmp_path / "run"
    shutil.copytree(ROOT / "reference" / "h200-2026-11-26" / "smollm2", run)
    page = L.write_ledger_page(run).read_text()
    assert "lora_name ignored: answered by the base model" in page
    assert "6 validation errors in the article&#39;s manifest" in page
    assert page.count('class="measured"') >= 8
    assert page.count("<tr id=") == len(book.entries)
