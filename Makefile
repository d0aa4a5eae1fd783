# report-rag: `make run` sets up and starts the chat; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# llama.cpp is built for AVX2 without AMX: a native build on CPUs that report AMX
# crashes on its first inference inside virtual machines. The wheel is built once
# per machine into the user's cache and reused by every checkout.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
WHEELS := $(HOME)/.cache/report-rag/wheels/llama-avx2

.PHONY: setup run test test-fast lint bench clean

setup: $(STAMP)

# torch comes first and pinned, so that no resolver ever picks a CUDA build.
$(STAMP): pyproject.toml constraints.txt $(WHEELS)/.built
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install --find-links $(WHEELS) -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(WHEELS)/.built:
	mkdir -p $(WHEELS)
	$(PYTHON) -m venv $(WHEELS)/.build-venv
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(WHEELS)/.build-venv/bin/pip wheel --no-cache-dir --no-deps \
		-w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	rm -rf $(WHEELS)/.build-venv
	touch $@

run: setup
	$(VENV)/bin/rag serve

test: setup
	$(VENV)/bin/pytest

test-fast: setup
	$(VENV)/bin/pytest -m "not integration" -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
