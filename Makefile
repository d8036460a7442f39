# Strata set-up and entry points. On a fresh Debian/Ubuntu machine:
#   make campaign   creates .venv, installs everything (GPAW included), runs config/config.yaml
#   make test       the same set-up, then the whole test suite (slow tests included)
# Versions are pinned in pyproject.toml only.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
# What GPAW's C extension builds against (libxc, BLAS, MPI) and what the browser test drives.
SYSTEM_PACKAGES := libxc-dev libopenblas-dev openmpi-bin libopenmpi-dev
TEST_SYSTEM_PACKAGES := chromium chromium-driver

.PHONY: campaign test test-fast lint setup system-packages test-system-packages clean

campaign: setup
	$(BIN)/snakemake --profile profiles/local --cores $(CORES)

test: setup test-system-packages
	$(BIN)/pytest

test-fast: setup
	$(BIN)/pytest -m "not slow and not slurm"

lint: setup
	$(BIN)/ruff check strata scripts tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1

setup: system-packages $(VENV)/.installed

# GPAW 26 compiles its C sources as C++ (CC=g++); with OpenMPI present it builds with MPI
# (mpic++). PAW setups and basis sets come from the gpaw-data package.
$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	CC=g++ $(BIN)/pip install --quiet -e '.[test]'
	touch $@

system-packages:
	@$(call apt_install,$(SYSTEM_PACKAGES))

test-system-packages:
	@$(call apt_install,$(TEST_SYSTEM_PACKAGES))

# Install the Debian packages of $(1) that are missing (as root), or say how to.
define apt_install
missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "apt-get install $$missing"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
  else \
    echo "Missing Debian packages: $$missing (sudo apt-get install $$missing)"; exit 1; \
  fi; \
fi
endef

clean:
	rm -rf results .snakemake
