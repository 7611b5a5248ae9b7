# One entry point per job. Every target creates or reuses .venv itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.installed
FRAMES ?=
FUZZ_CASES ?= 10000
FUZZ_LANES ?= 3

.PHONY: install lint test fuzz test-lambda test-deploy check-template serve bench loadtest build clean

$(STAMP): pyproject.toml functions/thumbnails/requirements.txt layers/scientific/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -r layers/scientific/requirements.txt -r functions/thumbnails/requirements.txt -e '.[dev]'
	@touch $@

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint check-template
	$(VENV)/bin/pytest

# The generative contract test at length (tests/contract): FUZZ_CASES drawn cases through the
# real handlers, in FUZZ_LANES worker processes at a time; prints the counts of each promise
# broken and the smallest failing cases, minimised. FUZZ_SEED=N draws a different set.
fuzz: $(STAMP)
	$(PY) -m tests.contract.fuzz --cases $(FUZZ_CASES) --lanes $(FUZZ_LANES) --shrink \
		$(if $(FUZZ_SEED),--seed $(FUZZ_SEED))

# The built arm64 functions under `sam local` (Docker, qemu; installs them as root if absent).
test-lambda: $(STAMP)
	@bash scripts/test-lambda.sh

# The built stack created and deleted by LocalStack's CloudFormation engine (its own venv,
# .venv-localstack; no Docker): scripts/test-deploy.sh.
test-deploy: $(STAMP)
	@bash scripts/test-deploy.sh

check-template: $(STAMP)
	@bash scripts/check-template.sh

serve: $(STAMP)
	$(PY) -m thumbnails serve $(if $(FRAMES),--frames "$(FRAMES)")

bench: $(STAMP)
	@bash bench/run.sh

loadtest: $(STAMP)
	$(PY) bench/loadtest.py

build: $(STAMP)
	@bash scripts/build.sh

clean:
	rm -rf $(VENV) .venv-localstack .aws-sam .pytest_cache .ruff_cache bench/.cache bench/out samples
