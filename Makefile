# Quartet: `make run` serves the demo, `make test` runs the whole suite.
# Needs only Python 3.11; everything else is installed into .venv from requirements.txt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# DEBUG is on only here (the local demo); production settings never default to it.
# Web, worker and beat run as separate processes (Procfile, through honcho): a dead worker no
# longer takes beat with it, and when any of them dies the others are stopped and this says so.
run: venv
	mkdir -p var
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py collectstatic --noinput -v0
	DEBUG=1 $(BIN)/python manage.py demo_setup
	@echo "Quartet is serving on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	@PATH="$(CURDIR)/$(BIN):$$PATH" DEBUG=1 HOST=$(HOST) WEB_PORT=$(PORT) $(BIN)/honcho start -f Procfile; \
	status=$$?; \
	if [ $$status -ne 0 ] && [ $$status -ne 130 ]; then \
	  echo "" >&2; \
	  echo "!!! Quartet stopped: a process exited (exit $$status); its name is in the lines above." >&2; \
	  echo "!!! web, worker and beat were all stopped. Fix the cause and run 'make run' again." >&2; \
	fi; \
	exit $$status

test: venv
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf var .pytest_cache
