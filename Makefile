# The two commands of the README. Each works from a clean clone with nothing installed by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MLFLOW_DISABLE_TELEMETRY ?= true
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test install install-dev lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# pip compiles what it installs, but not an editable package: compile modeler too, so that a
# command reads bytecode even where PYTHONDONTWRITEBYTECODE is set (0.1 s a command here)
install: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[tensorflow]"
	$(BIN)/python -m compileall -q modeler > /dev/null

install-dev: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[tensorflow,server,dev]"
	$(BIN)/python -m compileall -q modeler > /dev/null

## make demo: set up and run the fraud example on the embedded store (./mlruns)
demo: install
	$(BIN)/modeler demo

lint:
	$(BIN)/ruff check modeler tests bench
	$(BIN)/ruff format --check modeler tests bench
	$(BIN)/mypy modeler

## make test: set up (system packages, dev extras) and run lint, type checks and the whole suite;
## beside it, the Keras autolog tests a second time on Keras' JAX backend (its log is printed
## at the end). Fails when either fails.
test: install-dev
	bash .ci/setup-system.sh
	$(MAKE) lint
	@jax_log=$$(mktemp); jax_tmp=$$(mktemp -d); \
	KERAS_BACKEND=jax $(BIN)/python -m pytest -p no:cacheprovider --basetemp=$$jax_tmp/t \
	  tests/test_autolog_keras.py > $$jax_log 2>&1 & jax=$$!; \
	$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; \
	wait $$jax; jax_rc=$$?; \
	echo "== tests/test_autolog_keras.py again with KERAS_BACKEND=jax (run beside the suite)"; \
	cat $$jax_log; rm -rf $$jax_log $$jax_tmp; \
	[ $$rc -eq 0 ] && [ $$jax_rc -eq 0 ]

## make bench: every benchmark, one after another
bench: install-dev
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done
