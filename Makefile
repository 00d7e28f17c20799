# Two commands: `make run` trains on the generated data and writes a
# submission; `make test` runs the test suite. Both set up the environment
# from the committed lock first.

PYTHON_VERSION := 3.10
VENV := .venv
PY := $(VENV)/bin/python
LOCK := requirements/lock.txt
STAMP := $(VENV)/.installed

.PHONY: run test lint setup clean

setup: $(STAMP)

# python3 is Python 3.10 here: .python-version names it for pyenv.
$(STAMP): $(LOCK) setup.py
	python3 -m pip install --quiet uv
	python3 -m uv venv --seed --allow-existing --python $(PYTHON_VERSION) $(VENV)
	python3 -m uv pip install --python $(PY) --quiet -r $(LOCK)
	python3 -m uv pip install --python $(PY) --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) local_runner.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

clean:
	rm -rf outputs
