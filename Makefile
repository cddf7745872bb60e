# Two commands set everything up on a fresh machine (see README):
#   make demo   offline demo: fake catalogues -> collect -> build-dataset -> train-and-evaluate
#   make test   the test suite (what CI runs; make test-fast: the unit tier)
VENV ?= .venv
PY := $(VENV)/bin/python
# torch/torchvision are pinned to the builds this workplace serves from local disk; pip would
# otherwise pick the newest CUDA wheels (several GB).
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
# ray: the engine tests start a real Ray head on 127.0.0.1 (tests/ray_support.py)
# formats, storage: Parquet exports and s3:// stores (their tests run against moto on loopback)
EXTRAS ?= dev,app,catboost,bench,analysis,ocr,ray,formats,storage
FACES_PKG ?= facenet-pytorch==2.6.0

.PHONY: install demo test test-fast lint typecheck docs bench

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -c constraints.txt -e ".[$(EXTRAS)]"
	# MTCNN faces (sleeve attributes): its wheel pins torch<2.3 and numpy<2, which would replace
	# the pinned torch; it runs fine on the current ones, so no deps (requests, tqdm are ours).
	$(PY) -m pip install -q --no-deps $(FACES_PKG)
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/sleeve demo

test: install
	$(PY) -m pytest

# the inner loop: everything not marked slow (tests/conftest.py), about two minutes here
test-fast: install
	$(PY) -m pytest -m "not slow" -q

# the manual: figures filled from benchmarks/results/*.json must match, and the site builds
docs: install
	$(PY) docs/figures.py --check
	$(VENV)/bin/mkdocs build --strict -q

# mypy over every product package ([tool.mypy] in pyproject.toml); CI runs it before the tests
typecheck: install
	$(PY) -m mypy

lint: typecheck
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: install
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done
