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
# Free disk (GiB) checked before the big steps, as measured in docs/setup.md ("Disk"); MIN_FREE_GB=0 skips the checks.
VENV_GB := $(or $(MIN_FREE_GB),9)
TEST_GB := $(or $(MIN_FREE_GB),5)

.PHONY: demo test report venv clean-outputs

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) data_scripts/check_disk.py --need-gb $(VENV_GB) --for "installing $(VENV) (torch with its CUDA libraries)" .
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (melib .venv)" >/dev/null
	@touch $@

## demo: set up, generate the synthetic dataset, execute every notebook into outputs/ (figures in outputs/figures/)
## PROFILE=fast (default, CPU) or PROFILE=full (the papers' settings: meant for a GPU, not yet run on one)
PROFILE ?= fast
demo: $(STAMP)
	@$(PY) data_scripts/check_disk.py --need-gb $(TEST_GB) --for "make demo (as make test on a CPU; the full profile on a GPU takes more)" .
	$(PY) data_scripts/make_synthetic.py
	@mkdir -p $(OUTPUTS)/notebooks
	@set -e; for nb in $(NOTEBOOKS); do \
	  echo "== $$nb"; \
	  $(PY) -m papermill -k $(KERNEL) --cwd notebooks "$$nb" "$(OUTPUTS)/notebooks/$$(basename $$nb)" -p profile $(PROFILE); \
	done
	@echo "Executed notebooks: $(OUTPUTS)/notebooks   figures: $(OUTPUTS)/figures"

## test: unit tests, a check that committed notebooks carry no outputs, nbval over every notebook (fast profile)
test: $(STAMP)
	@$(PY) data_scripts/check_disk.py --need-gb $(TEST_GB) --for "make test (synthetic data, notebook runs, pytest's temporary files)" .
	MELIB_PROFILE=fast $(PY) -m pytest tests
	MELIB_PROFILE=fast $(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

## report: every comparison and ablation table and figure from the runs' results files, training only
## what is missing: outputs/report/index.html, the marked tables of docs/results.md, README's headlines and
## docs/images/comparison.png (python -m melib.report --headlines rebuilds those two alone), notebook 08 into outputs/notebooks/
## another dataset: make report DATASET=samm ROOT=/data/SAMM (tagged TAG, default the dataset's name:
## outputs/report/TAG/, blocks NAME@TAG, README untouched)
SCOPE ?= main
SEEDS ?= 0 1 2
REPORT_PROFILE ?= fast
DATASET ?= synthetic
ROOT ?=
TAG ?= $(if $(filter synthetic,$(DATASET))$(ROOT),$(if $(ROOT),$(DATASET),),$(DATASET))
comma := ,
empty :=
space := $(empty) $(empty)
report: $(STAMP)
	$(if $(filter synthetic,$(DATASET)),$(if $(ROOT),,$(PY) data_scripts/make_synthetic.py),)
	$(PY) -m melib.report --train --scope $(SCOPE) --profile $(REPORT_PROFILE) --seeds $(SEEDS) \
	  --dataset $(DATASET) --root "$(ROOT)" --tag "$(TAG)" $(if $(TAG),--readme '' --image '',)
	@mkdir -p $(OUTPUTS)/notebooks
	$(PY) -m papermill -k $(KERNEL) --cwd notebooks notebooks/08_ablations_and_comparison.ipynb \
	  $(OUTPUTS)/notebooks/08_ablations_and_comparison$(if $(TAG),_$(TAG),).ipynb \
	  -y "{dataset: $(DATASET), root: '$(ROOT)', profile: $(if $(filter reference,$(REPORT_PROFILE)),fast,$(REPORT_PROFILE)), reference: $(if $(filter reference,$(REPORT_PROFILE)),true,false), scope: $(SCOPE), seeds: [$(subst $(space),$(comma),$(strip $(SEEDS)))], subjects: $(if $(filter fast,$(REPORT_PROFILE)),10,0), epochs: 0, train_missing: false}"

## site: a static HTML site of the executed notebooks ($(OUTPUTS)/notebooks, from make demo; a notebook not run
## there shows its clean committed copy), docs/ and the report: $(OUTPUTS)/site/index.html. Check it in Chromium:
## .venv/bin/python data_scripts/check_site.py (apt-get install chromium)
.PHONY: site
SITE_STAMP := $(VENV)/.melib-site-installed
$(SITE_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[site]"
	@touch $@
site: $(SITE_STAMP)
	$(PY) data_scripts/build_site.py --outputs $(OUTPUTS)

## explore: the AU-similarity explorer as a standalone page, no trained run needed: http://127.0.0.1:$(EXPLORE_PORT)
## (Voila, bound to 127.0.0.1 only; Ctrl-C stops it). EXPLORE_DATASET: a dataset name or folder (default synthetic)
## with EXPLORE_ROOT; EXPLORE_FEATURES: a SelfME or annotation mimic run folder, for a learned-feature table.
## Check it in Chromium: .venv/bin/python data_scripts/check_explorer.py (apt-get install chromium)
.PHONY: explore
EXPLORE_STAMP := $(VENV)/.melib-explore-installed
EXPLORE_PORT ?= 8866
EXPLORE_DATASET ?= synthetic
EXPLORE_ROOT ?=
EXPLORE_FEATURES ?=
$(EXPLORE_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[explore]"
	@touch $@
explore: $(EXPLORE_STAMP)
	@if [ "$(EXPLORE_DATASET)" = synthetic ] && [ -z "$(EXPLORE_ROOT)" ]; then $(PY) data_scripts/make_synthetic.py; fi
	MELIB_EXPLORER_DATASET="$(EXPLORE_DATASET)" MELIB_EXPLORER_ROOT="$(EXPLORE_ROOT)" MELIB_EXPLORER_FEATURES="$(EXPLORE_FEATURES)" \
	  $(PY) -m voila apps/au_explorer.ipynb --no-browser --port=$(EXPLORE_PORT) --Voila.ip=127.0.0.1

clean-outputs:
	rm -rf $(OUTPUTS)
