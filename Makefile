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
# Every lock is made by uv (`make lock`, with hashes); uv comes with the dev extra. CPU torch ("+cpu") is on PyTorch's
# CPU index, not on PyPI: pip is tried with the configured sources first, then with TORCH_INDEX.
UV ?= $(VENV)/bin/uv
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PIP_LOCKED = pip install -q --require-hashes
# Room before an install: a fresh .venv is about 4 GB, .venvs/quant 1.5 GB, and the model cache 2.3 GB. A full disk
# fails pip minutes in, buried under its retries; this says so in one line first. SETUP_FREE_GB=0 skips it.
# The quant venv's install asks only for what is still to come (SETUP_FREE_GB less the .venv's VENV_GB): asking for
# all of it again refused clones that had room for the rest.
SETUP_FREE_GB ?= 8
ifeq ($(shell echo '$(SETUP_FREE_GB)' | grep -Ex '[0-9]+'),)
$(error SETUP_FREE_GB=$(SETUP_FREE_GB): give a whole number of GB, such as SETUP_FREE_GB=8 (0 skips the disk check))
endif
VENV_GB := 4
# $(1): the GB this install and what follows it need.
define need_disk
@need=$$(( $(1) )); [ "$$need" -gt 0 ] || need=0; free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); \
[ "$$free" -ge "$$need" ] || { echo "make: $$free GB free on $$(df -P . | awk 'NR==2 {print $$6}'), setup needs \
about $$need GB more (SETUP_FREE_GB): free some disk, or set SETUP_FREE_GB=<GB> to try with less" >&2; exit 1; }
endef

.PHONY: disk-check setup gpu-setup run test unit lint lab lab-setup strip lock lock-cpu lock-gpu clean-venv browser

ifeq ($(ACCEL),nvidia)
setup: gpu-setup
else
setup: $(STAMP) $(QSTAMP)
endif

# The kernel venv first (it carries the playbook CLI), then the profile's plan: `playbook setup --dry-run` prints it.
gpu-setup:
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/$(PIP_LOCKED) -r requirements/gpu-kernel.lock.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	$(VENV)/bin/playbook setup --profile $(PROFILE)

# --no-deps: the lock is complete but for what requirements/cpu.excludes.txt leaves out on purpose.
$(STAMP): $(LOCK) pyproject.toml
	$(call need_disk,$(SETUP_FREE_GB))
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/$(PIP_LOCKED) --no-deps -r $(LOCK) || $(VENV)/bin/$(PIP_LOCKED) --no-deps -r $(LOCK) --extra-index-url $(TORCH_INDEX)
	$(VENV)/bin/pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

$(QSTAMP): $(QLOCK)
	$(call need_disk,$(SETUP_FREE_GB) - $(VENV_GB))
	@test -x $(QVENV)/bin/python || $(PY) -m venv $(QVENV)
	$(QVENV)/bin/$(PIP_LOCKED) -r $(QLOCK) || $(QVENV)/bin/$(PIP_LOCKED) -r $(QLOCK) --extra-index-url $(TORCH_INDEX)
	@rm -f $(QVENV)/.installed-*
	@touch $@

disk-check:
	$(call need_disk,$(SETUP_FREE_GB))

run: setup
	$(VENV)/bin/playbook run --profile $(PROFILE) --days $(DAYS)

test: setup lint browser lab-setup
	$(VENV)/bin/pytest --junitxml=outputs/pytest-junit.xml --durations=15

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

# JupyterLab in its own venv, from its own lock (requirements/lab.lock.txt); notebooks run on .venv's kernel,
# which gets the lock's three widget packages with their hashes (--no-deps: no change to the CPU lock's packages).
# LAB_PORT=8888 by default.
LVENV := .venvs/lab
LABLOCK := requirements/lab.lock.txt
LAB_PORT ?= 8888
# lab-setup: the venv alone (make test's JupyterLab smoke test uses it); lab: set up, then start JupyterLab.
lab-setup: setup
	@test -x $(LVENV)/bin/python || $(PY) -m venv $(LVENV)
	$(LVENV)/bin/$(PIP_LOCKED) -r $(LABLOCK)
	awk '/^(ipywidgets|widgetsnbextension|jupyterlab-widgets)==/{p=1} p{print} p && !/\\$$/{p=0}' $(LABLOCK) \
	  | $(VENV)/bin/$(PIP_LOCKED) --no-deps -r /dev/stdin
	$(VENV)/bin/python -m ipykernel install --prefix $(LVENV) --name python3 --display-name "Python 3 (playbook .venv)" >/dev/null

lab: lab-setup
	@echo "JupyterLab on 127.0.0.1:$(LAB_PORT). On a remote VM, from your laptop: ssh -N -L $(LAB_PORT):127.0.0.1:$(LAB_PORT) <vm>"
	@echo "then open the http://127.0.0.1:$(LAB_PORT)/lab?token=... URL printed below. Days run by hand share outputs/interactive/<date>/."
	$(LVENV)/bin/jupyter lab --no-browser --ip 127.0.0.1 --port $(LAB_PORT) notebooks/

# Notebooks are committed without outputs (reports live under outputs/).
strip:
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

# Each lock from its .in file (the kernel's also from pyproject.toml's extras), resolved by uv with hashes for its target:
# the CPU ones for Python 3.11 on Linux x86-64, the GPU ones for Python $(GPU_PY) and the CUDA torch the engines were built
# for. uv keeps the versions already locked unless an .in file asks otherwise. TORCH_SOURCE says where CPU torch is
# found: pip's find-links folder where PIP_FIND_LINKS names one (a machine that keeps its wheels on disk), else
# PyTorch's CPU index.
TORCH_SOURCE ?= $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS),--torch-backend cpu)
CPU_RESOLVE = --python-version 3.11.5 --python-platform x86_64-manylinux_2_28 --generate-hashes $(TORCH_SOURCE)
GPU_RESOLVE = --python-version $(GPU_PY) --python-platform x86_64-manylinux_2_34 --generate-hashes
COMPILE = $(UV) pip compile -q --custom-compile-command "make lock"
EXTRAS = --extra data --extra cpu-reference --extra dev
lock: lock-cpu lock-gpu

lock-cpu:
	$(COMPILE) pyproject.toml requirements/cpu.in $(EXTRAS) --excludes requirements/cpu.excludes.txt $(CPU_RESOLVE) \
	  -o $(LOCK)
	$(COMPILE) requirements/quant.in $(CPU_RESOLVE) -o $(QLOCK)
	$(COMPILE) requirements/lab.in $(CPU_RESOLVE) -o $(LABLOCK)

lock-gpu:
	set -e; for name in vllm sglang quantizer; do \
	  $(COMPILE) requirements/gpu-$$name.in $(GPU_RESOLVE) -o requirements/gpu-$$name.lock.txt; done
	$(COMPILE) pyproject.toml requirements/gpu-kernel.in $(EXTRAS) $(GPU_RESOLVE) -o requirements/gpu-kernel.lock.txt

clean-venv:
	rm -rf $(VENV) $(QVENV)
