# Two commands for users (see README.md): `make reproduce` and `make test`.
# Each creates the virtual environment from the pinned requirements.lock when it is missing or out of date.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= all

.PHONY: env reproduce quick test benchmark lab clean

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is needed: run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -c 'from causalehr.workflow import ensure_kernel; ensure_kernel()'
	touch $(STAMP)

env: $(STAMP)

reproduce: $(STAMP)  ## the paper's experiments, the rendered manuscript (results/paper/) and results/report.html
	PATH="$(abspath $(BIN)):$$PATH" snakemake --cores $(CORES)
	PATH="$(abspath $(BIN)):$$PATH" snakemake --report results/report.html

quick: $(STAMP)      ## the same on the small config, in a few minutes
	PATH="$(abspath $(BIN)):$$PATH" snakemake --cores $(CORES) --configfile config/quick.yaml

test: $(STAMP)       ## the test suite, with a smoke run of the workflow on the quick config
	PATH="$(abspath $(BIN)):$$PATH" pytest

benchmark: $(STAMP)  ## speed and memory benchmarks (long: up to 1,000,000 patients)
	PATH="$(abspath $(BIN)):$$PATH" python benchmarks/run_all.py

lab: $(STAMP)        ## JupyterLab in the project's environment
	PATH="$(abspath $(BIN)):$$PATH" jupyter lab notebooks/

clean:
	rm -rf results/* .snakemake
