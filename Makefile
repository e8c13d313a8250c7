# Every target builds the local virtual environment first when it is missing or stale,
# so on a fresh clone `make test` and `make demo` are each the only command needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo bench lint sandbox clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 3

demo: $(STAMP)
	$(VENV)/bin/phidown-async demo

bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check phidown_async tests benchmarks
	$(VENV)/bin/ruff format --check phidown_async tests benchmarks

sandbox: $(STAMP)
	$(VENV)/bin/phidown-async sandbox

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
