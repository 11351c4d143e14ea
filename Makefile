# `make demo` and `make test` work on a fresh machine from a clean clone: they create the
# virtual environment on first use.  Torch comes from pip (the index, or pip's own cache offline;
# README "Install by hand" gives the CPU-only wheels' index).
VENV ?= .venv
PY := $(VENV)/bin/python
AIGIF := $(VENV)/bin/aigif
OUT ?= out

.PHONY: setup demo test bench clean vectors fuzz

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[generate,codecs,metrics,dev]"
	touch $@

# The main job: pack a prompt with the embedded default model (shapes-sd, trained by
# tools/train_default_model.py; its vocabulary is in the README), inspect it, unpack it twice.
DEMO_PROMPT ?= a red circle on a blue background
demo: setup
	mkdir -p $(OUT)
	$(AIGIF) pack --prompt "$(DEMO_PROMPT)" --seed 7 -o $(OUT)/demo.aigif
	$(AIGIF) info $(OUT)/demo.aigif
	$(AIGIF) unpack $(OUT)/demo.aigif -o $(OUT)/demo-1.png
	$(AIGIF) unpack $(OUT)/demo.aigif -o $(OUT)/demo-2.png
	cmp $(OUT)/demo-1.png $(OUT)/demo-2.png && echo "demo: the two regenerations are byte-identical"
	@echo "demo: the picture of \"$(DEMO_PROMPT)\" is $(OUT)/demo-1.png"

test: setup
	$(PY) -m pytest

# The fuzz harness (fuzz/) for as long as asked, then the Hypothesis property tests with the
# random-exploration profile.  Findings are minimised into fuzz/findings/ (not committed).
# `make test` runs a fixed-seed slice of the same harness (tests/fuzz/test_fuzz_slice.py).
FUZZ_TIME ?= 600
FUZZ_SEED ?= 1
FUZZ_TARGETS ?= decoder,importers
# coverage-guided (atheris) where it is installed, else the plain mutation engine
FUZZ_ENGINE ?= $(shell $(PY) -c "import atheris" >/dev/null 2>&1 && echo atheris || echo mutate)
fuzz: setup
	status=0; \
	$(PY) -m fuzz --engine $(FUZZ_ENGINE) --time $(FUZZ_TIME) --seed $(FUZZ_SEED) --targets $(FUZZ_TARGETS) \
		--json fuzz/findings/summary.json $(FUZZ_ARGS) || status=1; \
	HYPOTHESIS_PROFILE=explore $(PY) -m pytest tests/importers/test_importers.py tests/test_format_properties.py || status=1; \
	exit $$status

vectors: setup
	$(PY) spec/make_vectors.py

clean:
	rm -rf $(OUT) .pytest_cache
