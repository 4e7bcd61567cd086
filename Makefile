# cptverify developer commands. Each target creates the virtual environment it needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
STAMP := $(VENV)/.installed

.PHONY: install test demo lint bench simulator serve clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev]'
	@touch $(STAMP)

$(SAM_VENV)/.installed:
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==1.170.0
	@touch $@

sam-venv: $(SAM_VENV)/.installed

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/cptverify/cptverify local/cptverify_local functions tests bench

demo: install
	$(BIN)/cptverify demo $(if $(SCHEDULE),--schedule $(SCHEDULE),)

bench: install
	$(BIN)/python -m bench

simulator: install
	$(BIN)/cptverify simulator

serve: install
	$(BIN)/cptverify serve

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
