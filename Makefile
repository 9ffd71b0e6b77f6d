# Zero to Millions: `make book` builds the site, `make test` runs every test.
# Both create the virtual environment .venv from requirements.txt when it is missing
# or older than requirements.txt. Use PYTHON=python3.12 to pick another interpreter.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready

.PHONY: book test bench reality clean

book: $(READY)
	$(BIN)/jupyter-book build --all -W -n --keep-going .
	@echo "The book is built: $(CURDIR)/_build/html/index.html"

# The browser tests read the built site: build it first if it is missing.
test: $(READY) _build/html/index.html
	$(BIN)/python -m pytest --nbval --durations=12

_build/html/index.html: | $(READY)
	$(MAKE) book

# Benchmarks (benchmarks/RESULTS.md). ciw, the peer simulator, goes into .bench/, not .venv:
# its wheel installs a top-level package named `tests`, which would hide this repository's.
BENCH_DEPS := ciw==3.2.7 networkx==3.6.1 tqdm==4.70.1
bench: $(READY)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--target .bench --upgrade $(BENCH_DEPS)
	PYTHONPATH=.bench $(BIN)/python benchmarks/bench.py

# The reality check: install nginx, Redis and PostgreSQL where we can, measure them live
# beside the model, and store the results the lab shows where they are not installed.
reality: $(READY)
	bash scripts/install-reality-packages.sh
	$(BIN)/python -m labsupport.reality labs/reality-results.json

$(READY): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

clean:
	rm -rf _build .bench
