# speechopt: `make demo` runs the main job on the bundled model and data; `make test` installs and tests.
# Both work on a fresh machine with only Python 3.11 and the package registries.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed explicitly, first, as the CPU build: left to itself pip would pick a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
DEMO_OUT ?= demo-out

# Festival, the second speech synthesizer of the ASR corpora, is a Debian package (speechopt/data/festival.py).
FESTIVAL_PACKAGES := festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts

.PHONY: install festival demo test test-gpu clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch-installed: | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	touch $@

$(VENV)/.speechopt-installed: pyproject.toml $(VENV)/.torch-installed
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.speechopt-installed

demo: install
	SPEECHOPT=$(BIN)/speechopt DEMO_OUT=$(DEMO_OUT) bash scripts/demo.sh

# apt-get as root (CI); elsewhere say how, and the Festival tests skip with the reason
festival:
	@command -v text2wave >/dev/null && test -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts || \
	if [ "$$(id -u)" = 0 ]; then \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(FESTIVAL_PACKAGES) >/dev/null; \
	else \
		echo "Festival is not installed; its tests will skip. Install it with: sudo apt-get install $(FESTIVAL_PACKAGES)"; \
	fi

# SPEECHOPT_REQUIRE_FESTIVAL: where Festival was installed, its tests must run, not skip
test: install festival
	SPEECHOPT_REQUIRE_FESTIVAL=$$(command -v text2wave >/dev/null && echo 1) $(BIN)/python -m pytest -q

# The GPU lane: tests marked gpu/tensorrt run (and skip with a reason where CUDA or TensorRT is absent).
test-gpu: install
	$(BIN)/python -m pytest -q -m "gpu or tensorrt" -rs

clean:
	rm -rf $(DEMO_OUT) .pytest_cache
