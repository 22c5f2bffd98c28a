# Two entry points (README): `make demo` runs the main job, `make test` runs the tests.
# Both create .venv/ in the repo root when missing and install the pinned stack into it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KERNEL := melib
STAMP := $(VENV)/.melib-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
OUTPUTS ?= $(or $(MELIB_OUTPUTS),outputs)

.PHONY: demo test venv clean-outputs

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (melib .venv)" >/dev/null
	@touch $@

## demo: set up, generate the synthetic dataset, execute every notebook into outputs/ (figures in outputs/figures/)
demo: $(STAMP)
	$(PY) data_scripts/make_synthetic.py
	@mkdir -p $(OUTPUTS)/notebooks
	@set -e; for nb in $(NOTEBOOKS); do \
	  echo "== $$nb"; \
	  $(PY) -m papermill -k $(KERNEL) --cwd notebooks "$$nb" "$(OUTPUTS)/notebooks/$$(basename $$nb)"; \
	done
	@echo "Executed notebooks: $(OUTPUTS)/notebooks   figures: $(OUTPUTS)/figures"

## test: unit tests, a check that committed notebooks carry no outputs, nbval over every notebook (fast profile)
test: $(STAMP)
	MELIB_PROFILE=fast $(PY) -m pytest tests
	MELIB_PROFILE=fast $(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

clean-outputs:
	rm -rf $(OUTPUTS)
