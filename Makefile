# losskit: common tasks. `make run` and `make test` work on a fresh machine:
# they install missing Debian packages, create .venv, build, then run.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
VENV ?= .venv
PYTHON ?= python3
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

VENV_PY := $(VENV)/bin/python
LOSSKIT := $(BUILD)/tools/losskit/losskit

.PHONY: all build deps venv package test test-c test-sanitize test-python run bench docs install clean

all: build

deps:
	@scripts/ensure-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The test and benchmark environment, rebuilt when a requirements file changes.
$(VENV)/.installed: requirements-dev.txt requirements-nodeps.txt | deps
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install -q --upgrade pip
	$(VENV_PY) -m pip install -q -r requirements-dev.txt
	$(VENV_PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	@touch $@

venv: $(VENV)/.installed

# The Python package, built and installed the way users get it (pip install .).
package: venv build
	$(VENV_PY) -m pip install -q --no-build-isolation --no-deps .

test-c: build
	ctest --test-dir $(BUILD) --output-on-failure

# The C suite again under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLOSSKIT_SANITIZE=ON \
		-DLOSSKIT_BUILD_BENCH=OFF > /dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure

test-python: package
	cd tests/python && ../../$(VENV_PY) -m pytest -q -p no:cacheprovider

test: test-c test-sanitize test-python

# The main job (grows with the command-line tool's issue): the catalogue, a
# worked example in C and in Python, the loss-landscape explorer on its
# default (out/explore/*.svg, *.csv and the verdict table; docs/explore.md),
# and `losskit eval` on a generated sample volume (two objects, NIfTI with
# its voxel spacing) with every metric.
run: package
	$(LOSSKIT) list
	@echo
	$(BUILD)/examples/quickstart
	@echo
	$(VENV_PY) examples/quickstart.py
	@echo
	$(LOSSKIT) explore --out out/explore
	$(VENV_PY) scripts/make_sample.py $(BUILD)/sample
	$(LOSSKIT) eval --pred $(BUILD)/sample/pred.nii.gz --target $(BUILD)/sample/target.nii.gz \
		--loss dice --loss focal:gamma=2 --loss boundary --metrics all

bench: package
	@scripts/ensure-deps.sh bench
	@cmake -S . -B $(BUILD) > /dev/null && cmake --build $(BUILD) -j $(JOBS) --target bench_vecmath
	$(BUILD)/bench/bench_vecmath
	$(VENV_PY) bench/bench_overhead.py
	$(VENV_PY) bench/bench_pixel.py
	$(VENV_PY) bench/bench_region.py
	$(VENV_PY) bench/bench_compound.py
	$(VENV_PY) bench/bench_distance.py
	$(VENV_PY) bench/bench_boundary.py
	$(VENV_PY) bench/bench_boundary_erosion.py
	$(VENV_PY) bench/bench_conditional_boundary.py
	$(VENV_PY) bench/bench_metrics.py
	$(VENV_PY) bench/bench_gan_detection.py
	$(VENV_PY) bench/bench_contrastive.py
	$(VENV_PY) bench/bench_inverse_form.py
	$(LOSSKIT) bench

docs: build
	$(LOSSKIT) list --markdown > docs/losses.md

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
