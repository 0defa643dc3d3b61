# qunguan: `make run` starts the demo; `make test` runs every check.
SHELL := /bin/bash
PY ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PY) -m uv")
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test pytest lint typecheck imports bench eval train-alarm migrate clean help

help:
	@echo "make run    - migrate, seed the demo institution and start the server (SQLite)"
	@echo "make test   - pytest (SQLite and PostgreSQL), ruff, mypy --strict, import-linter"
	@echo "make bench  - HTTP throughput and screening gate latency benchmarks, write BENCHMARKS.md"
	@echo "make eval   - rumour matching evaluation on ../shared/data (docs/evaluation.md)"
	@echo "make train-alarm - rebuild the alarm-claim model from ../shared/data (docs/rumors.md)"
	@echo "make lint   - ruff, mypy and import-linter only"

# uv comes from pip when missing; the venv is built from uv.lock, never resolved afresh.
$(BIN)/qunguan: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PY) -m uv --version >/dev/null 2>&1 || $(PY) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

run: $(BIN)/qunguan
	$(BIN)/qunguan run --demo

migrate: $(BIN)/qunguan
	$(BIN)/qunguan migrate

pytest: $(BIN)/qunguan
	$(BIN)/pytest -q -n auto --dist loadfile tests

lint: $(BIN)/qunguan
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: pytest lint

bench: $(BIN)/qunguan
	$(BIN)/python -m tests.bench.http_throughput
	$(BIN)/python -m tests.bench.gate_latency
	$(BIN)/python -m tests.bench.rumor_matching

# Evaluations on the research data beside the checkout (../shared/data); skips when absent.
eval: $(BIN)/qunguan
	$(BIN)/qunguan eval rumors --data ../shared/data
	$(BIN)/qunguan eval alarm --data ../shared/data
	$(BIN)/qunguan eval cascades --data ../shared/data

# Rebuilds src/qunguan/rumors/data/alarm_model.npz (about a minute); review the printed
# threshold against rules/alarm.toml's min_score before committing the new file.
train-alarm: $(BIN)/qunguan
	$(BIN)/python scripts/train_alarm.py --data ../shared/data

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
