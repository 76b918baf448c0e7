# polycopy — two commands for a fresh machine:
#   make demo   set up, start the simulated venue, materialize every asset, copy trades on paper, print a summary
#   make test   set up and run the whole test suite (DuckDB and PostgreSQL on 127.0.0.1:5432)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test dev sim bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@mkdir -p $(DAGSTER_HOME) && [ -f $(DAGSTER_HOME)/dagster.yaml ] || cp deploy/embedded/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/polycopy demo

test: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest

# The UI with sensors live against the simulated venue (Ctrl-C stops both).
dev: setup
	@echo "simulated venue on http://127.0.0.1:8765; Dagster UI on http://127.0.0.1:3000"
	PATH=$(CURDIR)/$(BIN):$$PATH; $(BIN)/polycopy-sim serve --port 8765 --speed 60 & \
	  trap "kill $$!" EXIT; PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dagster dev -w workspace.yaml

sim: setup
	$(BIN)/polycopy-sim serve --port 8765 --speed 60

bench: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/ingest_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/dbt_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/copy_latency_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/scoring_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/signal_benchmark.py

clean:
	rm -rf .data .dagster_home dbt_project/target dbt_project/logs
