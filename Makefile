# thinclient.vdi: set-up, tests and the built-in lab.
# `make test` and `make lab` install what they need on a fresh Debian 12 machine (run as root).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
BUILD := $(CURDIR)/build
COLLECTIONS := $(BUILD)/collections
# The `ansible` release on PyPI whose wheel carries the community.libvirt we test with.
ANSIBLE_BUNDLE_VERSION := 12.3.0
# The pip versions ansible-test bootstraps: the pinned ansible-core's and the newest's.
ANSIBLE_TEST_PIP_VERSIONS := 24.2 25.2
# The newest ansible-core on PyPI runs under the newest Python that pyenv has (make check-newest).
NEWEST_PYTHON ?= $(lastword $(sort $(wildcard $(HOME)/.pyenv/versions/3.1[3-9].*/bin/python3)))
NEWEST_VENV := .venv-newest
ANSIBLE_TEST_CACHE := $(HOME)/.ansible/test/cache

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_HOME := $(BUILD)/ansible-home
export ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED := true
export XDG_CACHE_HOME := $(BUILD)/cache

PYTEST := $(BIN)/pytest -p no:cacheprovider

.PHONY: help check check-newest test unit cli sanity lint galaxy molecule molecule-boot molecule-guests molecule-image benchmark-boot benchmark-guests benchmark-image benchmark-status benchmark-lab benchmark-desktop deps venv collections collection-link sanity-bootstrap golden benchmark lab lab-down lab-test clean

help:
	@echo "make lab            the built-in lab: a VDI server and PXE-booted clients on this machine"
	@echo "make lab-down       remove everything make lab made"
	@echo "make lab-test       the real boot and isolation tests in the lab (LAB_REUSE=1: on a lab already up)"
	@echo "make check          the fast tier (minutes): unit, CLI/golden, sanity, lint"
	@echo "make check-newest   unit, CLI/golden and sanity under the newest ansible-core (Python from pyenv)"
	@echo "make test           everything CI runs: both fast tiers, galaxy, molecule, the lab"
	@echo "make unit           unit tests of the fleet plugin (seconds)"
	@echo "make cli            ansible-inventory golden output and error messages, ansible-doc"
	@echo "make sanity         ansible-test sanity, offline"
	@echo "make lint           the pre-commit hooks: ruff, yamllint, shellcheck, ansible-lint (production)"
	@echo "make galaxy         build the collection tarball and install it"
	@echo "make molecule       every molecule scenario (real hosts: systemd-nspawn on a bridge)"
	@echo "make molecule-boot  the boot-services scenario only"
	@echo "make molecule-guests the seat-VM scenario only"
	@echo "make molecule-image the client-image scenario only (rootfs, initrd, live-ISO import)"
	@echo "make golden         rewrite the golden ansible-inventory output (review the diff!)"
	@echo "make benchmark      benchmarks/fleet_scale.py (inventory parse time)"
	@echo "make benchmark-boot benchmarks/boot_services.py (converge time, 2 and 200 seats)"
	@echo "make benchmark-lab  benchmarks/boot.py (a PXE client's boot, phase by phase, under TCG; ARGS='--reuse --keep --seats seat5': the RDP seat alone)"
	@echo "make benchmark-desktop benchmarks/desktop.py (the RDP seat's desktop VM: start to xrdp listening, under TCG; ARGS=--reuse)"
	@echo "make benchmark-image benchmarks/image.py (image sizes, build times, root formats booted under TCG; ARGS=--desktop: the desktop image)"
	@echo "make benchmark-guests benchmarks/guests.py (converge time, 2 and 20 seats; memory per guest)"
	@echo "make benchmark-status benchmarks/status.py (seat status of 200 seats; --lab on a running lab)"

# The fast tier first: a mistake there stops the run before molecule and the lab spend half an hour.
# The slow tier lists its slowest steps (the lab's bring-up is the first test's setup): CI's
# budget is spent there.
test: check check-newest
	$(PYTEST) tests/quality -k galaxy
	$(PYTEST) --durations=30 tests/molecule tests/lab

check: deps venv collections sanity-bootstrap
	$(PYTEST) tests/unit tests/cli tests/quality -k 'not galaxy'

check-newest: deps collection-link sanity-bootstrap $(NEWEST_VENV)/.installed
	@test -n "$(NEWEST_PYTHON)" || { echo "no Python 3.13 or newer under ~/.pyenv/versions"; exit 1; }
	PATH=$(CURDIR)/$(NEWEST_VENV)/bin:$$PATH $(CURDIR)/$(NEWEST_VENV)/bin/pytest -p no:cacheprovider tests/unit tests/cli
	PATH=$(CURDIR)/$(NEWEST_VENV)/bin:$$PATH $(CURDIR)/$(NEWEST_VENV)/bin/pytest -p no:cacheprovider tests/quality -k sanity

$(NEWEST_VENV)/.installed: requirements.txt tests/requirements-newest.txt
	[ -x $(NEWEST_VENV)/bin/python ] || $(NEWEST_PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements-newest.txt
	touch $@

unit: venv
	$(PYTEST) tests/unit

cli: venv
	$(PYTEST) tests/cli

sanity: deps venv sanity-bootstrap
	$(PYTEST) tests/quality -k sanity

lint: venv collections
	$(PYTEST) tests/quality -k lint

galaxy: venv
	$(PYTEST) tests/quality -k galaxy

# Molecule scenarios start their own test hosts (tests/tools/testhosts.py) and remove them again.
export TESTHOSTS_SSH_KEY := $(BUILD)/testhosts/ssh/id_ed25519
MOLECULE := $(BIN)/molecule

molecule: deps collections
	$(PYTEST) tests/molecule

molecule-boot: deps collections
	$(MOLECULE) test -s boot_services

molecule-guests: deps collections
	$(MOLECULE) test -s guests

molecule-image: deps collections
	$(MOLECULE) test -s image

golden: venv
	UPDATE_GOLDEN=1 $(PYTEST) tests/cli -k golden
	git diff --stat -- tests/cli/golden

benchmark: venv collection-link
	$(BIN)/python benchmarks/fleet_scale.py

# ARGS: more options for the benchmark (each one's --help lists them).
benchmark-lab: deps venv collections
	$(BIN)/python benchmarks/boot.py $(ARGS)

benchmark-desktop: deps venv collections
	$(BIN)/python benchmarks/desktop.py $(ARGS)

benchmark-image: deps collections
	$(BIN)/python benchmarks/image.py $(ARGS)

benchmark-boot: deps collections
	$(BIN)/python benchmarks/boot_services.py

benchmark-guests: deps collections
	$(BIN)/python benchmarks/guests.py

# LAB=1: also status.yml against the running lab's server (3 and 200 seats).
benchmark-status: venv collections
	$(BIN)/python benchmarks/status.py $(if $(LAB),--lab)

# The built-in lab: a VDI server (container) set up by playbooks/site.yml, and PXE-booted
# virtual clients; see lab/lab.py. `make lab-down` removes everything it made.
lab: deps venv collections
	$(BIN)/python lab/lab.py up

# The boot and isolation tests alone (they bring the lab up and take it down).
lab-test: deps venv collections
	$(PYTEST) tests/lab

lab-down: venv
	$(BIN)/python lab/lab.py down

# Debian packages, installed only when one is missing so that repeated runs stay fast.
deps:
	@missing=$$(grep -v '^#' tests/apt-packages.txt | while read -r pkg; do \
	    [ -z "$$pkg" ] || dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'ok installed' || echo "$$pkg"; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt tests/requirements.txt
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

collections: venv collection-link $(COLLECTIONS)/ansible_collections/community/libvirt/MANIFEST.json

# This checkout, as Ansible finds an installed collection.
collection-link:
	@mkdir -p $(COLLECTIONS)/ansible_collections/thinclient
	@ln -sfn ../../../.. $(COLLECTIONS)/ansible_collections/thinclient/vdi

$(COLLECTIONS)/ansible_collections/community/libvirt/MANIFEST.json:
	PIP=$(BIN)/pip tests/tools/fetch-collection-from-ansible-wheel community.libvirt \
	    $(ANSIBLE_BUNDLE_VERSION) $(COLLECTIONS) $(BUILD)/cache/wheels

# ansible-test fetches its pip bootstrap from a host this machine cannot reach; give it a stand-in.
sanity-bootstrap: venv
	@mkdir -p $(ANSIBLE_TEST_CACHE)
	@for version in $(ANSIBLE_TEST_PIP_VERSIONS); do \
	    script=$(ANSIBLE_TEST_CACHE)/get_pip_$$(echo $$version | tr . _).py; \
	    if [ ! -e "$$script" ] || grep -q 'Stand-in for ansible-test' "$$script"; then \
	        cp tests/sanity/get_pip_standin.py "$$script"; fi; \
	    ls $(ANSIBLE_TEST_CACHE)/pip-$$version-*.whl >/dev/null 2>&1 || \
	        $(BIN)/pip download --quiet --disable-pip-version-check --no-deps -d $(ANSIBLE_TEST_CACHE) pip==$$version; \
	done

clean:
	rm -rf $(BUILD) tests/output
