# jax3d — one command for the demo, one for the tests. Each creates or reuses .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= out
STAMP  := $(VENV)/.installed
# Test workers: xdist spreads test files over the cores (2 on CI).
WORKERS ?= 2

.PHONY: venv demo test test-all lint bench fuzz clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

## make demo: every experiment in --quick mode, outputs under out/<experiment>/, then the
## gallery out/index.html (every experiment's figures, GIFs and metrics; open it offline)
demo: $(STAMP)
	@set -e; for f in experiments/ch*.py; do \
		name=$$(basename $$f .py); \
		case $$name in *_common) continue;; esac; \
		echo "=== $$name"; \
		$(PY) $$f --quick --out $(OUT)/$$name; \
	done; $(PY) -m jax3d.vis.gallery $(OUT)

## make test: the default suite (no slow tests), what CI runs
test: $(STAMP)
	$(PY) -m pytest -q -n $(WORKERS) -m "not slow" tests

## make test-all: the default suite plus slow tests
test-all: $(STAMP)
	$(PY) -m pytest -q -n $(WORKERS) tests

lint: $(STAMP)
	$(PY) -m ruff check jax3d tests experiments benchmarks

## make fuzz: long fuzzing of the file readers (FUZZ_COUNT mutants per format, then the
## hand-made hostile cases); see tests/io/fuzzing.py
FUZZ_COUNT ?= 5000
fuzz: $(STAMP)
	$(PY) -m tests.io.fuzzing --count $(FUZZ_COUNT)
	$(PY) -m tests.io.fuzzing --special

## make bench: every benchmark; results are printed (copy them into benchmarks/RESULTS.md)
bench: $(STAMP)
	@set -e; for f in benchmarks/bm_*.py; do echo "=== $$f"; $(PY) $$f; done

clean:
	rm -rf $(OUT) .pytest_cache .hypothesis
