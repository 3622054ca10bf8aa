# hyperdjango — developer commands. Everything runs inside .venv (created on demand).
#
#   make run    build the native extension (release) and serve examples/hello.py on 127.0.0.1:8000
#   make test   build, then cargo test (pure-Rust core) and pytest (real servers, real clients)
#   make bench  build, then the end-to-end load benchmark against peers (bench/) and criterion benches
#   make lint   clippy, rustfmt --check, ruff (check + format --check), mypy, stubtest of the .pyi
#   make autobahn  the full Autobahn|Testsuite (WebSocket conformance, ~20 min) against tests/apps/websockets_app.py
#   make fmt    rustfmt and ruff format

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.deps-installed
# Python dependencies of the tests and tools: one file per subsystem under requirements/.
REQUIREMENTS := $(sort $(wildcard requirements/*.txt))
# `make test MATURIN_FLAGS="--profile quick"` for a faster edit-build-test loop (no fat LTO).
MATURIN_FLAGS ?= --release

.PHONY: run test test-rust test-python build bench lint fmt clean autobahn

$(STAMP): pyproject.toml $(REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(addprefix -r ,$(REQUIREMENTS))
	touch $(STAMP)

build: $(STAMP)
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH \
		$(VENV)/bin/maturin develop $(MATURIN_FLAGS) --quiet

run: build
	$(PY) examples/hello.py

test-rust:
	cargo test --no-default-features --quiet

test-python: build
	$(PY) -m pytest -q

test: test-rust test-python

bench: build
	$(PY) -m pip install -q pytest-benchmark
	PATH=$(abspath $(VENV))/bin:$$PATH PYTHON=$(abspath $(PY)) bash bench/run.sh
	PATH=$(abspath $(VENV))/bin:$$PATH PYTHON=$(abspath $(PY)) bash bench/run_files.sh
	PATH=$(abspath $(VENV))/bin:$$PATH PYTHON=$(abspath $(PY)) bash bench/run_workers.sh
	PATH=$(abspath $(VENV))/bin:$$PATH PYTHON=$(abspath $(PY)) bash bench/run_reuseport.sh
	PATH=$(abspath $(VENV))/bin:$$PATH PYTHON=$(abspath $(PY)) bash bench/run_overload.sh
	PATH=$(abspath $(VENV))/bin:$$PATH PYTHON=$(abspath $(PY)) bash bench/run_middleware.sh
	PATH=$(abspath $(VENV))/bin:$$PATH PYTHON=$(abspath $(PY)) bash bench/run_django.sh
	PATH=$(abspath $(VENV))/bin:$$PATH PYTHON=$(abspath $(PY)) bash bench/run_websocket.sh
	$(PY) -m pytest -q bench/test_router_resolve.py --benchmark-only -p no:cacheprovider
	cargo bench --no-default-features

autobahn: build
	PYTHON=$(abspath $(PY)) bash tools/run_autobahn.sh

# Stubtest imports the built extension, so lint builds it first (the same build `make test` uses).
lint: build
	cargo clippy --all-targets -- -D warnings
	cargo fmt --check
	$(VENV)/bin/ruff check python tests examples bench
	$(VENV)/bin/ruff format --check python tests examples bench
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest --ignore-disjoint-bases hyperdjango._hyperdjango_native

fmt: $(STAMP)
	cargo fmt
	$(VENV)/bin/ruff format python tests examples bench

clean:
	rm -rf $(VENV) target
