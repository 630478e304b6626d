# The two commands of README.md: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EVRULE := $(VENV)/bin/evrule

.PHONY: demo test lint bench bench-quick clean

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.test: $(VENV)/.base pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.bench: $(VENV)/.test pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

# The main job on the bundled examples: check, format-check and test the rules, then turn each
# recorded session into events (stdout); rejected lines go to out/<session>.rejected.jsonl.
demo: $(VENV)/.base
	$(EVRULE) check --strict examples
	$(EVRULE) fmt --check examples
	$(EVRULE) test examples --fail-uncovered
	@mkdir -p out
	@for session in examples/sessions/*.jsonl; do \
		name=$$(basename $$session .jsonl); \
		echo; echo "== events of $$session"; \
		$(EVRULE) run examples --input $$session --dead-letter out/$$name.rejected.jsonl || exit 1; \
	done

lint: $(VENV)/.test
	$(VENV)/bin/ruff check evrule tests bench
	$(VENV)/bin/ruff format --check evrule tests bench

test: lint
	$(PY) -m pytest

bench: $(VENV)/.bench
	$(PY) bench/run.py

# Quick mode writes to bench/out/ (ignored by git): bench/results.md keeps the full figures.
bench-quick: $(VENV)/.bench
	$(PY) bench/run.py --quick --out bench/out

clean:
	rm -rf $(VENV) build out *.egg-info .pytest_cache .ruff_cache .hypothesis
