# polycopy — two commands for a fresh machine:
#   make demo   set up, start the simulated venue, materialize every asset, copy trades on paper, print a summary
#   make test   set up and run the whole test suite (DuckDB and PostgreSQL on 127.0.0.1:5432)

PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
PORT     ?= 3000
SIM_PORT ?= 8765
DEMO_DIR ?= $(CURDIR)/.data/demo
# The development instance (embedded SQLite), always an absolute path.
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo ui-demo test browser dev sim bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@mkdir -p $(DAGSTER_HOME) && [ -f $(DAGSTER_HOME)/dagster.yaml ] || cp deploy/embedded/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/polycopy demo --data-dir $(DEMO_DIR)

test: setup browser
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder

# Debian's Chromium for the browser test (driven by playwright; never `playwright install`).
browser:
	@[ -x /usr/bin/chromium ] || { echo "installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The Dagster UI of the last `make demo`: its instance, data dir and venue (Ctrl-C stops both).
ui-demo: setup
	$(BIN)/polycopy ui-demo --port $(PORT) --sim-port $(SIM_PORT) --data-dir $(DEMO_DIR)

# The UI with sensors live against the simulated venue (Ctrl-C stops both).
dev: setup
	$(BIN)/polycopy dev --port $(PORT) --sim-port $(SIM_PORT)

sim: setup
	$(BIN)/polycopy-sim serve --port $(SIM_PORT) --speed 60

bench: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/ingest_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/dbt_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/dagster_daily_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/copy_latency_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/copy_burst_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/scoring_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/signal_benchmark.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/position_lifecycle_benchmark.py

clean:
	rm -rf .data .dagster_home dbt_project/target dbt_project/logs
