# The README's two commands: `make run` (set up, then run the week on the CPU default)
# and `make test` (set up, then lint and run the test suite). Both are idempotent.
PY ?= python3
VENV := .venv
PROFILE ?= cpu-smollm2
DAYS ?= all
LOCK := requirements/cpu.lock.txt
STAMP := $(VENV)/.installed-$(shell cat $(LOCK) pyproject.toml | sha256sum | cut -c1-12)
# Day 4's quantizer (llm-compressor) pins its own torch/transformers: a second environment.
QVENV := .venvs/quant
QLOCK := requirements/quant.lock.txt
QSTAMP := $(QVENV)/.installed-$(shell cat $(QLOCK) | sha256sum | cut -c1-12)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup run test unit lint lab strip lock clean-venv browser

setup: $(STAMP) $(QSTAMP)

$(STAMP): $(LOCK) pyproject.toml
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --no-deps -r $(LOCK)
	$(VENV)/bin/pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

$(QSTAMP): $(QLOCK)
	@test -x $(QVENV)/bin/python || $(PY) -m venv $(QVENV)
	$(QVENV)/bin/pip install -q --no-deps -r $(QLOCK)
	@rm -f $(QVENV)/.installed-*
	@touch $@

run: setup
	$(VENV)/bin/playbook run --profile $(PROFILE) --days $(DAYS)

test: setup lint browser
	$(VENV)/bin/pytest

# The report test lays pages out in headless Chromium (Debian's package); installed here when root can.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium is not installed: tests/unit/test_report_in_browser.py will be skipped"

unit: setup
	$(VENV)/bin/pytest tests/unit

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check lib tests benchmarks

lab: setup
	$(VENV)/bin/pip install -q 'jupyterlab>=4'
	$(VENV)/bin/jupyter lab notebooks/

# Notebooks are committed without outputs (reports live under outputs/).
strip:
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

lock:
	(head -3 $(LOCK); $(VENV)/bin/pip freeze --exclude-editable) > $(LOCK).new && mv $(LOCK).new $(LOCK)

clean-venv:
	rm -rf $(VENV) $(QVENV)
