# qunguan: `make run` starts the demo; `make test` runs every check.
SHELL := /bin/bash
PY ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PY) -m uv")
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test pytest lint typecheck imports bench eval train-alarm migrate clean help messages screenshots

help:
	@echo "make run    - migrate, seed the demo institution and start the server (SQLite)"
	@echo "make test   - pytest (SQLite and PostgreSQL), ruff, mypy --strict, import-linter"
	@echo "make bench  - HTTP throughput, gate latency, rumour matching, audit log, envelope claims benchmarks, write BENCHMARKS.md"
	@echo "make eval   - rumour matching evaluation on ../shared/data (docs/evaluation.md)"
	@echo "make train-alarm - rebuild the alarm-claim model from ../shared/data (docs/rumors.md)"
	@echo "make lint   - ruff, mypy and import-linter only"
	@echo "make messages - extract, update and compile the web pages' message catalogues"
	@echo "make screenshots - phone and desktop screenshots of the main pages (docs/screenshots/)"

# uv comes from pip when missing; the venv is built from uv.lock, never resolved afresh.
$(BIN)/qunguan: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PY) -m uv --version >/dev/null 2>&1 || $(PY) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

run: $(BIN)/qunguan
	$(BIN)/qunguan run --demo

migrate: $(BIN)/qunguan
	$(BIN)/qunguan migrate

# The browser tests run in a pytest process of their own: Playwright's sync API keeps an
# asyncio loop running in each worker that used it, and asyncio.run() in a later test on that
# worker then fails ("cannot be called from a running event loop").
pytest: $(BIN)/qunguan
	$(BIN)/pytest -q -n auto --dist loadfile tests --ignore=tests/e2e
	$(BIN)/pytest -q -n auto --dist loadfile tests/e2e

lint: $(BIN)/qunguan
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: pytest lint

bench: $(BIN)/qunguan
	$(BIN)/python -m tests.bench.http_throughput
	$(BIN)/python -m tests.bench.gate_latency
	$(BIN)/python -m tests.bench.rumor_matching
	$(BIN)/python -m tests.bench.auditlog
	$(BIN)/python -m tests.bench.audit_archive
	$(BIN)/python -m tests.bench.web_chat_page
	$(BIN)/python -m tests.bench.envelope_claims
	$(BIN)/python -m tests.bench.claim_floor

# Evaluations on the research data beside the checkout (../shared/data); skips when absent.
eval: $(BIN)/qunguan
	$(BIN)/qunguan eval rumors --data ../shared/data
	$(BIN)/qunguan eval alarm --data ../shared/data
	$(BIN)/qunguan eval cascades --data ../shared/data

# Rebuilds src/qunguan/rumors/data/alarm_model.npz (about a minute); review the printed
# threshold against rules/alarm.toml's min_score before committing the new file.
train-alarm: $(BIN)/qunguan
	$(BIN)/python scripts/train_alarm.py --data ../shared/data

# Web pages' message catalogues: extract the strings, update zh_CN and en, compile the .mo
# files (committed; tests/web/test_i18n.py fails when one is stale). See docs/web.md.
WEB := src/qunguan/web
messages: $(BIN)/qunguan
	cd $(WEB) && ../../../$(BIN)/pybabel extract -F babel.cfg -k _ -k N_ --no-location \
		--omit-header -o locale/messages.pot .
	$(BIN)/pybabel update -i $(WEB)/locale/messages.pot -d $(WEB)/locale -w 100 --ignore-obsolete \
		--no-fuzzy-matching --ignore-pot-creation-date
	$(BIN)/pybabel compile -d $(WEB)/locale --statistics
	cd $(WEB) && ../../../$(BIN)/pybabel extract -F babel-officer.cfg -k _ -k N_ --no-location \
		--omit-header -o locale/officer.pot .
	$(BIN)/pybabel update -D officer -i $(WEB)/locale/officer.pot -d $(WEB)/locale -w 100 \
		--ignore-obsolete --no-fuzzy-matching --ignore-pot-creation-date
	$(BIN)/pybabel compile -D officer -d $(WEB)/locale --statistics

# Phone (375 px) and desktop screenshots of the main pages into docs/screenshots/.
screenshots: $(BIN)/qunguan
	$(BIN)/python -m tests.e2e.screenshots_officer docs/screenshots
	$(BIN)/python -m tests.e2e.screenshots docs/screenshots

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
