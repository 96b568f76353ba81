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

# JupyterLab in its own venv, pinned (requirements/lab.txt); notebooks run on .venv's kernel, which gets the
# pinned widget packages (no dependency changes to the CPU lock). LAB_PORT=8888 by default.
LVENV := .venvs/lab
LAB_PORT ?= 8888
lab: setup
	@test -x $(LVENV)/bin/python || $(PY) -m venv $(LVENV)
	$(LVENV)/bin/pip install -q -r requirements/lab.txt
	$(VENV)/bin/pip install -q --no-deps $$(grep -E '^(ipywidgets|widgetsnbextension|jupyterlab_widgets)==' requirements/lab.txt)
	$(VENV)/bin/python -m ipykernel install --prefix $(LVENV) --name python3 --display-name "Python 3 (playbook .venv)" >/dev/null
	@echo "JupyterLab on 127.0.0.1:$(LAB_PORT). On a remote VM, from your laptop: ssh -N -L $(LAB_PORT):127.0.0.1:$(LAB_PORT) <vm>"
	@echo "then open the http://127.0.0.1:$(LAB_PORT)/lab?token=... URL printed below. Days run by hand share outputs/interactive/<date>/."
	$(LVENV)/bin/jupyter lab --no-browser --ip 127.0.0.1 --port $(LAB_PORT) notebooks/

# Notebooks are committed without outputs (reports live under outputs/).
strip:
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

lock:
	(head -3 $(LOCK); $(VENV)/bin/pip freeze --exclude-editable) > $(LOCK).new && mv $(LOCK).new $(LOCK)

clean-venv:
	rm -rf $(VENV) $(QVENV)
