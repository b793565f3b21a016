# Set-up and everyday commands; see README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install spark run test demo bench clean

# recsys itself is installed editable (its `recsys` command included), with the pinned runtime and test
# dependencies that pyproject.toml reads from requirements.txt and requirements-dev.txt, and the Spark engine's
# extra (requirements-spark.txt: pyspark) so `make test` runs the Spark tests. pyspark needs a Java 17 runtime:
# Debian's openjdk-17-jre-headless is installed when no Java is found (and native BLAS for Spark's ALS when
# missing); when that cannot be done the Spark tests skip and say why.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(STAMP): pyproject.toml requirements.txt requirements-dev.txt requirements-spark.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,spark]"
	@command -v java >/dev/null 2>&1 || ls /usr/lib/jvm/java-17-openjdk-*/bin/java >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q openjdk-17-jre-headless; } || \
		echo "make install: could not install Java 17 (openjdk-17-jre-headless); the Spark tests will be skipped"
	@ldconfig -p 2>/dev/null | grep -q 'libblas.so.3 ' || $(SUDO) apt-get install -y -q libopenblas0-pthread || \
		echo "make install: no native BLAS; Spark's ALS falls back to Java (slower)"
	touch $(STAMP)

install: $(STAMP)

# The Spark engine alone (pyspark + Java 17), for a venv made before it was part of `make install`.
spark: install

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
