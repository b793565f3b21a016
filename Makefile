# Set-up and everyday commands; see README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test demo bench clean

# recsys itself is installed editable (its `recsys` command included), with the pinned runtime and test
# dependencies that pyproject.toml reads from requirements.txt and requirements-dev.txt.
$(STAMP): pyproject.toml requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m recsys demo --train --if-missing

run: install demo
	$(PY) -m streamlit run app.py --server.headless true

test: install
	$(PY) -m pytest -q -n 2

bench: install
	$(PY) bench/quality.py && $(PY) bench/speed.py

clean:
	rm -rf $(VENV) data/workspace test-artifacts .pytest_cache recsys.egg-info
