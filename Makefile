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
# A GPU profile gets its own environments (playbook.run.setup): the kernel from requirements/gpu-kernel.lock.txt,
# one venv per engine from its own tool-made lock; the CPU lock never touches them.
ACCEL := $(shell sed -n 's/^  accelerator: *//p' params/$(PROFILE).yaml 2>/dev/null | head -1)
GPU_PY ?= 3.12
UV ?= uv

.PHONY: setup gpu-setup run test unit lint lab strip lock lock-gpu clean-venv browser

ifeq ($(ACCEL),nvidia)
setup: gpu-setup
else
setup: $(STAMP) $(QSTAMP)
endif

# The kernel venv first (it carries the playbook CLI), then the profile's plan: `playbook setup --dry-run` prints it.
gpu-setup:
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --require-hashes -r requirements/gpu-kernel.lock.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	$(VENV)/bin/playbook setup --profile $(PROFILE)

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

# The CPU lock is the frozen, tested CPU venv (its torch +cpu wheel comes from PyTorch's CPU index,
# https://download.pytorch.org/whl/cpu); the GPU locks are resolved by uv for Linux x86-64, Python $(GPU_PY),
# with hashes (`pip install uv`; it reaches PyPI).
lock: lock-gpu
	(head -3 $(LOCK); $(VENV)/bin/pip freeze --exclude-editable) > $(LOCK).new && mv $(LOCK).new $(LOCK)

GPU_RESOLVE = --python-version $(GPU_PY) --python-platform x86_64-manylinux_2_34 --generate-hashes --no-header
lock-gpu:
	set -e; for engine in vllm sglang; do \
	  { echo "# tool-made: uv pip compile requirements/gpu-$$engine.in $(GPU_RESOLVE) (make lock-gpu)"; \
	    $(UV) pip compile requirements/gpu-$$engine.in $(GPU_RESOLVE) ; } > requirements/gpu-$$engine.lock.txt; \
	done
	set -e; { echo "# tool-made: uv pip compile pyproject.toml requirements/gpu-kernel.in --extra data --extra cpu-reference --extra dev $(GPU_RESOLVE) (make lock-gpu)"; \
	  $(UV) pip compile pyproject.toml requirements/gpu-kernel.in --extra data --extra cpu-reference --extra dev \
	    $(GPU_RESOLVE); } > requirements/gpu-kernel.lock.txt

clean-venv:
	rm -rf $(VENV) $(QVENV)
