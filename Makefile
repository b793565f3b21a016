# Set-up and everyday commands; see README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test demo bench clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
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
	rm -rf $(VENV) data/workspace test-artifacts .pytest_cache
