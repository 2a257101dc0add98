# trialbook — the two commands a newcomer needs:
#   make demo   set everything up and run an experiment on a real dataset
#   make test   run every test
# Each part of the project adds its own targets in mk/*.mk.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
BIN := bin/trialbook
GO ?= go

# Targets that mk/*.mk fragments add to `make test` and `make setup`.
TEST_EXTRA :=
SETUP_EXTRA :=

.PHONY: all setup venv build demo test test-go lint
all: build

include $(wildcard mk/*.mk)

## setup: the Python environment in .venv (pinned, from PyPI) and the binary
setup: venv build $(SETUP_EXTRA)

venv: $(VENV)/.installed

$(VENV)/.installed: requirements/kernel.txt requirements/test.txt requirements/lab.txt requirements/lock.txt
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -c requirements/lock.txt -r requirements/kernel.txt -r requirements/test.txt -r requirements/lab.txt
	# The wheel's kernelspec says "python"; write one that names this
	# environment's interpreter so no activation is needed.
	$(VPY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (trialbook)" >/dev/null
	touch $@

build:
	$(GO) build -o $(BIN) ./cmd/trialbook

## test: everything CI runs
test: venv lint sandbox-deps test-go $(TEST_EXTRA)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 -timeout 30m ./...
